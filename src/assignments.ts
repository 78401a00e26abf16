import { EventEmitter } from 'node:events';
import { createActor } from 'xstate';
import {
  portAssignmentMachine,
  type AssignmentContext,
  type AssignmentSettings,
  type PortParams,
} from '../machines/port-assignment.js';
import type { OscMessage } from './core/codec.js';
import { PortPool } from './core/pool.js';
import * as wire from './core/wire.js';
import type { Counters } from './counters.js';
import { endpointOf, type Clock, type Endpoint, type Instance, type Source } from './instance.js';
import type { JournalState } from './journal.js';
import { LeaseKeeper, type LeaseStore } from './lease-keeper.js';
import { Liveness, type LivenessSettings } from './liveness.js';
import type { Logger } from './log.js';
import { Offers } from './offers.js';
import type { PortIsFree } from './port-check.js';

export type Send = (message: OscMessage, host: string, port: number) => void;

export interface AssignmentsOptions {
  settings: AssignmentSettings &
    LivenessSettings & { poolLow: number; poolHigh: number; reserved: readonly number[]; quarantineMs: number; maxInstances: number };
  send: Send;
  portIsFree: PortIsFree;
  createNonce: () => string;
  clock: Clock;
  /** Wall-clock time for what outlives the process (the journal). */
  wallNow?: () => number;
  store?: LeaseStore;
  logger: Logger;
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
  private readonly machine;
  private readonly wallNow: () => number;
  private closed = false;

  constructor(private readonly options: AssignmentsOptions) {
    super();
    const { settings, clock } = options;
    this.wallNow = options.wallNow ?? Date.now;
    this.liveness = new Liveness(clock, settings, (tempId) => this.onLivenessDeadline(tempId));
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
    if (this.instances.size >= this.options.settings.maxInstances) {
      logger.warn({ tempId: request.tempId, instances: this.instances.size }, 'too many instances: request refused');
      this.sendError(endpoint, request.tempId, 'pool_exhausted', `coordinator already tracks ${this.instances.size} instances`);
      return;
    }
    // [PROTOCOL §8] a returning instance gets its last port back if nobody holds it.
    const preferredPort = request.preferredPort > 0 ? request.preferredPort : (this.keeper.lastPort(request.tempId) ?? -1);
    logger.debug({ tempId: request.tempId, endpoint: endpoint.key, preferredPort }, 'port requested');
    this.createInstance(request.tempId, endpoint, source.address, preferredPort);
  }

  /** [PROTOCOL §4] */
  confirm(confirmation: wire.PortConfirmation, source: Source): void {
    const { counters, logger } = this.options;
    const { tempId, port, status } = confirmation;
    counters.confirmations++;
    const portState = this.pool.stateOf(port);
    if (portState === 'outside' || portState === 'reserved') {
      counters.invalid++;
      logger.warn({ tempId, port }, 'confirmation for a port outside the pool: ignored');
      return;
    }
    const instance = this.instances.get(tempId) ?? this.adopt(tempId, source);
    if (!instance) return;
    instance.host = source.address;
    this.liveness.seen(tempId);
    if (instance.endpoint) this.offers.answered(instance.endpoint);
    const credit = this.creditConfirmation(tempId, port);
    if (credit === 'refused') {
      counters.invalid++;
      logger.warn({ tempId, port }, 'confirmation for a port being allocated to another instance: ignored');
      return;
    }
    instance.actor.send(status === 'bound' ? { type: 'CONFIRMED', port } : { type: 'BIND_FAILED', port });
    // Only now: the displaced instance's turn passes on, and the confirmer must have left the queue first.
    credit?.actor.send({ type: 'OFFER_TAKEN' });
  }

  /** [PROTOCOL §5] true when the answer was a probe answer and was consumed. */
  answer(answer: wire.ProbeAnswer, source: Source): boolean {
    const probe = this.probes.get(answer.nonce);
    if (!probe) return false;
    this.probes.delete(answer.nonce);
    const { counters, logger } = this.options;
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
    logger.warn({ port, expected: prober, answeredBy: answerer }, 'probe answered by another instance: port credited to it');
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

  /** [PROTOCOL §7] */
  release(tempId: string): boolean {
    const instance = this.instances.get(tempId);
    if (!instance) return false;
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

  get size(): number {
    return this.instances.size;
  }

  close(): void {
    this.closed = true;
    this.offers.close();
    this.keeper.close();
    this.liveness.stop();
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
    const forget = () => {
      if (this.instances.get(tempId) !== instance) return;
      this.instances.delete(tempId);
      this.liveness.forget(tempId);
      if (instance.trackId !== null && this.tracks.get(instance.trackId) === tempId) this.tracks.delete(instance.trackId);
    };
    actor.subscribe({
      complete: forget,
      error: (err) => {
        // One misbehaving instance ends its own lease, never the coordinator.
        this.options.logger.error({ tempId, err }, 'instance machine failed');
        forget();
      },
    });
    actor.start();
    return instance;
  }

  /** An instance that never asked (its request was lost) but turned up on a port; refused past the cap. */
  private adopt(tempId: string, source: Source): Instance | undefined {
    if (this.instances.size >= this.options.settings.maxInstances) {
      this.options.logger.warn({ tempId, instances: this.instances.size }, 'too many instances: unknown instance ignored');
      return undefined;
    }
    return this.createInstance(tempId, undefined, source.address, -1);
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
   * Credits `port` to the instance that confirmed it. An unconfirmed offer moves
   * to the confirmer at once (a crossed assignment): the instance it was offered
   * to is returned, to be told. A port another instance already confirmed stays
   * with it until a probe says otherwise.
   */
  private creditConfirmation(tempId: string, port: number): Instance | 'refused' | undefined {
    const holder = this.holders.get(port);
    if (holder === tempId) return undefined;
    if (holder === undefined) {
      if (!this.pool.claim(port)) return 'refused';
      this.holders.set(port, tempId);
      return undefined;
    }
    const other = this.instances.get(holder);
    if (!other?.actor.getSnapshot().matches('assigned')) return undefined;
    this.options.counters.crossed++;
    this.options.logger.debug({ port, offeredTo: holder, takenBy: tempId }, 'crossed assignment: port credited to the instance that took it');
    this.holders.set(port, tempId);
    return other;
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
      this.options.logger.info({ tempId }, 'instance without a response endpoint has no port: forgotten until it asks');
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

  private quarantinePort(tempId: string, port: number): void {
    if (port < 0) return;
    const holder = this.holders.get(port);
    if (holder !== undefined && holder !== tempId) return;
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
    this.liveness.verified(tempId);
    this.keeper.remember(tempId, port);
    this.keeper.keep(instance, port);
    this.options.counters.bound++;
    this.options.logger.info({ tempId, port, handshakeMs }, 'port verified');
    this.emitSettled('bound', { tempId, port, handshakeMs });
  }

  private reportUnbound(tempId: string): void {
    const instance = this.instances.get(tempId);
    if (instance) this.keeper.dropWhenSettled(instance);
  }

  private reportFailure(context: AssignmentContext): void {
    const { code, detail } = context.error ?? { code: 'retries_exhausted' as const, detail: 'failed' };
    this.options.counters.failed++;
    this.options.logger.warn({ tempId: context.tempId, code, detail }, 'no port for instance');
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
      this.options.logger.warn({ port, tempId, stolenBy: heldBy }, 'lease ended: port stolen by another instance (co-bound with SO_REUSEADDR)');
    } else {
      if (how === 'expired') this.options.counters.expiries++;
      else this.options.counters[how]++;
      this.options.logger.info({ tempId }, END_MESSAGES[how]);
    }
    this.emitSettled(how, { tempId });
  }
}
