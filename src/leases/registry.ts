import { EventEmitter } from 'node:events';
import { createActor } from 'xstate';
import {
  portAssignmentMachine,
  type AssignmentContext,
  type AssignmentSettings,
  type PortParams,
} from '../../machines/lease.js';
import type { OscMessage } from '../osc/codec.js';
import { PortPool } from './pool.js';
import * as wire from '../osc/wire.js';
import type { Counters } from '../counters.js';
import { Deadlines } from '../deadlines.js';
import { endpointOf, type Clock, type Endpoint, type Instance, type Source } from './lease.js';
import type { JournalState } from './persistence/journal.js';
import { LeaseKeeper, type LeaseStore } from './persistence/keeper.js';
import { Liveness, type LivenessSettings } from './liveness.js';
import type { Logger } from '../log.js';
import { Offers } from './offers.js';
import type { PortIsFree } from '../net/port-check.js';
import type { RateLimitedLog } from '../rate-limited-log.js';

export type Send = (message: OscMessage, host: string, port: number) => void;

export interface AssignmentsOptions {
  settings: AssignmentSettings &
    LivenessSettings & {
      poolLow: number;
      poolHigh: number;
      reserved: readonly number[];
      quarantineMs: number;
      maxInstances: number;
      maxWaitingPerEndpoint: number;
    };
  send: Send;
  portIsFree: PortIsFree;
  createNonce: () => string;
  clock: Clock;
  /** Wall-clock time for what outlives the process (the journal). */
  wallNow?: () => number;
  store?: LeaseStore;
  logger: Logger;
  /** For every line a remote datagram can cause. */
  log: RateLimitedLog;
  counters: Counters;
}

const END_MESSAGES = {
  lapsed: 'offer lapsed: instance never confirmed',
  released: 'port released',
  expired: 'lease expired: no answer to its probes (the instance is gone, or a socket that does not answer took its port)',
} as const;

export type LeaseState = 'requesting' | 'assigned' | 'verifying' | 'bound';

export interface LeaseView {
  tempId: string;
  port: number;
  state: LeaseState;
  endpoint: string | undefined;
  trackId: string | null;
  /** Since it was bound, or created when not bound yet. */
  ageMs: number;
  /** Since the coordinator last heard from it; null before it was bound. */
  lastSeenMs: number | null;
  /** The last probe's round trip. */
  rttMs: number | null;
}

export interface AssignmentEvents {
  bound: [{ tempId: string; port: number; handshakeMs: number | undefined }];
  failed: [{ tempId: string; code: string; detail: string }];
  lapsed: [{ tempId: string }];
  released: [{ tempId: string }];
  expired: [{ tempId: string }];
  stolen: [{ tempId: string }];
}

interface PendingProbe {
  tempId: string;
  port: number;
  sentAt: number;
}

/**
 * Every instance's machine, the port index and the pool. Handlers call in with
 * parsed messages; effects leave through the injected `send`, clock and port
 * check, so this runs unchanged against real sockets or a fake edge.
 *
 * `holders` maps each offered, verifying or bound port to the one instance it is
 * credited to. A plugin's word moves an unconfirmed offer; only a probe answer
 * moves a confirmed one.
 */
export class Assignments extends EventEmitter<AssignmentEvents> {
  readonly pool: PortPool;
  private readonly instances = new Map<string, Instance>();
  private readonly holders = new Map<number, string>();
  private readonly probes = new Map<string, PendingProbe>();
  private readonly offers: Offers;
  /** trackID (ChattyChannels' name for a track) to tempID, learnt from uuid_assignment_confirmed. */
  private readonly tracks = new Map<string, string>();
  private readonly keeper: LeaseKeeper;
  private readonly liveness: Liveness;
  /** Instances never verified, oldest first: the first to make room when the table is full. */
  private readonly unverified = new Set<string>();
  /** When a request stops waiting for a port: its resend schedule, counted from the request. */
  private readonly requestDeadlines: Deadlines<string>;
  /** When a restored lease that has not answered yet expires: from the last sign of life before the restart. */
  private readonly restoreDeadlines: Deadlines<string>;
  /** The endpoint each port was last offered at: a late confirmation from there still claims a quarantined offer. */
  private readonly lastOffer = new Map<number, string>();
  private readonly machine;
  private readonly wallNow: () => number;
  private closed = false;

  constructor(private readonly options: AssignmentsOptions) {
    super();
    const { settings, clock } = options;
    this.wallNow = options.wallNow ?? Date.now;
    this.liveness = new Liveness(clock, settings, (tempId) => this.onLivenessDeadline(tempId));
    this.requestDeadlines = new Deadlines(clock, (tempId) => this.instances.get(tempId)?.actor.send({ type: 'REQUEST_EXPIRED' }));
    this.restoreDeadlines = new Deadlines(clock, (tempId) => this.instances.get(tempId)?.actor.send({ type: 'RESTORE_EXPIRED' }));
    this.pool = new PortPool({
      low: settings.poolLow,
      high: settings.poolHigh,
      reserved: settings.reserved,
      quarantineMs: settings.quarantineMs,
      now: () => clock.now(),
    });
    this.keeper = new LeaseKeeper(options.store, this.wallNow, (instance) =>
      this.instances.get(instance.tempId) === instance ? this.standing(instance) : undefined,
    );
    this.offers = new Offers({
      pool: this.pool,
      portIsFree: options.portIsFree,
      counters: options.counters,
      logger: options.logger,
      instance: (tempId) => this.instances.get(tempId),
      credit: (port, tempId) => this.holders.set(port, tempId),
      uncredit: (port, tempId) => {
        if (this.holders.get(port) === tempId) this.holders.delete(port);
      },
    });
    this.machine = portAssignmentMachine.provide({
      actions: {
        awaitOffer: ({ context }) => this.awaitOffer(context.tempId),
        withdrawRequest: ({ context }) => this.withInstance(context.tempId, (i) => this.offers.withdraw(i)),
        sendAssignment: ({ context }, { port }: PortParams) => this.sendAssignment(context.tempId, port),
        endTurn: ({ context }) => this.withInstance(context.tempId, (i) => this.offers.endTurn(i)),
        noteTimeout: ({ context }) => this.offers.noteTimeout(this.instances.get(context.tempId), context),
        sendProbe: ({ context }, { port }: PortParams) => this.sendProbe(context.tempId, port),
        cancelProbes: ({ context }) => this.cancelProbes(context.tempId),
        returnPort: ({ context }, { port }: PortParams) => this.returnPort(context.tempId, port),
        quarantinePort: ({ context }, { port }: PortParams) => this.quarantinePort(context.tempId, port),
        reportBound: ({ context }, { port }: PortParams) => this.reportBound(context.tempId, port),
        reportFailure: ({ context }) => this.reportFailure(context),
        reportLapsed: ({ context }) => this.reportEnd(context.tempId, 'lapsed'),
        reportReleased: ({ context }) => this.reportEnd(context.tempId, 'released'),
        reportExpired: ({ context }) => this.reportEnd(context.tempId, 'expired'),
        reportStolen: ({ context }) => this.reportEnd(context.tempId, 'stolen'),
        reportUnbound: ({ context }) => this.reportUnbound(context.tempId),
        reportAlive: ({ context }) => this.reportAlive(context.tempId, context.port),
        noteProbeTimeout: () => {
          this.options.counters.probeFailures++;
        },
        scheduleCheck: ({ context }) => this.liveness.scheduleCheck(context.tempId),
        scheduleCheckTimeout: ({ context }, { ms }: { ms: number }) => this.liveness.scheduleTimeout(context.tempId, ms),
        cancelDeadline: ({ context }) => this.liveness.cancel(context.tempId),
      },
    });
  }

  // ---- inbound, from the handlers ----

  /** [PROTOCOL §1, §3] */
  request(request: wire.PortRequest, source: Source): void {
    const { counters, logger } = this.options;
    counters.requests++;
    const endpoint = endpointOf(source.address, request.responsePort ?? source.port);
    const known = this.instances.get(request.tempId);
    if (known) {
      counters.repeatedRequests++;
      this.liveness.seen(request.tempId);
      this.moveEndpoint(known, endpoint);
      known.actor.send({ type: 'REQUEST_AGAIN' });
      return;
    }
    const { maxWaitingPerEndpoint, maxInstances } = this.options.settings;
    // [PROTOCOL §2] `busy`: a flood at one endpoint must not lock out plugins elsewhere.
    const waiting = this.offers.waitingAt(endpoint.key);
    if (waiting >= maxWaitingPerEndpoint) {
      this.refuseBusy(request.tempId, endpoint, `${waiting} instances already wait at ${endpoint.key}`);
      return;
    }
    if (this.instances.size >= maxInstances && !this.evictOldestUnverified()) {
      this.refuseBusy(request.tempId, endpoint, `coordinator already tracks ${this.instances.size} instances, all verified`);
      return;
    }
    // [PROTOCOL §8] a returning instance gets its last port back if nobody holds it.
    const preferredPort = request.preferredPort > 0 ? request.preferredPort : (this.keeper.lastPort(request.tempId) ?? -1);
    logger.debug({ tempId: request.tempId, endpoint: endpoint.key, preferredPort }, 'port requested');
    this.createInstance(request.tempId, endpoint, source.address, preferredPort);
    this.requestDeadlines.set(request.tempId, this.options.clock.now() + this.requestLifetimeMs());
  }

  /**
   * [PROTOCOL §4] A confirmation speaks only for the instance's own offer, or for a port offered at its
   * endpoint that it took (crossed, or late); anything else changes nothing.
   */
  confirm(confirmation: wire.PortConfirmation, source: Source): void {
    const { counters } = this.options;
    const { tempId, port, status } = confirmation;
    counters.confirmations++;
    const portState = this.pool.stateOf(port);
    if (portState === 'outside' || portState === 'reserved') {
      counters.invalid++;
      this.options.log('confirm_outside_pool', 'warn', { tempId, port }, 'confirmation for a port outside the pool: ignored');
      return;
    }
    const known = this.instances.get(tempId);
    if (known && known.origin !== source.address) {
      this.ignoreConfirmation(tempId, port, `from ${source.address}, not ${known.origin} where its request came from`);
      return;
    }
    const right = known !== undefined && this.standing(known).port === port ? 'own' : this.rightTo(known, port, source);
    // An instance never seen can only be adopted on its word that it bound a port, never on a failure.
    if (right === 'none' || (known === undefined && status === 'failed')) {
      this.ignoreConfirmation(tempId, port, known ? 'not its offer' : 'unknown instance');
      return;
    }
    const instance = known ?? this.adopt(tempId, source);
    if (!instance) return;
    this.liveness.seen(tempId);
    if (instance.endpoint) this.offers.answered(instance.endpoint);
    const displaced = right === 'claim' ? this.credit(port, tempId) : undefined;
    instance.actor.send(status === 'bound' ? { type: 'CONFIRMED', port } : { type: 'BIND_FAILED', port });
    // Only now: the displaced instance's turn passes on, and the confirmer must have left the queue first.
    displaced?.actor.send({ type: 'OFFER_TAKEN' });
  }

  /** [PROTOCOL §5] true when the answer was a probe answer and was consumed. */
  answer(answer: wire.ProbeAnswer, source: Source): boolean {
    const probe = this.probes.get(answer.nonce);
    if (!probe) return false;
    this.probes.delete(answer.nonce);
    const { counters } = this.options;
    counters.probeAnswers++;
    const { tempId: prober, port } = probe;
    const answerer = answer.tempId;
    const rttMs = this.options.clock.now() - probe.sentAt;
    if (answerer === prober) {
      const instance = this.instances.get(prober);
      if (instance) instance.rttMs = rttMs;
      this.liveness.verified(prober);
      this.takeOver(port, answerer);
      instance?.actor.send({ type: 'PROBE_ANSWERED' });
      return true;
    }
    // [PROTOCOL §5] another instance receives on this port (JUCE's shared-port bug): the port is the answerer's.
    counters.probeWrongOwner++;
    this.options.log('probe_wrong_owner', 'warn', { port, expected: prober, answeredBy: answerer }, 'probe answered by another instance: port credited to it');
    const holder = this.instances.get(answerer) ?? this.adopt(answerer, source);
    if (!holder) {
      // Someone we cannot track receives there: keep the port out of circulation for a while.
      this.holders.delete(port);
      this.pool.quarantine(port);
      this.instances.get(prober)?.actor.send({ type: 'PORT_LOST', heldBy: answerer });
      return true;
    }
    holder.host = source.address;
    holder.rttMs = rttMs;
    this.takeOver(port, answerer);
    this.instances.get(prober)?.actor.send({ type: 'PORT_LOST', heldBy: answerer });
    holder.actor.send({ type: 'PORT_PROVEN', port });
    this.liveness.verified(answerer);
    return true;
  }

  /** [PROTOCOL §7] `from`: the sender's address, which must be the one the request came from (the CLI passes none). */
  release(tempId: string, from?: string): boolean {
    const instance = this.instances.get(tempId);
    if (!instance) return false;
    if (from !== undefined && from !== instance.origin) {
      this.options.counters.releasesRefused++;
      this.options.log('release_refused', 'warn', { tempId, from, origin: instance.origin }, 'release from another host than the request: ignored');
      return false;
    }
    instance.actor.send({ type: 'RELEASE' });
    return true;
  }

  /**
   * Plugin traffic naming an instance by tempID or trackID keeps its lease alive. [PROTOCOL §9]
   * The hot path of telemetry: two Map lookups and a number written.
   */
  seen(id: string): boolean {
    const tempId = this.instances.has(id) ? id : this.tracks.get(id);
    if (tempId === undefined) return false;
    this.liveness.seen(tempId);
    return true;
  }

  /** The plugin confirmed ChattyChannels' trackID for it. */
  setTrack(tempId: string, trackId: string): void {
    const instance = this.instances.get(tempId);
    if (!instance || instance.trackId === trackId) return;
    if (instance.trackId !== null) this.tracks.delete(instance.trackId);
    instance.trackId = trackId;
    this.tracks.set(trackId, tempId);
    if (instance.persistedPort !== undefined) this.keeper.keep(instance, instance.persistedPort);
  }

  /**
   * Takes back the leases of a previous run [PROTOCOL §8]: each port is held for
   * its instance and probed before it is trusted; whoever does not answer expires.
   */
  restore(state: JournalState): void {
    // Remembered ports go to the back of the pool, so newcomers take other ports first.
    for (const port of this.keeper.restore(state)) this.pool.moveToBack(port);
    for (const lease of state.leases.values()) {
      if (!this.pool.claim(lease.port)) {
        this.options.logger.warn({ tempId: lease.tempId, port: lease.port }, 'restored lease outside the pool or taken: dropped');
        this.options.store?.drop(lease.tempId, lease.port, 'not restorable');
        continue;
      }
      this.holders.set(lease.port, lease.tempId);
      const endpoint = lease.endpoint ? endpointOf(lease.endpoint.host, lease.endpoint.port) : undefined;
      const instance = this.createInstance(lease.tempId, endpoint, lease.host, lease.port, lease.port);
      instance.trackId = lease.trackId;
      instance.persistedPort = lease.port;
      instance.boundSince = lease.boundAt;
      if (lease.trackId !== null) this.tracks.set(lease.trackId, lease.tempId);
      this.restoreDeadlines.set(lease.tempId, this.options.clock.now() + this.restoredLifetimeMs(lease.lastSeen));
    }
    this.options.logger.info({ leases: state.leases.size }, 'leases restored: verifying each by probe');
  }

  // ---- queries ----

  leases(): LeaseView[] {
    const views: LeaseView[] = [];
    for (const instance of this.instances.values()) views.push(this.view(instance));
    return views;
  }

  countByState(): Record<LeaseState, number> {
    const counts: Record<LeaseState, number> = { requesting: 0, assigned: 0, verifying: 0, bound: 0 };
    for (const instance of this.instances.values()) counts[this.standing(instance).state]++;
    return counts;
  }

  lease(tempId: string): LeaseView | undefined {
    const instance = this.instances.get(tempId);
    return instance && this.view(instance);
  }

  /** The address an instance's port lives on. */
  hostOf(tempId: string): string | undefined {
    return this.instances.get(tempId)?.host;
  }

  holderOf(port: number): string | undefined {
    return this.holders.get(port);
  }

  /**
   * The pool's books must balance: free + quarantined + held by leases = pool size, every held port is taken
   * in the pool and credited to exactly one live lease that is on it, and every lease on a port is credited
   * with it. Returns what does not hold (empty when all is well); the tests run it after every scenario.
   */
  checkInvariants(): string[] {
    const problems: string[] = [];
    const { size, free, quarantined } = this.pool;
    if (free + quarantined + this.holders.size !== size) {
      problems.push(`free ${free} + quarantined ${quarantined} + held ${this.holders.size} is not the pool size ${size}`);
    }
    for (const [port, tempId] of this.holders) {
      const state = this.pool.stateOf(port);
      if (state !== 'taken') problems.push(`port ${port} is credited to ${tempId} but ${state} in the pool`);
      const instance = this.instances.get(tempId);
      if (!instance) problems.push(`port ${port} is credited to ${tempId}, which has no lease`);
      else if (this.standing(instance).port !== port && instance.allocating !== port) {
        problems.push(`port ${port} is credited to ${tempId}, whose lease is on ${this.standing(instance).port}`);
      }
    }
    for (const instance of this.instances.values()) {
      const { port, state } = this.standing(instance);
      // A challenger verifies a port credited to another: the probe decides who holds it.
      if (port >= 0 && this.holders.get(port) !== instance.tempId && state !== 'verifying') {
        problems.push(`${instance.tempId} is on port ${port}, which is credited to ${this.holders.get(port) ?? 'nobody'}`);
      }
    }
    return problems;
  }

  get size(): number {
    return this.instances.size;
  }

  close(): void {
    this.closed = true;
    this.offers.close();
    this.keeper.close();
    this.liveness.stop();
    this.requestDeadlines.stop();
    this.restoreDeadlines.stop();
    for (const instance of this.instances.values()) instance.actor.stop();
    this.instances.clear();
  }

  // ---- bookkeeping ----

  private createInstance(
    tempId: string,
    endpoint: Endpoint | undefined,
    host: string,
    preferredPort: number,
    restoredPort?: number,
  ): Instance {
    const input = { tempId, settings: this.options.settings, ...(restoredPort === undefined ? {} : { restoredPort }) };
    const actor = createActor(this.machine, { input, clock: this.options.clock });
    const now = this.options.clock.now();
    const instance: Instance = {
      tempId,
      actor,
      endpoint,
      turnKey: undefined,
      host,
      origin: endpoint?.host ?? host,
      allocating: undefined,
      preferredPort,
      nonces: [],
      requestedAt: endpoint && restoredPort === undefined ? now : undefined,
      createdAt: now,
      boundSince: undefined,
      trackId: null,
      rttMs: null,
      persistedPort: undefined,
      endedAs: undefined,
      lostTo: undefined,
    };
    this.instances.set(tempId, instance);
    if (restoredPort === undefined) this.unverified.add(tempId);
    const forget = () => {
      if (this.instances.get(tempId) !== instance) return;
      this.instances.delete(tempId);
      this.unverified.delete(tempId);
      this.requestDeadlines.cancel(tempId);
      this.restoreDeadlines.cancel(tempId);
      this.liveness.forget(tempId);
      if (instance.trackId !== null && this.tracks.get(instance.trackId) === tempId) this.tracks.delete(instance.trackId);
    };
    actor.subscribe({
      complete: forget,
      error: (err) => {
        // One misbehaving instance ends its own lease, never the coordinator.
        this.options.log('machine_failed', 'error', { tempId, err }, 'instance machine failed');
        forget();
      },
    });
    actor.start();
    return instance;
  }

  /** An instance that never asked (its request was lost) but turned up on a port; refused past the cap. */
  private adopt(tempId: string, source: Source): Instance | undefined {
    if (this.instances.size >= this.options.settings.maxInstances && !this.evictOldestUnverified()) {
      this.options.log('adopt_refused', 'warn', { tempId, instances: this.instances.size }, 'too many instances: unknown instance ignored');
      return undefined;
    }
    return this.createInstance(tempId, undefined, source.address, -1);
  }

  /** Makes room for a newcomer: the instance waiting longest without ever being verified lapses. */
  private evictOldestUnverified(): boolean {
    const oldest = this.unverified.values().next();
    if (oldest.done) return false;
    this.unverified.delete(oldest.value);
    this.options.counters.evicted++;
    this.options.log('evicted', 'info', { tempId: oldest.value }, 'instance table full: the oldest instance never verified is dropped');
    this.instances.get(oldest.value)?.actor.send({ type: 'EVICTED' });
    return true;
  }

  private refuseBusy(tempId: string, endpoint: Endpoint, detail: string): void {
    this.options.counters.busy++;
    this.options.log('busy', 'warn', { tempId, endpoint: endpoint.key, detail }, 'request refused: busy');
    this.sendError(endpoint, tempId, 'busy', detail);
  }

  private ignoreConfirmation(tempId: string, port: number, why: string): void {
    this.options.counters.confirmationsIgnored++;
    this.options.log('confirm_ignored', 'warn', { tempId, port, why }, 'confirmation ignored: it changes nothing');
  }

  /** The whole resend schedule of one offer: how long a request may wait for its port. [PROTOCOL §3] */
  private requestLifetimeMs(): number {
    const { assignTimeoutMs, assignTimeoutMaxMs, assignResends } = this.options.settings;
    let total = 0;
    for (let resend = 0; resend <= assignResends; resend++) total += Math.min(assignTimeoutMs * 2 ** resend, assignTimeoutMaxMs);
    return total;
  }

  /**
   * [PROTOCOL §8] A restored lease expires on the absolute clock: a liveness window after its last sign of
   * life (so restarting often never extends it), but never before one liveness check has had its time.
   */
  private restoredLifetimeMs(lastSeenWall: number): number {
    const { livenessIntervalMs, probeTimeoutMs, livenessProbes } = this.options.settings;
    const checkMs = probeTimeoutMs * (2 ** livenessProbes - 1);
    return Math.max(lastSeenWall + livenessIntervalMs + checkMs - this.wallNow(), checkMs);
  }

  /** The top-level state and the port, all that the store and the counts need. */
  private standing(instance: Instance): { state: LeaseState; port: number } {
    const snapshot = instance.actor.getSnapshot();
    const state = (typeof snapshot.value === 'string' ? snapshot.value : Object.keys(snapshot.value)[0]) as LeaseState;
    return { state, port: snapshot.context.port };
  }

  private view(instance: Instance): LeaseView {
    const { state, port } = this.standing(instance);
    const now = this.options.clock.now();
    const lastSeen = this.liveness.lastSeen(instance.tempId);
    return {
      tempId: instance.tempId,
      port,
      state,
      endpoint: instance.endpoint?.key,
      trackId: instance.trackId,
      ageMs: Math.round(instance.boundSince === undefined ? now - instance.createdAt : this.wallNow() - instance.boundSince),
      lastSeenMs: lastSeen === undefined ? null : Math.round(now - lastSeen),
      rttMs: instance.rttMs === null ? null : Math.round(instance.rttMs * 100) / 100,
    };
  }

  private onLivenessDeadline(tempId: string): void {
    const instance = this.instances.get(tempId);
    if (!instance) return;
    const snapshot = instance.actor.getSnapshot();
    if (snapshot.matches({ bound: 'checking' })) {
      this.options.counters.probeFailures++;
      instance.actor.send({ type: 'LIVENESS_TIMEOUT' });
    } else if (snapshot.matches({ bound: 'alive' })) {
      if (this.liveness.isDue(tempId)) instance.actor.send({ type: 'LIVENESS_DUE' });
      else this.liveness.scheduleCheck(tempId);
    }
  }

  /** A repeated request may come from a new response endpoint (an SDK client that restarted its socket). */
  private moveEndpoint(instance: Instance, endpoint: Endpoint): void {
    if (instance.endpoint?.key === endpoint.key) return;
    const previous = instance.endpoint;
    instance.endpoint = endpoint;
    this.offers.moveEndpoint(instance, previous);
  }

  private withInstance(tempId: string, effect: (instance: Instance) => void): void {
    const instance = this.instances.get(tempId);
    if (instance) effect(instance);
  }

  /**
   * [PROTOCOL §3, §4] What a confirmation of `port`, which is not the instance's own offer, may do.
   * `claim` (the port is credited to it): an offer out to another instance at the same endpoint (crossed:
   * deployed plugins take whatever arrives there), an offer at that endpoint set aside unanswered (a late
   * confirmation), or, from an instance never seen (its request was lost), a port nobody holds.
   * `challenge`: an instance never seen names a port another lease holds; only the probe that follows can
   * move it (the newest SO_REUSEADDR socket receives there). `none`: anything else, which changes nothing.
   */
  private rightTo(known: Instance | undefined, port: number, source: Source): 'claim' | 'challenge' | 'none' {
    if (known && !['requesting', 'assigned'].includes(this.standing(known).state)) return 'none';
    const atSameEndpoint = (key: string | undefined) =>
      key !== undefined && (known ? known.endpoint?.key === key : key.slice(0, key.lastIndexOf(':')) === source.address);
    const holder = this.holders.get(port);
    if (holder !== undefined) {
      const other = this.instances.get(holder);
      if (!other || other === known) return 'none';
      if (this.standing(other).state === 'assigned') return atSameEndpoint(other.endpoint?.key) ? 'claim' : 'none';
      return known === undefined ? 'challenge' : 'none';
    }
    const state = this.pool.stateOf(port);
    if (state === 'quarantined') return atSameEndpoint(this.lastOffer.get(port)) ? 'claim' : 'none';
    return state === 'free' && known === undefined ? 'claim' : 'none';
  }

  /** Credits `port` to `tempId`; returns the instance it was offered to, if it moved from one (a crossed assignment). */
  private credit(port: number, tempId: string): Instance | undefined {
    const holder = this.holders.get(port);
    this.holders.set(port, tempId);
    if (holder === undefined) {
      this.pool.claim(port);
      return undefined;
    }
    this.options.counters.crossed++;
    this.options.logger.debug({ port, offeredTo: holder, takenBy: tempId }, 'crossed assignment: port credited to the instance that took it');
    return this.instances.get(holder);
  }

  /** A probe proved `tempId` receives on `port`: whoever else was credited with it has lost it. */
  private takeOver(port: number, tempId: string): void {
    const previous = this.holders.get(port);
    this.holders.set(port, tempId);
    if (previous === undefined || previous === tempId) return;
    const loser = this.instances.get(previous);
    if (!loser || loser.actor.getSnapshot().context.port !== port) return;
    // The machine decides whether this ends the lease as stolen or only fails a verification.
    loser.lostTo = { port, heldBy: tempId };
    loser.actor.send({ type: 'PORT_LOST', heldBy: tempId });
  }

  // ---- turns ----

  private awaitOffer(tempId: string): void {
    const instance = this.instances.get(tempId);
    if (!instance) return;
    if (instance.endpoint) {
      this.offers.await(instance);
      return;
    }
    // First seen in a confirmation or probe answer, its port event follows at once. If it is still
    // waiting after that, it has lost its port and no offer could reach it: forget it.
    queueMicrotask(() => {
      if (this.instances.get(tempId) !== instance || !instance.actor.getSnapshot().matches('requesting')) return;
      this.options.log('forgotten', 'info', { tempId }, 'instance without a response endpoint has no port: forgotten until it asks');
      instance.actor.send({ type: 'RELEASE' });
    });
  }

  // ---- effects ----

  /** Actions run mid-transition; listeners should see the state the instance settles in. */
  private emitSettled<K extends keyof AssignmentEvents>(event: K, ...args: AssignmentEvents[K]): void {
    queueMicrotask(() => this.emit(event, ...(args as never)));
  }

  private sendAssignment(tempId: string, port: number): void {
    const endpoint = this.instances.get(tempId)?.endpoint;
    if (!endpoint || port < 0) return;
    this.options.counters.assignments++;
    this.lastOffer.set(port, endpoint.key);
    this.options.send(wire.portAssignment(tempId, port, 'assigned'), endpoint.host, endpoint.port);
  }

  private sendProbe(tempId: string, port: number): void {
    const instance = this.instances.get(tempId);
    if (!instance || port < 0) return;
    const nonce = this.options.createNonce();
    this.probes.set(nonce, { tempId, port, sentAt: this.options.clock.now() });
    instance.nonces.push(nonce);
    this.options.counters.probesSent++;
    this.options.send(wire.queryRms(nonce), instance.host, port);
  }

  /** Earlier nonces stay valid until verification ends: a busy plugin may answer the first probe late. */
  private cancelProbes(tempId: string): void {
    const instance = this.instances.get(tempId);
    if (!instance) return;
    for (const nonce of instance.nonces) this.probes.delete(nonce);
    instance.nonces.length = 0;
  }

  private returnPort(tempId: string, port: number): void {
    if (port < 0 || this.holders.get(port) !== tempId) return;
    this.holders.delete(port);
    this.pool.release(port);
  }

  /** Only a port credited to the instance: a port nobody holds is never set aside on an instance's word. */
  private quarantinePort(tempId: string, port: number): void {
    if (port < 0 || this.holders.get(port) !== tempId) return;
    this.holders.delete(port);
    this.pool.quarantine(port);
    this.options.counters.quarantined++;
  }

  private reportBound(tempId: string, port: number): void {
    const instance = this.instances.get(tempId);
    if (!instance) return;
    const now = this.options.clock.now();
    const handshakeMs = instance.requestedAt === undefined ? undefined : now - instance.requestedAt;
    instance.requestedAt = undefined;
    instance.boundSince ??= this.wallNow();
    this.unverified.delete(tempId);
    this.requestDeadlines.cancel(tempId);
    this.restoreDeadlines.cancel(tempId);
    this.liveness.verified(tempId);
    this.keeper.remember(tempId, port);
    this.keeper.keep(instance, port);
    this.options.counters.bound++;
    this.options.log('bound', 'info', { tempId, port, handshakeMs }, 'port verified');
    this.emitSettled('bound', { tempId, port, handshakeMs });
  }

  /** The journal keeps when the lease last showed life, so a restart counts its silence from then. [PROTOCOL §8] */
  private reportAlive(tempId: string, port: number): void {
    const instance = this.instances.get(tempId);
    if (instance) this.keeper.keep(instance, port);
  }

  private reportUnbound(tempId: string): void {
    const instance = this.instances.get(tempId);
    if (instance) this.keeper.dropWhenSettled(instance);
  }

  private reportFailure(context: AssignmentContext): void {
    const { code, detail } = context.error ?? { code: 'retries_exhausted' as const, detail: 'failed' };
    this.options.counters.failed++;
    this.options.log(`failed ${code}`, 'warn', { tempId: context.tempId, code, detail }, 'no port for instance');
    const endpoint = this.instances.get(context.tempId)?.endpoint;
    if (endpoint) this.sendError(endpoint, context.tempId, code, detail);
    this.emitSettled('failed', { tempId: context.tempId, code, detail });
  }

  /** [PROTOCOL §2] the error status, then the reason in a separate message. */
  sendError(endpoint: Endpoint, tempId: string, code: wire.ErrorCode, detail: string): void {
    this.options.send(wire.portAssignment(tempId, -1, 'error'), endpoint.host, endpoint.port);
    this.options.send(wire.portError(tempId, code, detail), endpoint.host, endpoint.port);
  }

  private reportEnd(tempId: string, how: 'lapsed' | 'released' | 'expired' | 'stolen'): void {
    const instance = this.instances.get(tempId);
    if (instance) {
      instance.endedAs = how;
      // A restored lease ends without ever re-entering `bound`.
      if (instance.persistedPort !== undefined) this.keeper.dropWhenSettled(instance);
    }
    if (how === 'stolen') {
      this.options.counters.steals++;
      const { port, heldBy } = instance?.lostTo ?? { port: -1, heldBy: '' };
      this.options.log('stolen', 'warn', { port, tempId, stolenBy: heldBy }, 'lease ended: port stolen by another instance (co-bound with SO_REUSEADDR)');
    } else {
      if (how === 'expired') this.options.counters.expiries++;
      else this.options.counters[how]++;
      this.options.log(how, 'info', { tempId }, END_MESSAGES[how]);
    }
    this.emitSettled(how, { tempId });
  }
}
