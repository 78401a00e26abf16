import { UpdateRate } from './rate.js';

export interface Subscription {
  processorId: string;
  param: string;
  consumers: Set<string>;
  rate: UpdateRate;
}

export interface SubscriptionKey {
  processorId: string;
  param: string;
}

/**
 * Who wants which meter. One device subscription per (processor, param), counted over consumers: the table says
 * when the first consumer arrives (subscribe on the device) and when the last one leaves (unsubscribe).
 * Consumers are opaque names.
 */
export class SubscriptionTable {
  private readonly byProcessor = new Map<string, Map<string, Subscription>>();
  private readonly byConsumer = new Map<string, Set<Subscription>>();

  get(processorId: string, param: string): Subscription | undefined {
    return this.byProcessor.get(processorId)?.get(param);
  }

  of(processorId: string): Subscription[] {
    return [...(this.byProcessor.get(processorId)?.values() ?? [])];
  }

  /** True when `consumer` is the first for this param: the device must be asked for it. */
  add(consumer: string, processorId: string, param: string): boolean {
    let params = this.byProcessor.get(processorId);
    if (!params) this.byProcessor.set(processorId, (params = new Map()));
    let subscription = params.get(param);
    const first = subscription === undefined;
    if (!subscription) params.set(param, (subscription = { processorId, param, consumers: new Set(), rate: new UpdateRate() }));
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
