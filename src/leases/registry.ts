import { EventEmitter } from 'node:events';
import { createActor, type SnapshotFrom } from 'xstate';
import { requestLifetimeMs, topLevelState, type LeaseMachine, type LeaseSettings, type LeaseStateName } from '../../machines/lease.js';
import type { Clock } from '../clock.js';
import type { Counters } from '../counters.js';
import type { Logger } from '../log.js';
import type { Source } from '../net/udp.js';
import type * as wire from '../osc/wire.js';
import type { SentProbe } from '../probes.js';
import type { RateLimitedLog } from '../rate-limited-log.js';
import { endpointOf, shownState, type Endpoint, type Lease, type LeaseState } from './lease.js';
import { toLeaseView, type LeaseView } from './lease-view.js';
import type { PortLedger } from './ledger.js';
import type { Liveness, LivenessSettings } from './liveness.js';
import type { Offers } from './offers.js';
import type { JournalState } from './persistence/journal.js';
import type { LeaseKeeper } from './persistence/keeper.js';
import { noteIgnoredConfirmation } from './effects.js';
import type { LeaseDirectory, LeaseEvents } from './directory.js';
import { LeaseOutcomes } from './outcomes.js';
import {
  judgeConfirmation,
  judgeProbeAnswer,
  judgeRequest,
  preferredPort,
  restoredLifetimeMs,
  sweepAnswerIsRequest,
  type Admission,
  type Order,
  type Room,
} from './rules.js';
import type { LeaseTimers } from './timers.js';

export interface LeaseRegistryOptions {
  /** The lease machine, its effects provided. */
  machine: LeaseMachine;
  /** Shared with the effects, which find a lease by tempID. */
  table: Map<string, Lease>;
  ledger: PortLedger;
  offers: Offers;
  timers: LeaseTimers;
  liveness: Liveness;
  keeper: LeaseKeeper;
  settings: LeaseSettings & LivenessSettings & { maxInstances: number; maxWaitingPerEndpoint: number };
  /** Refuses a request at its endpoint: `port_assignment` error, then `port_error`. [PROTOCOL §2] */
  refuse: (endpoint: Endpoint, tempId: string, code: wire.ErrorCode, detail: string) => void;
  clock: Clock;
  /** Wall-clock time, for what outlives the process (the journal). */
  wallNow: () => number;
  counters: Counters;
  log: RateLimitedLog;
  logger: Logger;
}

/**
 * Every lease and its machine. Handlers bring in what arrived; the machine decides what it means;
 * this table only admits leases, delivers events, and tells the rest of the coordinator what
 * each transition settled on, through `change` (and the journal, the counters, the log).
 */
export class LeaseRegistry extends EventEmitter<LeaseEvents> implements LeaseDirectory {
  /** trackID (ChattyChannels' name for a track) to tempID. */
  private readonly tracks = new Map<string, string>();
  /** Leases never verified, oldest first: the first to make room when the table is full. */
  private readonly unverified = new Set<string>();
  private readonly table: Map<string, Lease>;
  private readonly outcomes: LeaseOutcomes;
  private closed = false;

  constructor(private readonly options: LeaseRegistryOptions) {
    super();
    this.table = options.table;
    this.outcomes = new LeaseOutcomes({ ...options, emit: (event, ...args) => (this.emit as (name: keyof LeaseEvents, ...rest: unknown[]) => boolean)(event, ...args) });
  }

  // ---- inbound ----

  /** [PROTOCOL §1, §3] */
  request(request: wire.PortRequest, source: Source): void {
    this.options.counters.requests++;
    this.ask(request, source);
  }

  /**
   * [PROTOCOL §16] `tempId` answered a sweep of response port `port`: it waits there for an
   * assignment. When nothing is under way for it, that is its lost request, and it takes the
   * request's path from here. True when it was taken as one.
   */
  sweepAnswered(tempId: string, port: number, source: Source): boolean {
    if (!sweepAnswerIsRequest(this.table.get(tempId))) return false;
    const taken = this.ask({ tempId, preferredPort: -1, responsePort: port }, source);
    if (!taken) return false;
    this.options.counters.instancesAdopted++;
    this.options.log('instance_adopted', 'info', { tempId, responsePort: port }, 'instance found waiting at its response port: taken as its request');
    return true;
  }

  /** [PROTOCOL §16] A sweep of the pool's ports found `answer.tempId` receiving on `probe.port`. */
  bindingFound(answer: wire.ProbeAnswer, probe: SentProbe, source: Source): void {
    this.probeAnswered(undefined, answer, probe, source);
  }

  /** [PROTOCOL §3, §4] The machine decides what the confirmation does; the rules which lease it concerns. */
  confirm(confirmation: wire.PortConfirmation, source: Source): void {
    const { counters, ledger } = this.options;
    const { tempId, port } = confirmation;
    counters.confirmations++;
    const known = this.table.get(tempId);
    const standing = { pool: ledger.pool.stateOf(port), holder: this.table.get(ledger.holderOf(port) ?? ''), lastOfferKey: ledger.lastOfferAt(port) };
    const verdict = judgeConfirmation(confirmation, source.address, known, standing, this.room());
    if (verdict.kind === 'invalid') {
      counters.invalid++;
      this.options.log('confirm_outside_pool', 'warn', { tempId, port }, 'confirmation for a port outside the pool: ignored');
      return;
    }
    if (verdict.kind === 'ignore') {
      noteIgnoredConfirmation(this.options, tempId, port, verdict.why);
      return;
    }
    const lease = known ?? this.adopt(tempId, source, verdict.admission!);
    this.options.liveness.markSeen(tempId);
    if (lease.endpoint) this.options.offers.answered(lease.endpoint);
    this.carryOut([verdict.order]);
  }

  /** [PROTOCOL §5] An answer to a probe of `probe.port`, matched by nonce: sent for `prober`, or by a sweep of the pool. */
  private probeAnswered(prober: Lease | undefined, answer: wire.ProbeAnswer, probe: SentProbe, source: Source): void {
    const { counters, clock, ledger } = this.options;
    counters.probeAnswers++;
    const verdict = judgeProbeAnswer({
      port: probe.port,
      prober,
      holder: this.table.get(ledger.holderOf(probe.port) ?? ''),
      answeredBy: answer.tempId,
      answerer: this.table.get(answer.tempId),
      room: this.room(),
    });
    if (verdict.kind === 'moot') return;
    if (prober && verdict.kind !== 'own') {
      counters.probeWrongOwner++;
      this.options.log('probe_wrong_owner', 'warn', { port: probe.port, expected: prober.tempId, answeredBy: answer.tempId }, 'probe answered by another instance: port credited to it');
    }
    if (!prober && verdict.kind === 'taken') {
      counters.bindingsAdopted++;
      this.options.log('binding_adopted', 'info', { tempId: answer.tempId, port: probe.port }, 'instance found receiving on a pool port: the port is its lease');
    }
    if (verdict.admission) this.adopt(answer.tempId, source, verdict.admission);
    if (verdict.setAside) ledger.setAside(probe.port);
    if (verdict.creditTo !== undefined) {
      ledger.claim(probe.port, verdict.creditTo);
      const holder = this.table.get(verdict.creditTo)!;
      holder.host = source.address;
      holder.rttMs = clock.now() - probe.sentAt;
      this.options.liveness.verified(verdict.creditTo);
    }
    for (const { to, event } of verdict.orders) {
      if (event.type === 'PORT_LOST') this.table.get(to)!.lostTo = { port: event.port, heldBy: event.heldBy };
    }
    this.carryOut(verdict.orders);
  }

  /** [PROTOCOL §7] `from`: the sender's address, which must be the request's (the admin CLI passes none). */
  release(tempId: string, from?: string): boolean {
    const lease = this.table.get(tempId);
    if (!lease) return false;
    if (from !== undefined && from !== lease.origin) {
      this.options.counters.releasesRefused++;
      this.options.log('release_refused', 'warn', { tempId, from, origin: lease.origin }, 'release from another host than the request: ignored');
      return false;
    }
    lease.actor.send({ type: 'RELEASE' });
    return true;
  }

  /** [PROTOCOL §9] Plugin traffic naming a lease by tempID or trackID keeps it alive: two lookups and a number written. */
  keepAlive(id: string): string | undefined {
    const tempId = this.table.has(id) ? id : this.tracks.get(id);
    if (tempId !== undefined) this.options.liveness.markSeen(tempId);
    return tempId;
  }

  /** The plugin took ChattyChannels' trackID: a track names one lease, the latest to take it. [PROTOCOL §12] */
  setTrack(tempId: string, trackId: string): void {
    const lease = this.table.get(tempId);
    if (!lease || lease.trackId === trackId) return;
    const previous = this.table.get(this.tracks.get(trackId) ?? '');
    if (previous && previous !== lease) this.nameTrack(previous, null);
    this.nameTrack(lease, trackId);
  }

  /** The lease's trackID (null: none), written down if it is bound, and told. */
  private nameTrack(lease: Lease, trackId: string | null): void {
    if (lease.trackId !== null && this.tracks.get(lease.trackId) === lease.tempId) this.tracks.delete(lease.trackId);
    lease.trackId = trackId;
    if (trackId !== null) this.tracks.set(trackId, lease.tempId);
    if (lease.state === 'bound') this.options.keeper.keep(lease);
    this.emit('track', lease);
  }

  /** Takes back the leases of a previous run [PROTOCOL §8]: each port held for its lease, which is probed before it is trusted. */
  restore(state: JournalState): void {
    const { ledger, keeper, settings, wallNow, logger } = this.options;
    // Remembered ports go to the back of the pool, so newcomers take other ports first.
    for (const port of keeper.restore(state)) ledger.pool.moveToBack(port);
    for (const record of state.leases.values()) {
      if (!ledger.restore(record.port, record.tempId)) {
        logger.warn({ tempId: record.tempId, port: record.port }, 'restored lease outside the pool or taken: dropped');
        keeper.unbound(record.tempId, 'not restorable');
        continue;
      }
      const lease = this.admit(record.tempId, {
        endpoint: record.endpoint ? endpointOf(record.endpoint.host, record.endpoint.port) : undefined,
        host: record.host,
        preferredPort: record.port,
        restoredPort: record.port,
        deadlineMs: restoredLifetimeMs(settings, record.lastSeen, wallNow()),
        trackId: record.trackId,
        boundSince: record.boundAt,
      });
      if (record.trackId === null) continue;
      // A journal of an older version may give one track to two leases: the one seen last keeps it.
      const other = state.leases.get(this.tracks.get(record.trackId) ?? '');
      if (other && other.lastSeen > record.lastSeen) lease.trackId = null;
      else {
        if (other) this.table.get(other.tempId)!.trackId = null;
        this.tracks.set(record.trackId, lease.tempId);
      }
    }
    logger.info({ leases: state.leases.size }, 'leases restored: verifying each by probe');
  }

  // ---- the directory ----

  get(tempId: string): Lease | undefined {
    return this.table.get(tempId);
  }

  resolve(id: string): Lease | undefined {
    const lease = this.find(id);
    return lease?.state === 'bound' ? lease : undefined;
  }

  find(id: string): Lease | undefined {
    return this.table.get(id) ?? this.table.get(this.tracks.get(id) ?? '');
  }

  *bound(): IterableIterator<Lease> {
    for (const lease of this.table.values()) if (lease.state === 'bound') yield lease;
  }

  holderOf(port: number): string | undefined {
    return this.options.ledger.holderOf(port);
  }

  // ---- queries ----

  /** The lease with this tempID, or credited with this port (decimal), as PROTOCOL §10 shows it. */
  view(target: string): LeaseView | undefined {
    const tempId = /^\d{1,5}$/.test(target) ? this.holderOf(Number(target)) : target;
    const lease = tempId === undefined ? undefined : this.table.get(tempId);
    return lease && toLeaseView(lease, this.options);
  }

  views(): LeaseView[] {
    return [...this.table.values()].map((lease) => toLeaseView(lease, this.options));
  }

  countByState(): Record<LeaseState, number> {
    const counts: Record<LeaseState, number> = { requesting: 0, assigned: 0, verifying: 0, bound: 0 };
    for (const lease of this.table.values()) counts[shownState(lease)]++;
    return counts;
  }

  /** Live leases in each of the machine's states that has any (the studio's state chart). */
  countByMachineState(): Partial<Record<LeaseStateName, number>> {
    const counts: Partial<Record<LeaseStateName, number>> = {};
    for (const lease of this.table.values()) counts[lease.state] = (counts[lease.state] ?? 0) + 1;
    return counts;
  }

  get size(): number {
    return this.table.size;
  }

  get pool() {
    return this.options.ledger.pool;
  }

  checkInvariants(): string[] {
    return this.options.ledger.problems(this.table);
  }

  close(): void {
    this.closed = true;
    this.options.offers.close();
    this.options.timers.stop();
    for (const lease of this.table.values()) lease.actor.stop();
    this.table.clear();
  }

  // ---- bookkeeping ----

  /** A request, or what counts as one: a known instance asks again, a new one is admitted, or it is refused. True unless refused or ignored. */
  private ask(request: wire.PortRequest, source: Source): boolean {
    const { counters, settings, offers, keeper, liveness } = this.options;
    const { tempId } = request;
    const endpoint = endpointOf(source.address, request.responsePort ?? source.port);
    const known = this.table.get(tempId);
    const verdict = judgeRequest(tempId, endpoint.key, {
      known,
      from: source.address,
      waiting: offers.waitingAt(endpoint.key),
      maxWaiting: settings.maxWaitingPerEndpoint,
      room: this.room(),
      instances: this.table.size,
    });
    switch (verdict.kind) {
      case 'elsewhere':
        this.options.log('request_elsewhere', 'warn', { tempId, from: source.address }, 'repeated request from another host: ignored');
        return false;
      case 'again':
        counters.repeatedRequests++;
        liveness.markSeen(tempId);
        known!.endpoint = endpoint;
        this.carryOut([verdict.order]);
        return true;
      case 'busy':
        counters.busy++;
        this.options.log('busy', 'warn', { tempId, endpoint: endpoint.key, detail: verdict.detail }, 'request refused: busy');
        this.options.refuse(endpoint, tempId, 'busy', verdict.detail);
        return false;
      case 'admit': {
        if (verdict.admission.evict) this.evictOldestUnverified();
        const preferred = preferredPort(request.preferredPort, keeper.lastPort(tempId));
        this.options.logger.debug({ tempId, endpoint: endpoint.key, preferredPort: preferred }, 'port requested');
        this.admit(tempId, { endpoint, host: source.address, preferredPort: preferred, deadlineMs: requestLifetimeMs(settings) });
        return true;
      }
    }
  }

  /** Room for one more lease: free, by evicting the oldest lease never verified, or none. */
  private room(): Room {
    if (this.table.size < this.options.settings.maxInstances) return 'free';
    return this.unverified.size > 0 ? 'evict' : 'none';
  }

  private carryOut(orders: readonly Order[]): void {
    for (const { to, event } of orders) this.table.get(to)?.actor.send(event);
  }

  private admit(
    tempId: string,
    how: {
      endpoint: Endpoint | undefined;
      host: string;
      preferredPort: number;
      deadlineMs: number;
      restoredPort?: number;
      adopted?: boolean;
      trackId?: string | null;
      boundSince?: number;
    },
  ): Lease {
    const { clock, settings } = this.options;
    const now = clock.now();
    const lease: Lease = {
      tempId,
      actor: undefined as never,
      state: 'starting',
      port: how.restoredPort ?? -1,
      restored: how.restoredPort !== undefined,
      endpoint: how.endpoint,
      queuedAt: undefined,
      host: how.host,
      origin: how.endpoint?.host ?? how.host,
      preferredPort: how.preferredPort,
      asker: { nonces: [], answered: (answer, probe, source) => this.probeAnswered(lease, answer, probe, source) },
      requestedAt: how.restoredPort === undefined && !how.adopted ? now : undefined,
      createdAt: now,
      boundSince: how.boundSince,
      trackId: how.trackId ?? null,
      rttMs: null,
      lostTo: undefined,
    };
    const input = {
      tempId,
      settings,
      deadlineMs: how.deadlineMs,
      ...(how.restoredPort === undefined ? {} : { restoredPort: how.restoredPort }),
      ...(how.adopted ? { adopted: true } : {}),
    };
    lease.actor = createActor(this.options.machine, { input, clock });
    this.table.set(tempId, lease);
    if (how.restoredPort === undefined) this.unverified.add(tempId);
    lease.actor.subscribe({
      next: (snapshot) => this.settle(lease, snapshot),
      error: (err) => this.broken(lease, err),
      complete: () => this.forget(lease),
    });
    lease.actor.start();
    return lease;
  }

  /** An instance that never asked (its request was lost) but turned up on a port. */
  private adopt(tempId: string, source: Source, admission: Admission): Lease {
    if (admission.evict) this.evictOldestUnverified();
    return this.admit(tempId, {
      endpoint: undefined,
      host: source.address,
      preferredPort: -1,
      deadlineMs: requestLifetimeMs(this.options.settings),
      adopted: true,
    });
  }

  /** Makes room for a newcomer: the lease waiting longest without ever being verified lapses. */
  private evictOldestUnverified(): void {
    const oldest = this.unverified.values().next();
    if (oldest.done) return;
    this.unverified.delete(oldest.value);
    this.options.counters.evicted++;
    this.options.log('evicted', 'info', { tempId: oldest.value }, 'instance table full: the oldest instance never verified is dropped');
    this.table.get(oldest.value)?.actor.send({ type: 'EVICTED' });
  }

  /** Mirrors the settled snapshot into the lease, and tells the rest of the coordinator what changed. */
  private settle(lease: Lease, snapshot: SnapshotFrom<LeaseMachine>): void {
    if (this.closed) return;
    const state = topLevelState(snapshot);
    const { port, restored } = snapshot.context;
    lease.restored = restored;
    if (state === lease.state && port === lease.port) return;
    const wasState = lease.state;
    const wasPort = lease.port;
    lease.state = state;
    lease.port = port;
    if (state === 'bound' && wasState !== 'bound') this.unverified.delete(lease.tempId);
    this.outcomes.settled(lease, wasState, snapshot);
    this.emit('change', lease, wasState, wasPort);
  }

  /**
   * Its machine failed (a bug: effects never throw into it): the lease cannot go on, and it ends
   * as a failed one does, out loud: its port back to the pool, its record dropped, everyone told.
   */
  private broken(lease: Lease, err: unknown): void {
    const { counters, ledger, keeper } = this.options;
    counters.machineFailures++;
    this.options.log('machine_failed', 'error', { tempId: lease.tempId, err }, 'lease machine failed: the lease ends, its port back in the pool');
    const wasState = lease.state;
    const wasPort = lease.port;
    ledger.giveBack(lease.tempId, lease.port);
    keeper.unbound(lease.tempId, 'failed');
    lease.state = 'failed';
    lease.port = -1;
    this.emit('change', lease, wasState, wasPort);
    this.emit('failed', { tempId: lease.tempId, code: 'retries_exhausted', detail: 'its lease machine failed' });
    this.forget(lease);
  }

  private forget(lease: Lease): void {
    const { tempId } = lease;
    if (this.table.get(tempId) !== lease) return;
    this.table.delete(tempId);
    this.unverified.delete(tempId);
    this.options.timers.forget(tempId);
    this.options.liveness.forget(tempId);
    if (lease.trackId !== null && this.tracks.get(lease.trackId) === tempId) this.tracks.delete(lease.trackId);
  }
}
