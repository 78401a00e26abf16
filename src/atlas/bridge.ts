import { isIPv4 } from 'node:net';
import { isEnded } from '../../machines/lease.js';
import type { SessionSettings } from '../../machines/atlas-session.js';
import type { Clock } from '../clock.js';
import type { LeaseDirectory } from '../leases/directory.js';
import type { Logger } from '../log.js';
import type { SendBytes } from '../net/udp.js';
import { createRateLimitedLog } from '../rate-limited-log.js';
import type { Controllers } from '../routing/controllers.js';
import type { AtlasProcessor, AtlasSettings } from '../settings/index.js';
import { createAtlasCounters, type AtlasCounters } from './counters.js';
import { MeterSocket, type MeterSocketStatus } from './meter-socket.js';
import { AtlasSession, type SessionState, type Warn } from './session.js';
import { plugin, SubscriptionTable, type DeviceSubscription, type Subscription } from './subscriptions.js';

export interface AtlasBridgeOptions {
  settings: AtlasSettings;
  /** Plugins are reached through their verified leases (by tempID, or by trackID across leases). */
  leases: LeaseDirectory;
  /** Every controller hears every update. */
  controllers: Controllers;
  send: SendBytes;
  clock: Clock;
  logger: Logger;
  /** Draws in [0, 1) for reconnect jitter. */
  random?: () => number;
}

export type SubscriptionStatus = DeviceSubscription & {
  param: string;
  consumers: number;
  /** Values delivered in the last whole second. */
  updatesPerSecond: number;
};

export interface ProcessorStatus extends AtlasProcessor {
  state: SessionState;
  /** TCP connections made so far. */
  connects: number;
  /** Why the link last went down. */
  lastDown: string | undefined;
  subscriptions: SubscriptionStatus[];
}

export interface AtlasBridgeStatus {
  meterSocket: MeterSocketStatus;
  processors: ProcessorStatus[];
  counters: AtlasCounters;
}

/** The bridge in counts, as `/coordinator/status` carries it: its lists are paged (PROTOCOL §10). */
export interface AtlasSummary {
  meterSocket: MeterSocketStatus;
  processors: number;
  connected: number;
  subscriptions: number;
  counters: AtlasCounters;
}

/** A processor as `/coordinator/atlas/processors` lists it: its subscriptions counted. */
export type ProcessorRow = Omit<ProcessorStatus, 'subscriptions'> & { subscriptions: number };

/** A subscription as `/coordinator/atlas/meters` lists it. */
export type MeterRow = SubscriptionStatus & { processor: string };

const WARN_INTERVAL_MS = 10_000;
/** Most parameters in one `sub` or `unsub`, and the wait between two of them: the device is never flooded. */
const BATCH_SIZE = 16;
const BATCH_PACE_MS = 20;
const JITTER_RATIO = 0.2;
/** Processors at once, meters one consumer may want, parameters one processor is asked for. [PROTOCOL §15] */
export const MAX_PROCESSORS = 32;
export const MAX_METERS_PER_CONSUMER = 64;
export const MAX_PARAMS_PER_PROCESSOR = 256;

interface Processor {
  config: AtlasProcessor;
  session: AtlasSession;
}

/**
 * The Atlas meter bridge [PROTOCOL §15], one table of processors for the host: a TCP session to
 * each (connect, subscribe, keep-alive, reconnect), one UDP socket for the meters of all of them,
 * and one device subscription per (processor, param), shared by every consumer that wants it. A
 * meter goes socket, parse, subscription table, consumers; the sessions only keep the links. The
 * meter socket is bound when the first processor arrives, so a coordinator without Atlas never
 * holds port 3131; a taken port is reported in the status and retried.
 */
export class AtlasBridge {
  private readonly processors = new Map<string, Processor>();
  private readonly subscriptions: SubscriptionTable;
  private readonly counters = createAtlasCounters();
  private readonly log;
  private readonly warn: Warn;
  private readonly note: Warn;
  private readonly session: SessionSettings;
  private meters: Promise<MeterSocket> | undefined;
  /** The meter socket once open, for the synchronous status. */
  private opened: MeterSocket | undefined;
  private closed = false;

  constructor(private readonly options: AtlasBridgeOptions) {
    const { settings, leases, controllers, send, clock, logger } = options;
    this.log = createRateLimitedLog(logger, WARN_INTERVAL_MS, clock);
    this.warn = (kind, details, message) => this.log(kind, 'warn', details, message);
    this.note = (kind, details, message) => this.log(kind, 'info', details, message);
    this.session = {
      connectTimeoutMs: settings.connectTimeoutMs,
      keepaliveMs: settings.keepaliveMs,
      keepaliveTimeoutMs: settings.keepaliveTimeoutMs,
      backoffInitialMs: settings.reconnectMs,
      backoffMaxMs: settings.reconnectMaxMs,
      jitterRatio: JITTER_RATIO,
      batchSize: BATCH_SIZE,
      batchPaceMs: BATCH_PACE_MS,
      stableMs: settings.linkStableMs,
    };
    this.subscriptions = new SubscriptionTable({ leases, controllers, send, clock, counters: this.counters, warn: this.warn });
    leases.on('change', (lease) => {
      // A lease's own subscriptions end with it; a trackID's go on with whichever lease holds the track next.
      if (isEnded(lease.state)) this.dropConsumer(plugin(lease.tempId));
    });
  }

  /** Connects the processors and standing mappings of the settings. */
  async start(): Promise<void> {
    const { processors, meters } = this.options.settings;
    for (const processor of processors) await this.addProcessor(processor);
    for (const { processor, param, to } of meters) {
      const refused = this.subscribe(plugin(to), processor, param);
      if (refused !== undefined) this.options.logger.warn({ processor, param, to }, `atlas: standing mapping refused: ${refused}`);
    }
  }

  /** Throws on a duplicate id or host, a host that is not an IPv4 address, or a bad port. */
  async addProcessor(config: AtlasProcessor): Promise<void> {
    const meters = await this.openMeters();
    const { id, host, tcpPort } = config;
    if (this.processors.has(id)) throw new Error(`Atlas processor "${id}" already exists`);
    if (this.processors.size >= MAX_PROCESSORS) throw new Error(`Atlas processor "${id}": there are ${MAX_PROCESSORS} processors already, the most at once`);
    if (!isIPv4(host)) throw new Error(`Atlas processor "${id}": host "${host}" is not an IPv4 address`);
    if (!Number.isInteger(tcpPort) || tcpPort < 1 || tcpPort > 65_535) throw new Error(`Atlas processor "${id}": bad TCP port ${tcpPort}`);
    const clash = [...this.processors.values()].find((p) => p.config.host === host);
    if (clash) throw new Error(`Atlas processor "${id}": host ${host} is already processor "${clash.config.id}"`);
    const { clock, logger, random = Math.random } = this.options;
    const session = new AtlasSession({
      ...{ id, host, tcpPort, settings: this.session, jitterSeed: random(), clock, logger, warn: this.warn, note: this.note, counters: this.counters },
      maxUnansweredBytes: this.options.settings.maxUnansweredBytes,
      device: this.subscriptions.deviceOf(id),
      onUpdate: (param, value) => this.subscriptions.deliver(id, param, value),
    });
    this.processors.set(id, { config: { id, host, tcpPort }, session });
    meters.route(host, id);
  }

  /** False when there is no such processor. */
  async removeProcessor(id: string): Promise<boolean> {
    const processor = this.processors.get(id);
    if (!processor) return false;
    this.processors.delete(id);
    this.opened?.unroute(processor.config.host);
    this.subscriptions.dropProcessor(id);
    await processor.session.stop();
    return true;
  }

  has(processorId: string): boolean {
    return this.processors.has(processorId);
  }

  /**
   * The first consumer of a (processor, param) subscribes on the device; more consumers share it.
   * Returns why not, when a cap says no: a flood must not grow the tables or the device's list.
   */
  subscribe(consumer: string, processorId: string, param: string): string | undefined {
    const { session } = this.processorOf(processorId);
    const { subscriptions } = this;
    if (subscriptions.has(consumer, processorId, param)) return undefined;
    if (subscriptions.countOfConsumer(consumer) >= MAX_METERS_PER_CONSUMER) return `a consumer may want ${MAX_METERS_PER_CONSUMER} meters at most`;
    if (!subscriptions.get(processorId, param) && subscriptions.countOf(processorId) >= MAX_PARAMS_PER_PROCESSOR) {
      return `processor "${processorId}" is asked for ${MAX_PARAMS_PER_PROCESSOR} parameters already, the most it is asked for`;
    }
    if (subscriptions.add(consumer, processorId, param)) session.want(param);
    return undefined;
  }

  /** The last consumer leaving unsubscribes on the device. */
  unsubscribe(consumer: string, processorId: string, param: string): void {
    const { session } = this.processorOf(processorId);
    if (this.subscriptions.remove(consumer, processorId, param)) session.unwant(param);
  }

  /** A consumer is gone (its lease ended, or the controller left): all its subscriptions go. */
  dropConsumer(consumer: string): void {
    for (const { processorId, param } of this.subscriptions.dropConsumer(consumer)) this.processors.get(processorId)?.session.unwant(param);
  }

  /** The bridge in counts; null before the first processor. */
  summary(): AtlasSummary | null {
    if (!this.opened) return null;
    const processors = [...this.processors.values()];
    return {
      meterSocket: this.opened.status(),
      processors: processors.length,
      connected: processors.filter(({ session }) => session.status().state === 'connected').length,
      subscriptions: processors.reduce((sum, { config }) => sum + this.subscriptions.countOf(config.id), 0),
      counters: { ...this.counters },
    };
  }

  /** Every processor, by id. */
  processorList(): ProcessorRow[] {
    return [...this.processors.values()]
      .map(({ config, session }) => ({ ...config, ...session.status(), subscriptions: this.subscriptions.countOf(config.id) }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Every subscription, by processor, then param. */
  meterList(): MeterRow[] {
    const now = this.options.clock.now();
    const ids = [...this.processors.keys()].sort();
    return ids.flatMap((id) =>
      this.subscriptions
        .of(id)
        .map((subscription) => ({ processor: id, ...this.statusOf(subscription, now) }))
        .sort((a, b) => (a.param < b.param ? -1 : a.param > b.param ? 1 : 0)),
    );
  }

  /** The last reading of a subscribed parameter sent on; null before the first, or when nobody subscribes. */
  lastReading(processorId: string, param: string): number | null {
    return this.subscriptions.get(processorId, param)?.last ?? null;
  }

  /** Processors, their state, subscriptions and rates; null before the first processor. */
  status(): AtlasBridgeStatus | null {
    if (!this.opened) return null;
    const now = this.options.clock.now();
    return {
      meterSocket: this.opened.status(),
      processors: [...this.processors.values()].map(({ config, session }) => ({
        ...config,
        ...session.status(),
        subscriptions: this.subscriptions.of(config.id).map((subscription) => this.statusOf(subscription, now)),
      })),
      counters: { ...this.counters },
    };
  }

  private statusOf(subscription: Subscription, now: number): SubscriptionStatus {
    return { param: subscription.param, consumers: subscription.consumers.size, updatesPerSecond: subscription.rate.perSecond(now), ...subscription.device };
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.processors.values()];
    this.processors.clear();
    await Promise.all([...all.map(({ session }) => session.stop()), this.meters?.then((meters) => meters.close())]);
    this.log.close();
  }

  private openMeters(): Promise<MeterSocket> {
    if (this.closed) return Promise.reject(new Error('the coordinator is stopping'));
    const { settings, clock, logger } = this.options;
    this.meters ??= MeterSocket.open({
      host: settings.meterHost,
      port: settings.meterPort,
      rebindMs: settings.meterRebindMs,
      clock,
      logger,
      warn: this.warn,
      counters: this.counters,
      sink: {
        deliver: (processorId, param, value) => this.subscriptions.deliver(processorId, param, value),
        keepAliveAnswered: (processorId) => this.processors.get(processorId)?.session.keepAliveAnswered(),
      },
    }).then((meters) => (this.opened = meters));
    return this.meters;
  }

  private processorOf(id: string): Processor {
    const processor = this.processors.get(id);
    if (!processor) throw new Error(`no Atlas processor "${id}"`);
    return processor;
  }
}
