import { EventEmitter } from 'node:events';
import { createActor, type Actor } from 'xstate';
import {
  portAssignmentMachine,
  type AssignmentContext,
  type AssignmentSettings,
  type PortParams,
} from '../machines/port-assignment.js';
import type { OscMessage } from './core/codec.js';
import { EndpointQueue } from './core/endpoint-queue.js';
import { PortPool } from './core/pool.js';
import * as wire from './core/wire.js';
import type { Counters } from './counters.js';
import type { Logger } from './log.js';
import type { PortIsFree } from './port-check.js';

export interface Clock {
  setTimeout(fn: (...args: unknown[]) => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
  now(): number;
}

export interface Endpoint {
  host: string;
  port: number;
  key: string;
}

export interface Source {
  address: string;
  port: number;
}

export type Send = (message: OscMessage, host: string, port: number) => void;

export interface AssignmentsOptions {
  settings: AssignmentSettings & { poolLow: number; poolHigh: number; reserved: readonly number[]; quarantineMs: number; maxInstances: number };
  send: Send;
  portIsFree: PortIsFree;
  createNonce: () => string;
  clock: Clock;
  logger: Logger;
  counters: Counters;
}

export type LeaseState = 'requesting' | 'assigned' | 'verifying' | 'bound';

export interface LeaseView {
  tempId: string;
  port: number;
  state: LeaseState;
  endpoint: string | undefined;
}

export interface AssignmentEvents {
  bound: [{ tempId: string; port: number; handshakeMs: number | undefined }];
  failed: [{ tempId: string; code: string; detail: string }];
  lapsed: [{ tempId: string }];
  released: [{ tempId: string }];
  lost: [{ tempId: string; port: number; heldBy: string }];
}

type InstanceActor = Actor<typeof portAssignmentMachine>;

interface Instance {
  tempId: string;
  actor: InstanceActor;
  /** Where assignments go; undefined for an instance first seen in a confirmation or probe answer. */
  endpoint: Endpoint | undefined;
  /** The endpoint whose turn this instance holds, kept apart so a repeated request can move `endpoint`. */
  turnKey: string | undefined;
  /** Host its receiving port lives on: the address its messages come from. */
  host: string;
  preferredPort: number;
  nonces: string[];
  requestedAt: number | undefined;
}

interface PendingProbe {
  tempId: string;
  port: number;
}

export function endpointOf(host: string, port: number): Endpoint {
  return { host, port, key: `${host}:${port}` };
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
  private readonly queue = new EndpointQueue();
  /** Consecutive unanswered assignments per endpoint: a DAW loading a project answers late. */
  private readonly endpointBackoff = new Map<string, number>();
  private readonly machine;
  private closed = false;

  constructor(private readonly options: AssignmentsOptions) {
    super();
    const { settings, clock } = options;
    this.pool = new PortPool({
      low: settings.poolLow,
      high: settings.poolHigh,
      reserved: settings.reserved,
      quarantineMs: settings.quarantineMs,
      now: () => clock.now(),
    });
    this.machine = portAssignmentMachine.provide({
      actions: {
        awaitOffer: ({ context }) => this.awaitOffer(context.tempId),
        withdrawRequest: ({ context }) => this.withdrawRequest(context.tempId),
        sendAssignment: ({ context }, { port }: PortParams) => this.sendAssignment(context.tempId, port),
        endTurn: ({ context }) => this.endTurn(context.tempId),
        noteTimeout: ({ context }) => this.noteTimeout(context),
        sendProbe: ({ context }, { port }: PortParams) => this.sendProbe(context.tempId, port),
        cancelProbes: ({ context }) => this.cancelProbes(context.tempId),
        returnPort: ({ context }, { port }: PortParams) => this.returnPort(context.tempId, port),
        quarantinePort: ({ context }, { port }: PortParams) => this.quarantinePort(context.tempId, port),
        reportBound: ({ context }, { port }: PortParams) => this.reportBound(context.tempId, port),
        reportFailure: ({ context }) => this.reportFailure(context),
        reportLapsed: ({ context }) => this.reportEnd(context.tempId, 'lapsed'),
        reportReleased: ({ context }) => this.reportEnd(context.tempId, 'released'),
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
      this.moveEndpoint(known, endpoint);
      known.actor.send({ type: 'REQUEST_AGAIN' });
      return;
    }
    if (this.instances.size >= this.options.settings.maxInstances) {
      logger.warn({ tempId: request.tempId, instances: this.instances.size }, 'too many instances: request refused');
      this.sendError(endpoint, request.tempId, 'pool_exhausted', `coordinator already tracks ${this.instances.size} instances`);
      return;
    }
    logger.debug({ tempId: request.tempId, endpoint: endpoint.key, preferredPort: request.preferredPort }, 'port requested');
    this.createInstance(request.tempId, endpoint, source.address, request.preferredPort);
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
    if (instance.endpoint) this.endpointBackoff.delete(instance.endpoint.key);
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
    if (answerer === prober) {
      this.takeOver(port, answerer);
      this.instances.get(prober)?.actor.send({ type: 'PROBE_ANSWERED' });
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
    this.takeOver(port, answerer);
    this.instances.get(prober)?.actor.send({ type: 'PORT_LOST', heldBy: answerer });
    holder.actor.send({ type: 'PORT_PROVEN', port });
    return true;
  }

  /** [PROTOCOL §7] */
  release(tempId: string): boolean {
    const instance = this.instances.get(tempId);
    if (!instance) return false;
    instance.actor.send({ type: 'RELEASE' });
    return true;
  }

  // ---- queries ----

  leases(): LeaseView[] {
    const views: LeaseView[] = [];
    for (const instance of this.instances.values()) views.push(this.view(instance));
    return views;
  }

  lease(tempId: string): LeaseView | undefined {
    const instance = this.instances.get(tempId);
    return instance && this.view(instance);
  }

  holderOf(port: number): string | undefined {
    return this.holders.get(port);
  }

  get size(): number {
    return this.instances.size;
  }

  close(): void {
    this.closed = true;
    for (const instance of this.instances.values()) instance.actor.stop();
    this.instances.clear();
  }

  // ---- bookkeeping ----

  private createInstance(tempId: string, endpoint: Endpoint | undefined, host: string, preferredPort: number): Instance {
    const actor = createActor(this.machine, {
      input: { tempId, settings: this.options.settings },
      clock: this.options.clock,
    });
    const instance: Instance = {
      tempId,
      actor,
      endpoint,
      turnKey: undefined,
      host,
      preferredPort,
      nonces: [],
      requestedAt: endpoint ? this.options.clock.now() : undefined,
    };
    this.instances.set(tempId, instance);
    actor.subscribe({
      complete: () => {
        if (this.instances.get(tempId) === instance) this.instances.delete(tempId);
      },
      error: (err) => {
        // One misbehaving instance ends its own lease, never the coordinator.
        this.options.logger.error({ tempId, err }, 'instance machine failed');
        if (this.instances.get(tempId) === instance) this.instances.delete(tempId);
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

  private view(instance: Instance): LeaseView {
    const snapshot = instance.actor.getSnapshot();
    const state = (typeof snapshot.value === 'string' ? snapshot.value : Object.keys(snapshot.value)[0]) as LeaseState;
    return { tempId: instance.tempId, port: snapshot.context.port, state, endpoint: instance.endpoint?.key };
  }

  /** A repeated request may come from a new response endpoint (an SDK client that restarted its socket). */
  private moveEndpoint(instance: Instance, endpoint: Endpoint): void {
    if (instance.endpoint?.key === endpoint.key) return;
    const previous = instance.endpoint;
    instance.endpoint = endpoint;
    if (instance.actor.getSnapshot().matches('requesting')) {
      if (previous) this.queue.withdraw(previous.key, instance.tempId);
      this.awaitOffer(instance.tempId);
    }
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
    if (loser && loser.actor.getSnapshot().context.port === port) {
      this.options.counters.steals++;
      this.emitSettled('lost', { tempId: previous, port, heldBy: tempId });
      loser.actor.send({ type: 'PORT_LOST', heldBy: tempId });
    }
  }

  // ---- turns and offers ----

  private awaitOffer(tempId: string): void {
    const instance = this.instances.get(tempId);
    if (!instance) return;
    if (!instance.endpoint) {
      // First seen in a confirmation or probe answer, its port event follows at once. If it is still
      // waiting after that, it has lost its port and no offer could reach it: forget it.
      queueMicrotask(() => {
        if (this.instances.get(tempId) !== instance || !instance.actor.getSnapshot().matches('requesting')) return;
        this.options.logger.info({ tempId }, 'instance without a response endpoint has no port: forgotten until it asks');
        instance.actor.send({ type: 'RELEASE' });
      });
      return;
    }
    const key = instance.endpoint.key;
    const turn = this.queue.turnHolder(key);
    this.queue.enqueue(key, tempId);
    // The instance holding the turn now shares its endpoint: resending its port could reach another instance.
    if (turn !== undefined && turn !== tempId) this.instances.get(turn)?.actor.send({ type: 'ENDPOINT_SHARED' });
    this.pump(key);
  }

  private withdrawRequest(tempId: string): void {
    const key = this.instances.get(tempId)?.endpoint?.key;
    if (key) this.queue.withdraw(key, tempId);
  }

  private pump(key: string): void {
    if (this.closed) return;
    const tempId = this.queue.takeTurn(key);
    if (tempId === undefined) {
      if (!this.queue.isActive(key)) this.endpointBackoff.delete(key);
      return;
    }
    const instance = this.instances.get(tempId);
    if (!instance) {
      this.queue.endTurn(key, tempId);
      this.pump(key);
      return;
    }
    instance.turnKey = key;
    void this.offer(instance, key);
  }

  private async offer(instance: Instance, key: string): Promise<void> {
    const port = await this.allocate(instance.preferredPort);
    const stillWaiting =
      !this.closed &&
      this.instances.get(instance.tempId) === instance &&
      this.queue.holdsTurn(key, instance.tempId) &&
      instance.actor.getSnapshot().matches('requesting');
    if (!stillWaiting || port === null) {
      if (port !== null) this.pool.release(port);
      if (this.queue.endTurn(key, instance.tempId)) instance.turnKey = undefined;
      if (stillWaiting) instance.actor.send({ type: 'POOL_EXHAUSTED' });
      this.pump(key);
      return;
    }
    this.holders.set(port, instance.tempId);
    instance.actor.send({
      type: 'OFFER',
      port,
      shared: this.queue.waitingAt(key) > 0,
      backoff: this.endpointBackoff.get(key) ?? 0,
    });
  }

  /** [PROTOCOL §3] the preferred port if free, else the port released longest ago; never one another process holds. */
  private async allocate(preferredPort: number): Promise<number | null> {
    let preferred = preferredPort > 0 ? preferredPort : undefined;
    for (;;) {
      const port = this.pool.take(preferred);
      preferred = undefined;
      if (port === null) return null;
      if (await this.options.portIsFree(port)) return port;
      this.options.counters.portsHeldElsewhere++;
      this.options.logger.debug({ port }, 'port held by another process: skipped for now');
      this.pool.quarantine(port);
    }
  }

  private endTurn(tempId: string): void {
    const instance = this.instances.get(tempId);
    const key = instance?.turnKey;
    if (!instance || key === undefined) return;
    instance.turnKey = undefined;
    if (this.queue.endTurn(key, tempId)) this.pump(key);
  }

  /** Runs after `endTurn` (exit actions come first), so the endpoint, not the turn, names the key. */
  private noteTimeout(context: AssignmentContext): void {
    const key = this.instances.get(context.tempId)?.endpoint?.key;
    this.options.counters.assignmentTimeouts++;
    this.options.logger.debug({ tempId: context.tempId, port: context.port, resends: context.resends }, 'assignment unanswered');
    if (key !== undefined) this.endpointBackoff.set(key, (this.endpointBackoff.get(key) ?? 0) + 1);
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
    this.probes.set(nonce, { tempId, port });
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
    const handshakeMs = instance?.requestedAt === undefined ? undefined : this.options.clock.now() - instance.requestedAt;
    this.options.counters.bound++;
    this.options.logger.info({ tempId, port, handshakeMs }, 'port verified');
    this.emitSettled('bound', { tempId, port, handshakeMs });
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

  private reportEnd(tempId: string, how: 'lapsed' | 'released'): void {
    this.options.counters[how]++;
    this.options.logger.info({ tempId }, how === 'lapsed' ? 'offer lapsed: instance never confirmed' : 'port released');
    this.emitSettled(how, { tempId });
  }
}
