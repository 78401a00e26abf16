import type { Clock } from '../clock.js';
import type { LeaseDirectory } from '../leases/directory.js';
import type { SendBytes } from '../net/udp.js';
import type { Controllers } from '../routing/controllers.js';
import type { AtlasCounters } from './counters.js';
import { meterMessage } from './meter-template.js';
import { UpdateRate } from './rate.js';

/** A wanted parameter as the device sees it: asked for, confirmed (an acknowledgement or a value), or refused. */
export type DeviceSubscription =
  | { state: 'pending' | 'active' }
  | { state: 'failed'; error: { code: number | undefined; message: string } };

const PENDING: DeviceSubscription = { state: 'pending' };
const ACTIVE: DeviceSubscription = { state: 'active' };

export interface Subscription {
  processorId: string;
  param: string;
  /** Who wants its updates: `plugin:<tempID or trackID>` or `controller:<host:port>`. */
  consumers: Set<string>;
  device: DeviceSubscription;
  rate: UpdateRate;
  /** A meter (`XMeter_N`), whose readings are clamped to -80..0 dB. */
  meter: boolean;
  /** The last reading sent on; null before the first. */
  last: number | null;
}

export interface SubscriptionKey {
  processorId: string;
  param: string;
}

/** One processor's subscriptions as its device sees them: what its TCP session learns, it writes here. */
export interface DeviceStates {
  /** The connection is gone, and the device forgot every subscription with it. */
  forgotten(): void;
  /** The device acknowledged these subscriptions. */
  acknowledged(params: readonly string[]): void;
  /** The device refused these; returns how many of them are still wanted. */
  refused(params: readonly string[], error: { code: number | undefined; message: string }): number;
  wanted(param: string): boolean;
}

export interface SubscriptionTableOptions {
  leases: LeaseDirectory;
  controllers: Controllers;
  send: SendBytes;
  clock: Clock;
  counters: AtlasCounters;
  /** Something went wrong sending an update: told at a bounded rate. */
  warn: (kind: string, details: Record<string, unknown>, message: string) => void;
}

/** A meter in `val` format reads -80..0 dB (ATLAS.md); no float32 holds a magnitude above this. */
const METER_DB = { min: -80, max: 0 };
const FLOAT32_MAX = 3.4028234663852886e38;
const METER = /Meter_\d+$/;

const PLUGIN = 'plugin:';
const CONTROLLER = 'controller:';

/** A plugin as a consumer: by tempID, or by trackID (then it follows the track across leases). */
export const plugin = (who: string) => `${PLUGIN}${who}`;
/** A controller as a consumer, by its `host:port`. */
export const controller = (key: string) => `${CONTROLLER}${key}`;

/**
 * Who wants which meter, and the way an update goes to them. One device subscription per
 * (processor, param), counted over consumers: the table says when the first consumer arrives
 * (subscribe on the device) and when the last one leaves (unsubscribe). An update for a
 * subscription goes, as the same bytes, to the verified port of each plugin that wants it (once,
 * however it is named) and to every controller. [PROTOCOL §15]
 */
export class SubscriptionTable {
  private readonly byProcessor = new Map<string, Map<string, Subscription>>();
  private readonly byConsumer = new Map<string, Set<Subscription>>();

  constructor(private readonly options: SubscriptionTableOptions) {}

  /** A value from a processor, by UDP or TCP: to whoever wants it, or counted as unwanted. */
  deliver(processorId: string, param: string, value: number | string): void {
    const { counters, clock } = this.options;
    const subscription = this.get(processorId, param);
    // Every subscription asks for fmt val: anything else is not a meter reading.
    if (!subscription || typeof value !== 'number') {
      counters.unwantedUpdates++;
      return;
    }
    const reading = inRange(subscription.meter, value);
    if (reading !== value) counters.outOfRange++;
    if (reading === undefined) return;
    // A value proves the subscription, acknowledged or not.
    if (subscription.device !== ACTIVE) subscription.device = ACTIVE;
    subscription.rate.tick(clock.now());
    subscription.last = reading;
    counters.updates++;
    try {
      this.sendToConsumers(meterMessage(processorId, param, reading), subscription.consumers);
    } catch (err) {
      // One bad consumer must not take the receive path down with it.
      this.options.warn('deliver', { err, processor: processorId, param }, 'atlas: an update could not be sent');
    }
  }

  get(processorId: string, param: string): Subscription | undefined {
    return this.byProcessor.get(processorId)?.get(param);
  }

  of(processorId: string): Subscription[] {
    return [...(this.byProcessor.get(processorId)?.values() ?? [])];
  }

  has(consumer: string, processorId: string, param: string): boolean {
    return this.get(processorId, param)?.consumers.has(consumer) ?? false;
  }

  /** The parameters `processorId` is asked for. */
  countOf(processorId: string): number {
    return this.byProcessor.get(processorId)?.size ?? 0;
  }

  /** The meters `consumer` wants. */
  countOfConsumer(consumer: string): number {
    return this.byConsumer.get(consumer)?.size ?? 0;
  }

  /** True when `consumer` is the first for this param: the device must be asked for it. */
  add(consumer: string, processorId: string, param: string): boolean {
    let params = this.byProcessor.get(processorId);
    if (!params) this.byProcessor.set(processorId, (params = new Map()));
    let subscription = params.get(param);
    const first = subscription === undefined;
    if (!subscription) params.set(param, (subscription = { processorId, param, consumers: new Set(), device: PENDING, rate: new UpdateRate(), meter: METER.test(param), last: null }));
    subscription.consumers.add(consumer);
    let held = this.byConsumer.get(consumer);
    if (!held) this.byConsumer.set(consumer, (held = new Set()));
    held.add(subscription);
    return first;
  }

  /** True when `consumer` was the last for this param: the device subscription must go. */
  remove(consumer: string, processorId: string, param: string): boolean {
    const subscription = this.get(processorId, param);
    if (!subscription?.consumers.has(consumer)) return false;
    return this.release(consumer, subscription);
  }

  /** Everything `consumer` held goes; returns the subscriptions nobody holds any longer. */
  dropConsumer(consumer: string): SubscriptionKey[] {
    const ended: SubscriptionKey[] = [];
    for (const subscription of [...(this.byConsumer.get(consumer) ?? [])]) {
      if (this.release(consumer, subscription)) ended.push({ processorId: subscription.processorId, param: subscription.param });
    }
    return ended;
  }

  /** The processor is gone: its subscriptions go with it, from every consumer. */
  dropProcessor(processorId: string): void {
    for (const subscription of this.of(processorId)) {
      for (const consumer of subscription.consumers) this.forget(consumer, subscription);
    }
    this.byProcessor.delete(processorId);
  }

  /** Where the session of `processorId` writes what its device says of the subscriptions. */
  deviceOf(processorId: string): DeviceStates {
    const each = (params: readonly string[], change: (subscription: Subscription) => void) => {
      let changed = 0;
      for (const param of params) {
        const subscription = this.get(processorId, param);
        if (!subscription) continue;
        change(subscription);
        changed++;
      }
      return changed;
    };
    return {
      forgotten: () => {
        for (const subscription of this.of(processorId)) subscription.device = PENDING;
      },
      acknowledged: (params) => {
        each(params, (subscription) => {
          if (subscription.device === PENDING) subscription.device = ACTIVE;
        });
      },
      refused: (params, error) => each(params, (subscription) => (subscription.device = { state: 'failed', error })),
      wanted: (param) => this.get(processorId, param) !== undefined,
    };
  }

  private sendToConsumers(bytes: Buffer, consumers: ReadonlySet<string>): void {
    const { leases, controllers, send } = this.options;
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

  private release(consumer: string, subscription: Subscription): boolean {
    subscription.consumers.delete(consumer);
    this.forget(consumer, subscription);
    if (subscription.consumers.size > 0) return false;
    const params = this.byProcessor.get(subscription.processorId)!;
    params.delete(subscription.param);
    if (params.size === 0) this.byProcessor.delete(subscription.processorId);
    return true;
  }

  private forget(consumer: string, subscription: Subscription): void {
    const held = this.byConsumer.get(consumer);
    held?.delete(subscription);
    if (held?.size === 0) this.byConsumer.delete(consumer);
  }
}

/** A meter clamped to its range; any other value that would reach a plugin as a non-finite float32, dropped (undefined). */
function inRange(meter: boolean, value: number): number | undefined {
  const reading = meter ? Math.min(METER_DB.max, Math.max(METER_DB.min, value)) : value;
  return Math.abs(reading) <= FLOAT32_MAX ? reading : undefined;
}
