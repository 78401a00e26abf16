import type { AssignmentContext } from '../../machines/lease.js';
import { EndpointQueue } from './endpoint-queue.js';
import type { PortPool } from './pool.js';
import type { Counters } from '../counters.js';
import type { Endpoint, Instance } from './lease.js';
import type { Logger } from '../log.js';
import type { PortIsFree } from '../net/port-check.js';

export interface OffersOptions {
  pool: PortPool;
  portIsFree: PortIsFree;
  counters: Counters;
  logger: Logger;
  /** The live record of a tempID, if it still has one. */
  instance: (tempId: string) => Instance | undefined;
  /** A port was taken from the pool for `tempId`: it is credited to it from that moment, while the OS check runs. */
  credit: (port: number, tempId: string) => void;
  uncredit: (port: number, tempId: string) => void;
}

/**
 * Who gets an offer next, and which port. One assignment is in flight per
 * response endpoint [PROTOCOL §3]; waits at an endpoint double while its
 * assignments go unanswered (a DAW loading a project answers late); ports come
 * from the pool, preferred port first, never one another process holds.
 */
export class Offers {
  private readonly queue = new EndpointQueue();
  /** Consecutive unanswered assignments per endpoint. */
  private readonly backoff = new Map<string, number>();
  private closed = false;

  constructor(private readonly options: OffersOptions) {}

  /** Queues an instance for its turn at its endpoint. */
  await(instance: Instance): void {
    const key = instance.endpoint?.key;
    if (key === undefined) return;
    const turn = this.queue.turnHolder(key);
    this.queue.enqueue(key, instance.tempId);
    // The instance holding the turn now shares its endpoint: resending its port could reach another instance.
    if (turn !== undefined && turn !== instance.tempId) this.options.instance(turn)?.actor.send({ type: 'ENDPOINT_SHARED' });
    this.pump(key);
  }

  /** Instances waiting at `key`, the one whose offer is out included. */
  waitingAt(key: string): number {
    return this.queue.waitingAt(key) + (this.queue.turnHolder(key) === undefined ? 0 : 1);
  }

  withdraw(instance: Instance): void {
    if (instance.endpoint) this.queue.withdraw(instance.endpoint.key, instance.tempId);
  }

  /** A repeated request from a new endpoint: a waiting instance waits there instead. */
  moveEndpoint(instance: Instance, previous: Endpoint | undefined): void {
    if (!instance.endpoint || !instance.actor.getSnapshot().matches('requesting')) return;
    if (previous) this.queue.withdraw(previous.key, instance.tempId);
    this.await(instance);
  }

  endTurn(instance: Instance): void {
    const key = instance.turnKey;
    if (key === undefined) return;
    instance.turnKey = undefined;
    if (this.queue.endTurn(key, instance.tempId)) this.pump(key);
  }

  /** Runs after `endTurn` (exit actions come first), so the endpoint, not the turn, names the key. */
  noteTimeout(instance: Instance | undefined, context: AssignmentContext): void {
    this.options.counters.assignmentTimeouts++;
    this.options.logger.debug({ tempId: context.tempId, port: context.port, resends: context.resends }, 'assignment unanswered');
    const key = instance?.endpoint?.key;
    if (key !== undefined) this.backoff.set(key, (this.backoff.get(key) ?? 0) + 1);
  }

  /** Something at this endpoint answered: it is not slow any more. */
  answered(endpoint: Endpoint): void {
    this.backoff.delete(endpoint.key);
  }

  close(): void {
    this.closed = true;
  }

  private pump(key: string): void {
    if (this.closed) return;
    const tempId = this.queue.takeTurn(key);
    if (tempId === undefined) {
      if (!this.queue.isActive(key)) this.backoff.delete(key);
      return;
    }
    const instance = this.options.instance(tempId);
    if (!instance) {
      this.queue.endTurn(key, tempId);
      this.pump(key);
      return;
    }
    instance.turnKey = key;
    void this.offer(instance, key);
  }

  private async offer(instance: Instance, key: string): Promise<void> {
    const port = await this.allocate(instance);
    const stillWaiting =
      !this.closed &&
      this.options.instance(instance.tempId) === instance &&
      this.queue.holdsTurn(key, instance.tempId) &&
      instance.actor.getSnapshot().matches('requesting');
    if (!stillWaiting || port === null) {
      if (port !== null) this.giveBack(instance, port, (p) => this.options.pool.release(p));
      if (this.queue.endTurn(key, instance.tempId)) instance.turnKey = undefined;
      if (stillWaiting) instance.actor.send({ type: 'POOL_EXHAUSTED' });
      this.pump(key);
      return;
    }
    // From here the offer itself carries the port.
    instance.allocating = undefined;
    instance.actor.send({
      type: 'OFFER',
      port,
      shared: this.queue.waitingAt(key) > 0,
      backoff: this.backoff.get(key) ?? 0,
    });
  }

  /** [PROTOCOL §3] the preferred port if free, else the port released longest ago; never one another process holds. */
  private async allocate(instance: Instance): Promise<number | null> {
    const { pool, portIsFree, counters, logger } = this.options;
    let preferred = instance.preferredPort > 0 ? instance.preferredPort : undefined;
    for (;;) {
      const port = pool.take(preferred);
      preferred = undefined;
      if (port === null) return null;
      this.options.credit(port, instance.tempId);
      instance.allocating = port;
      if (await portIsFree(port)) return port;
      counters.portsHeldElsewhere++;
      logger.debug({ port }, 'port held by another process: skipped for now');
      this.giveBack(instance, port, (p) => pool.quarantine(p));
    }
  }

  private giveBack(instance: Instance, port: number, to: (port: number) => void): void {
    instance.allocating = undefined;
    this.options.uncredit(port, instance.tempId);
    to(port);
  }
}
