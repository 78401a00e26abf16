import net from 'node:net';
import { createActor } from 'xstate';
import { atlasSessionMachine, type Batch, type SessionSettings } from '../../machines/atlas-session.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { AtlasCounters } from './counters.js';
import { encodeLine, KEEPALIVE_PARAM, KEEPALIVE_REQUEST, LineSplitter, parseLine, type AtlasMessage, type Id } from './protocol.js';
import type { DeviceStates } from './subscriptions.js';

/** A warning a device or a stranger can cause, told at most once per interval per kind (see rate-limited-log). */
export type Warn = (kind: string, details: Record<string, unknown>, message: string) => void;

export type SessionState = 'connecting' | 'subscribing' | 'connected' | 'backoff' | 'stopped';

export interface AtlasSessionOptions {
  id: string;
  host: string;
  tcpPort: number;
  settings: SessionSettings;
  /** In [0, 1): spreads this session's reconnects apart from other sessions'. */
  jitterSeed: number;
  clock: Clock;
  logger: Logger;
  warn: Warn;
  /** Routine news (a link up), told at a bounded rate like a warning: a device that resets often must not flood the log. */
  note: Warn;
  counters: AtlasCounters;
  /** Bytes written with no word back on TCP, past which the device is taken for not reading and the link is dropped. */
  maxUnansweredBytes: number;
  /** Where what the device says of this processor's subscriptions is kept. */
  device: DeviceStates;
  /** A value that came on TCP (meters come by UDP, straight to the subscription table). */
  onUpdate(param: string, value: number | string): void;
}

/** Batches not answered are forgotten past this many, for a device that never acknowledges. */
const MAX_INFLIGHT = 256;

/**
 * The shell around one processor's session machine: the TCP socket, its line splitter, and the bookkeeping the
 * machine leaves to the edge (request ids, what the device acknowledged or refused). Meters never pass through
 * it: the device's keep-alive answer on UDP reaches it as an event (`keepAliveAnswered`).
 */
export class AtlasSession {
  private readonly options: AtlasSessionOptions;
  private readonly actor;
  private socket: net.Socket | undefined;
  /** Resolves when the last socket closed has gone. */
  private closing: Promise<void> = Promise.resolve();
  private nextId = 1;
  private readonly inflight = new Map<Id, Batch>();
  private connects = 0;
  /** Bytes written since the device last sent anything on TCP. */
  private unanswered = 0;
  /** Why this session dropped the link itself, when it did. */
  private dropped: string | undefined;

  constructor(options: AtlasSessionOptions) {
    this.options = options;
    const { id, settings, jitterSeed, clock } = options;
    const machine = atlasSessionMachine.provide({
      actions: {
        openConnection: () => this.open(),
        closeConnection: () => this.close(),
        sendBatch: (_, batch) => this.sendBatch(batch),
        sendKeepAlive: () => this.write(KEEPALIVE_REQUEST),
        reportConnected: () => options.note(`connected:${id}`, { processor: id }, 'atlas: connected'),
        reportDown: (_, { reason, retryInMs }) =>
          options.warn(`down:${id}`, { processor: id, reason, retryInMs }, 'atlas: link down, reconnecting'),
      },
    });
    this.actor = createActor(machine, { input: { settings, jitterSeed }, clock });
    this.actor.start();
  }

  want(param: string): void {
    this.actor.send({ type: 'WANT', param });
  }

  unwant(param: string): void {
    this.actor.send({ type: 'UNWANT', param });
  }

  /** The device showed it is alive: it answered a keep-alive, on TCP or on UDP. */
  keepAliveAnswered(): void {
    this.actor.send({ type: 'KEEPALIVE_ANSWERED' });
  }

  status(): { state: SessionState; connects: number; lastDown: string | undefined } {
    const snapshot = this.actor.getSnapshot();
    const state = (typeof snapshot.value === 'string' ? snapshot.value : Object.keys(snapshot.value)[0]) as SessionState;
    return { state, connects: this.connects, lastDown: snapshot.context.downReason };
  }

  /** A message from this processor on its TCP connection. */
  private receive(message: AtlasMessage): void {
    switch (message.kind) {
      case 'values':
      case 'result':
        for (const { param, value } of message.values) {
          if (param === KEEPALIVE_PARAM) this.keepAliveAnswered();
          else this.options.onUpdate(param, value);
        }
        if (message.kind === 'result') this.acknowledged(message.id);
        return;
      case 'error':
        return this.refused(message);
      case 'query':
      case 'write':
        this.options.logger.debug({ processor: this.options.id, method: message.method }, 'atlas: ignored a request from the device');
    }
  }

  async stop(): Promise<void> {
    this.actor.send({ type: 'STOP' });
    this.actor.stop();
    await this.closing;
  }

  private open(): void {
    const { host, tcpPort, id, counters, warn } = this.options;
    const socket = net.createConnection({ host, port: tcpPort });
    const splitter = new LineSplitter();
    let failure: string | undefined;
    this.unanswered = 0;
    this.dropped = undefined;
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('connect', () => {
      if (socket !== this.socket) return;
      this.connects++;
      this.actor.send({ type: 'CONNECTED' });
    });
    socket.on('data', (chunk: Buffer) => {
      if (socket !== this.socket) return;
      this.unanswered = 0;
      const overlong = splitter.overlong;
      for (const line of splitter.push(chunk)) {
        const parsed = parseLine(line);
        if (parsed.ok) {
          this.receive(parsed.message);
        } else {
          counters.badLines++;
          warn(`bad-tcp:${id}`, { processor: id, ...parsed.error }, 'atlas: dropped a bad line from the device (TCP)');
        }
      }
      if (splitter.overlong > overlong) {
        counters.badLines += splitter.overlong - overlong;
        warn(`bad-tcp:${id}`, { processor: id, code: 'too_long' }, 'atlas: dropped an overlong line from the device (TCP)');
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      failure = err.code ?? err.message;
    });
    socket.on('close', () => {
      if (socket !== this.socket) return;
      this.forgetConnection();
      this.actor.send({ type: 'CLOSED', reason: this.dropped ?? failure ?? 'closed by the device' });
    });
  }

  private close(): void {
    const socket = this.socket;
    this.forgetConnection();
    if (!socket || socket.destroyed) return;
    this.closing = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.destroy();
  }

  /** The device drops subscriptions with the connection: every wanted param is pending again. */
  private forgetConnection(): void {
    this.socket = undefined;
    this.inflight.clear();
    this.options.device.forgotten();
  }

  private sendBatch(batch: Batch): void {
    const id = this.nextId++;
    this.inflight.set(id, batch);
    if (this.inflight.size > MAX_INFLIGHT) this.inflight.delete(this.inflight.keys().next().value!);
    // Meters in dB; the id asks for an acknowledgement, so a refused param is never silent.
    this.write(encodeLine({ kind: 'query', method: batch.method, id, params: batch.params.map((param) => ({ param, fmt: 'val' })) }));
  }

  private write(line: string): void {
    const socket = this.socket;
    if (!socket || socket.destroyed) return;
    // A device that reads nothing would have writes queue without bound: it answers every batch and keep-alive on TCP.
    this.unanswered += Buffer.byteLength(line);
    if (this.unanswered > this.options.maxUnansweredBytes) {
      this.dropped = `the device reads nothing: ${this.unanswered} bytes sent with no answer`;
      socket.destroy();
      return;
    }
    socket.write(line);
  }


  private acknowledged(id: Id | undefined): void {
    const batch = id === undefined ? undefined : this.inflight.get(id);
    if (!batch) return;
    this.inflight.delete(id!);
    if (batch.method === 'sub') this.options.device.acknowledged(batch.params);
  }

  /** The manual's getResp carries no id, so an error is matched by the param it names when the id does not help. */
  private refused(error: Extract<AtlasMessage, { kind: 'error' }>): void {
    const { id: processor, warn } = this.options;
    const batch = error.id === undefined ? undefined : this.inflight.get(error.id);
    if (batch) this.inflight.delete(error.id!);
    const { device } = this.options;
    const named = error.param !== undefined && (batch ? batch.params.includes(error.param) : device.wanted(error.param));
    const params = named ? [error.param!] : (batch?.params ?? []);
    const details = { processor, code: error.code, message: error.message, params };
    if (batch?.method === 'unsub') {
      this.options.logger.debug(details, 'atlas: the device refused an unsubscribe');
      return;
    }
    const failed = device.refused(params, { code: error.code, message: error.message });
    warn(`refused:${processor}`, details, failed > 0 ? 'atlas: the device refused a subscription' : 'atlas: error from the device');
  }
}
