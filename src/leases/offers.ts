import type { Clock } from '../clock.js';
import type { Counters } from '../counters.js';
import type { Logger } from '../log.js';
import type { PortCheck } from '../net/port-check.js';
import { EndpointQueue } from './endpoint-queue.js';
import type { Endpoint, Lease } from './lease.js';
import type { PortLedger } from './ledger.js';

export interface OffersOptions {
  ledger: PortLedger;
  portCheck: PortCheck;
  clock: Clock;
  counters: Counters;
  logger: Logger;
  /** The live lease of a tempID, if it still has one. */
  lease: (tempId: string) => Lease | undefined;
  /** How long a check that found a port free is trusted. */
  freshMs?: number;
}

/** Ports checked against the OS in one batch unless the check says it takes more: the next ones the pool will hand out. */
const CHECK_BATCH = 256;

/**
 * Who gets an offer next, and which port. One assignment is in flight per response endpoint
 * [PROTOCOL §3]; waits at an endpoint double while its assignments go unanswered (a DAW loading a
 * project answers late); ports come from the pool, preferred port first, and only ports a recent
 * batch check found free of any other socket. Allocation is synchronous: when the next port's
 * check is stale, the turn waits for one batch check, then every waiting turn is served.
 */
export class Offers {
  private readonly queue = new EndpointQueue();
  /** Consecutive unanswered assignments per endpoint. */
  private readonly backoff = new Map<string, number>();
  /** Clock time until which each pool port is known free (0: never checked). */
  private readonly freeUntil: Float64Array;
  private readonly freshMs: number;
  /** Endpoints whose turn holder waits for the batch check under way. */
  private readonly waitingForCheck = new Set<string>();
  private checking = false;
  private closed = false;

  constructor(private readonly options: OffersOptions) {
    const { pool } = options.ledger;
    this.freeUntil = new Float64Array(pool.high - pool.low + 1);
    this.freshMs = options.freshMs ?? 2000;
  }

  /** Queues a lease for its turn at its endpoint. */
  await(lease: Lease): void {
    const key = lease.endpoint?.key;
    if (key === undefined) return;
    const turn = this.queue.turnHolder(key);
    this.queue.enqueue(key, lease.tempId);
    lease.queuedAt = key;
    // The lease holding the turn now shares its endpoint: resending its port could reach another instance.
    if (turn !== undefined && turn !== lease.tempId) this.options.lease(turn)?.actor.send({ type: 'ENDPOINT_SHARED' });
    this.pump(key);
  }

  /**
   * Leaves the waiting line. A turn with its offer out ends with `endTurn`; a turn still waiting for a
   * batch check (the lease left before its offer: released, crossed, past its deadline) ends here.
   */
  leave(lease: Lease): void {
    const key = lease.queuedAt;
    if (key === undefined) return;
    this.queue.withdraw(key, lease.tempId);
    if (this.waitingForCheck.has(key) && this.queue.holdsTurn(key, lease.tempId)) {
      this.waitingForCheck.delete(key);
      this.endTurn(lease);
    }
  }

  /** A repeated request may come from a new endpoint: a waiting lease waits there instead. */
  rejoin(lease: Lease): void {
    if (lease.queuedAt === lease.endpoint?.key) return;
    this.leave(lease);
    this.await(lease);
  }

  endTurn(lease: Lease): void {
    const key = lease.queuedAt;
    lease.queuedAt = undefined;
    if (key !== undefined && this.queue.endTurn(key, lease.tempId)) this.pump(key);
  }

  /** Leases waiting at `key`, the one whose offer is out included. */
  waitingAt(key: string): number {
    return this.queue.waitingAt(key) + (this.queue.turnHolder(key) === undefined ? 0 : 1);
  }

  noteTimeout(lease: Lease): void {
    this.options.counters.assignmentTimeouts++;
    this.options.logger.debug({ tempId: lease.tempId, port: lease.port }, 'assignment unanswered');
    const key = lease.endpoint?.key;
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
    if (this.closed || this.queue.turnHolder(key) !== undefined) return;
    for (;;) {
      const tempId = this.queue.takeTurn(key);
      if (tempId === undefined) {
        if (!this.queue.isActive(key)) this.backoff.delete(key);
        return;
      }
      const lease = this.options.lease(tempId);
      if (lease) {
        this.offer(lease, key);
        return;
      }
      this.queue.endTurn(key, tempId);
    }
  }

  /** Offers the turn holder its port, or parks the turn until a batch check says which ports are free. */
  private offer(lease: Lease, key: string): void {
    const { pool } = this.options.ledger;
    const preferred = lease.preferredPort > 0 && pool.stateOf(lease.preferredPort) === 'free' ? lease.preferredPort : undefined;
    const port = preferred ?? pool.peek();
    if (port === null) {
      this.queue.endTurn(key, lease.tempId);
      lease.queuedAt = undefined;
      lease.actor.send({ type: 'POOL_EXHAUSTED' });
      this.pump(key);
      return;
    }
    if (this.freeUntil[port - pool.low]! <= this.options.clock.now()) {
      this.waitingForCheck.add(key);
      this.check(port);
      return;
    }
    this.options.ledger.take(port, lease.tempId);
    lease.actor.send({ type: 'OFFER', port, shared: this.queue.waitingAt(key) > 0, backoff: this.backoff.get(key) ?? 0 });
  }

  /** One batch check of the next ports to hand out (and `wanted`); then every parked turn is served. */
  private check(wanted: number): void {
    if (this.checking) return;
    this.checking = true;
    const { ledger, portCheck, counters, logger, clock } = this.options;
    const ports = ledger.pool.peekFree(Math.min(portCheck.batch ?? CHECK_BATCH, ledger.pool.size));
    if (!ports.includes(wanted)) ports.push(wanted);
    const settle = (held: ReadonlySet<number>) => {
      this.checking = false;
      const until = clock.now() + this.freshMs;
      for (const port of ports) {
        if (!held.has(port)) this.freeUntil[port - ledger.pool.low] = until;
        else if (ledger.pool.stateOf(port) === 'free') {
          counters.portsHeldElsewhere++;
          logger.debug({ port }, 'port held by another process: skipped for now');
          ledger.pool.quarantine(port);
        }
      }
      const parked = [...this.waitingForCheck];
      this.waitingForCheck.clear();
      for (const key of parked) this.retry(key);
    };
    portCheck(ports).then(settle, (err: unknown) => {
      logger.warn({ err }, 'port check failed: ports are offered unchecked for now');
      settle(new Set());
    });
  }

  private retry(key: string): void {
    const tempId = this.queue.turnHolder(key);
    const lease = tempId === undefined ? undefined : this.options.lease(tempId);
    if (lease) {
      this.offer(lease, key);
      return;
    }
    if (tempId !== undefined) this.queue.endTurn(key, tempId);
    this.pump(key);
  }
}
