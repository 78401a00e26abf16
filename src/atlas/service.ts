import { isEnded } from '../../machines/lease.js';
import type { Clock } from '../clock.js';
import type { LeaseDirectory } from '../leases/directory.js';
import type { Logger } from '../log.js';
import type { SendBytes } from '../net/udp.js';
import type { Controllers } from '../routing/controllers.js';
import type { AtlasSettings } from '../settings/index.js';
import { createAtlasBridge, type AtlasBridge, type AtlasBridgeStatus, type ProcessorConfig } from './bridge.js';
import { meterMessage } from './meter-template.js';

export interface AtlasServiceOptions {
  settings: AtlasSettings;
  leases: LeaseDirectory;
  controllers: Controllers;
  send: SendBytes;
  clock: Clock;
  logger: Logger;
  /** Overrides for tests: shorter reconnect and keep-alive timings. */
  bridge?: Partial<Parameters<typeof createAtlasBridge>[0]>;
}

/** A consumer is a plugin, by tempID or trackID (resolved at each update), or a controller. */
const PLUGIN = 'plugin:';
const CONTROLLER = 'controller:';

/**
 * The Atlas bridge inside the coordinator [PROTOCOL §15]: processors from the config file and
 * from `/coordinator/atlas/add`, meters to the plugins that subscribed (by tempID, or by trackID
 * following the track across leases) and to every controller. The meter socket is bound when the
 * first processor arrives, so a coordinator without Atlas never holds port 3131.
 */
export class AtlasService {
  private bridge: Promise<AtlasBridge> | undefined;
  /** The bridge once open, for the synchronous status. */
  private opened: AtlasBridge | undefined;
  private readonly processors = new Set<string>();
  private closed = false;

  constructor(private readonly options: AtlasServiceOptions) {
    options.leases.on('change', (lease) => {
      // A lease's own subscriptions end with it; a trackID's go on with whichever lease holds the track next.
      if (isEnded(lease.state)) void this.dropConsumer(plugin(lease.tempId));
    });
  }

  /** Connects the processors and standing mappings of the config file. */
  async start(): Promise<void> {
    const { processors, meters } = this.options.settings;
    for (const processor of processors) await this.addProcessor(processor);
    for (const { processor, param, to } of meters) await this.subscribe(plugin(to), processor, param);
  }

  /** Throws on a duplicate id or host, or a host that is not an IPv4 address. */
  async addProcessor(config: ProcessorConfig): Promise<void> {
    (await this.open()).addProcessor(config);
    this.processors.add(config.id);
  }

  /** False when there is no such processor. */
  async removeProcessor(id: string): Promise<boolean> {
    if (!this.processors.delete(id)) return false;
    await (await this.open()).removeProcessor(id);
    return true;
  }

  has(processorId: string): boolean {
    return this.processors.has(processorId);
  }

  /** The processor must exist (`has`). */
  async subscribe(consumer: string, processorId: string, param: string): Promise<void> {
    (await this.open()).subscribe(consumer, processorId, param);
  }

  async unsubscribe(consumer: string, processorId: string, param: string): Promise<void> {
    (await this.open()).unsubscribe(consumer, processorId, param);
  }

  async dropConsumer(consumer: string): Promise<void> {
    if (this.bridge) (await this.bridge).dropConsumer(consumer);
  }

  /** Processors, their state, subscriptions and rates; null before the first processor. */
  status(): AtlasBridgeStatus | null {
    return this.opened?.status() ?? null;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.bridge) await (await this.bridge).close();
  }

  private open(): Promise<AtlasBridge> {
    if (this.closed) return Promise.reject(new Error('the coordinator is stopping'));
    const { settings, clock, logger } = this.options;
    this.bridge ??= createAtlasBridge({
      meterHost: settings.meterHost,
      meterPort: settings.meterPort,
      keepaliveMs: settings.keepaliveMs,
      clock,
      logger,
      onMeter: (processorId, param, value, consumers) => this.deliver(processorId, param, value, consumers),
      ...this.options.bridge,
    }).then((bridge) => (this.opened = bridge));
    return this.bridge;
  }

  /** One update: the same bytes to each consumer's verified port, once per plugin, and to every controller. */
  private deliver(processorId: string, param: string, value: number, consumers: ReadonlySet<string>): void {
    const { leases, controllers, send } = this.options;
    const bytes = meterMessage(processorId, param, value);
    let sentTo: string | undefined;
    let others: Set<string> | undefined;
    for (const consumer of consumers) {
      if (!consumer.startsWith(PLUGIN)) continue;
      const lease = leases.resolve(consumer.slice(PLUGIN.length));
      if (!lease) continue;
      // A plugin subscribed by both its tempID and its trackID still gets each update once.
      if (sentTo === lease.tempId || others?.has(lease.tempId)) continue;
      if (sentTo === undefined) sentTo = lease.tempId;
      else (others ??= new Set()).add(lease.tempId);
      send(bytes, lease.host, lease.port);
    }
    controllers.forward(bytes);
  }
}

export const plugin = (who: string) => `${PLUGIN}${who}`;
export const controller = (key: string) => `${CONTROLLER}${key}`;
