import { isIPv4 } from 'node:net';
import type { SessionSettings } from '../../machines/atlas-session.js';
import { realClock, type Clock } from '../clock.js';
import { silentLogger, type Logger } from '../log.js';
import { createRateLimitedLog } from '../rate-limited-log.js';
import { createAtlasCounters, type AtlasCounters } from './counters.js';
import { MeterSocket, type MeterSocketStatus } from './meter-socket.js';
import { AtlasSession, type DeviceSubscription, type SessionState, type Warn } from './session.js';
import { SubscriptionTable } from './subscriptions.js';

export interface AtlasBridgeOptions {
  /** Address the meter socket binds (default 0.0.0.0: devices send to whichever address they were reached at). */
  meterHost?: string;
  /** UDP port devices send meters to (default 3131, the device's). */
  meterPort?: number;
  /** Wait after a keep-alive answer before the next keep-alive (default 10 s; the device wants one every 5 min). */
  keepaliveMs?: number;
  /** Wait for a keep-alive answer before the link counts as dead (default 5 s). */
  keepaliveTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Reconnect waits: the first, doubling up to the maximum (defaults 1 s and 60 s), less up to jitterRatio of each. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  jitterRatio?: number;
  /** Most parameters per `sub` or `unsub` (default 16), and the wait between two of them (default 20 ms). */
  batchSize?: number;
  batchPaceMs?: number;
  /** Wait between attempts to bind a meter port someone else holds (default 10 s). */
  meterRebindMs?: number;
  logger?: Logger;
  /** A meter value for a subscribed param (dB for fmt val), with who wants it. Called on the receive path: keep it quick. */
  onMeter(processorId: string, param: string, value: number, consumers: ReadonlySet<string>): void;
  clock?: Clock;
  /** Draws in [0, 1) for reconnect jitter. */
  random?: () => number;
}

export interface ProcessorConfig {
  id: string;
  /** The device's IPv4 address: meter datagrams are told apart by their source address. */
  host: string;
  /** Default 5321, the device's. */
  tcpPort?: number;
}

export type SubscriptionStatus = DeviceSubscription & {
  param: string;
  consumers: number;
  /** Values delivered in the last whole second. */
  updatesPerSecond: number;
};

export interface ProcessorStatus {
  id: string;
  host: string;
  tcpPort: number;
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

export interface AtlasBridge {
  /** Throws on a duplicate id or host, or a host that is not an IPv4 address. */
  addProcessor(config: ProcessorConfig): void;
  removeProcessor(id: string): Promise<void>;
  /** The first consumer of a (processor, param) subscribes on the device; more consumers share it. */
  subscribe(consumer: string, processorId: string, param: string): void;
  /** The last consumer leaving unsubscribes on the device. */
  unsubscribe(consumer: string, processorId: string, param: string): void;
  /** A consumer is gone (its lease ended): all its subscriptions go. */
  dropConsumer(consumer: string): void;
  status(): AtlasBridgeStatus;
  close(): Promise<void>;
}

export const ATLAS_TCP_PORT = 5321;
export const ATLAS_METER_PORT = 3131;


const WARN_INTERVAL_MS = 10_000;

interface Processor {
  config: Required<ProcessorConfig>;
  session: AtlasSession;
}

/**
 * Atlas meters for the whole host: one TCP session per processor, one UDP socket for all of them, and one device
 * subscription per (processor, param) shared by every consumer that wants it. Resolves once the meter port is
 * bound or found taken; a taken port is reported in the status and retried, and everything else keeps running.
 */
export async function createAtlasBridge(options: AtlasBridgeOptions): Promise<AtlasBridge> {
  const { logger = silentLogger, clock = realClock, random = Math.random, onMeter } = options;
  const settings: SessionSettings = {
    connectTimeoutMs: options.connectTimeoutMs ?? 5000,
    keepaliveMs: options.keepaliveMs ?? 10_000,
    keepaliveTimeoutMs: options.keepaliveTimeoutMs ?? 5000,
    backoffInitialMs: options.backoffInitialMs ?? 1000,
    backoffMaxMs: options.backoffMaxMs ?? 60_000,
    jitterRatio: options.jitterRatio ?? 0.2,
    batchSize: options.batchSize ?? 16,
    batchPaceMs: options.batchPaceMs ?? 20,
  };
  const counters = createAtlasCounters();
  const rateLimitedLog = createRateLimitedLog(logger, WARN_INTERVAL_MS, clock);
  const warn: Warn = (kind, details, message) => rateLimitedLog(kind, 'warn', details, message);
  const subscriptions = new SubscriptionTable();
  const processors = new Map<string, Processor>();
  const meters = await MeterSocket.open({
    host: options.meterHost ?? '0.0.0.0',
    port: options.meterPort ?? ATLAS_METER_PORT,
    rebindMs: options.meterRebindMs ?? 10_000,
    clock,
    logger,
    warn,
    counters,
  });

  const deliver = (processorId: string, param: string, value: number | string): void => {
    const subscription = subscriptions.get(processorId, param);
    // Every subscription asks for fmt val: anything else is not a meter reading.
    if (!subscription || typeof value !== 'number') {
      counters.unwantedUpdates++;
      return;
    }
    subscription.rate.tick(clock.now());
    counters.updates++;
    try {
      onMeter(processorId, param, value, subscription.consumers);
    } catch (err) {
      // A consumer's bug must not take the receive path down with it.
      warn('onMeter', { err, processor: processorId, param }, 'atlas: onMeter threw');
    }
  };

  const processorOf = (id: string): Processor => {
    const processor = processors.get(id);
    if (!processor) throw new Error(`no Atlas processor "${id}"`);
    return processor;
  };

  return {
    addProcessor({ id, host, tcpPort = ATLAS_TCP_PORT }) {
      if (processors.has(id)) throw new Error(`Atlas processor "${id}" already exists`);
      if (!isIPv4(host)) throw new Error(`Atlas processor "${id}": host "${host}" is not an IPv4 address`);
      if (!Number.isInteger(tcpPort) || tcpPort < 1 || tcpPort > 65_535) throw new Error(`Atlas processor "${id}": bad TCP port ${tcpPort}`);
      const clash = [...processors.values()].find((p) => p.config.host === host);
      if (clash) throw new Error(`Atlas processor "${id}": host ${host} is already processor "${clash.config.id}"`);
      const session = new AtlasSession({
        id,
        host,
        tcpPort,
        settings,
        jitterSeed: random(),
        clock,
        logger,
        warn,
        counters,
        onValue: (param, value) => deliver(id, param, value),
      });
      processors.set(id, { config: { id, host, tcpPort }, session });
      meters.route(host, (message) => session.receive(message));
    },

    async removeProcessor(id) {
      const { config, session } = processorOf(id);
      processors.delete(id);
      meters.unroute(config.host);
      subscriptions.dropProcessor(id);
      await session.stop();
    },

    subscribe(consumer, processorId, param) {
      const { session } = processorOf(processorId);
      if (subscriptions.add(consumer, processorId, param)) session.want(param);
    },

    unsubscribe(consumer, processorId, param) {
      const { session } = processorOf(processorId);
      if (subscriptions.remove(consumer, processorId, param)) session.unwant(param);
    },

    dropConsumer(consumer) {
      for (const { processorId, param } of subscriptions.dropConsumer(consumer)) processors.get(processorId)?.session.unwant(param);
    },

    status() {
      const now = clock.now();
      return {
        meterSocket: meters.status(),
        processors: [...processors.values()].map(({ config, session }) => ({
          ...config,
          ...session.status(),
          subscriptions: subscriptions.of(config.id).map((subscription) => ({
            param: subscription.param,
            consumers: subscription.consumers.size,
            updatesPerSecond: subscription.rate.perSecond(now),
            ...(session.subscription(subscription.param) ?? { state: 'pending' as const }),
          })),
        })),
        counters: { ...counters },
      };
    },

    async close() {
      const all = [...processors.values()];
      processors.clear();
      for (const { config } of all) meters.unroute(config.host);
      await Promise.all([...all.map(({ session }) => session.stop()), meters.close()]);
      rateLimitedLog.close();
    },
  };
}
