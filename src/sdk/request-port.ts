import type dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { decodeDatagram, encodeMessage, type DecodedMessage, type OscMessage } from '../osc/codec.js';
import * as wire from '../osc/wire.js';
import { ADDRESS } from '../osc/contract.js';
import { silentLogger, type Logger } from '../log.js';
import { bindExclusive, closeSocket } from '../net/udp.js';

export interface RequestPortOptions {
  tempId: string;
  /** The port to ask for first (e.g. the one held last session); -1 or absent for any. */
  preferredPort?: number;
  coordinator?: { host: string; port: number };
  /** Give up after this long without a verified port. */
  timeoutMs?: number;
  /** First wait before the request is sent again (default 1000 ms); doubles up to 2 s. */
  retryMs?: number;
  /** The level reported in probe answers. */
  rms?: () => number;
  /**
   * A verified lease not probed for this long confirms its port again (default 5000 ms): it keeps the
   * lease alive, and a coordinator that restarted without it adopts it again.
   */
  keepaliveMs?: number;
  logger?: Logger;
}

export type PortRequestErrorCode = wire.ErrorCode | 'timeout' | 'closed';

export class PortRequestError extends Error {
  constructor(
    readonly code: PortRequestErrorCode,
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
    this.name = 'PortRequestError';
  }
}

export interface PortLeaseEvents {
  /** OSC traffic for the application arriving on the leased port (probes are answered, not passed on). */
  message: [DecodedMessage, dgram.RemoteInfo];
  /** The coordinator moved this instance to another port. */
  moved: [number];
}

/** A verified port. Probes keep being answered for as long as the lease is open. */
export interface SdkLease extends EventEmitter<PortLeaseEvents> {
  readonly tempId: string;
  readonly port: number;
  /** The exclusive socket bound to `port`. */
  readonly socket: dgram.Socket;
  /** Tells the coordinator, then closes the sockets. */
  release(): Promise<void>;
  /** Closes the sockets without telling the coordinator, as a crash would: the lease expires there. */
  close(): Promise<void>;
}

const ERROR_GRACE_MS = 500;
const MAX_RETRY_MS = 2000;

/**
 * Asks the coordinator for a port and resolves once the coordinator has proved
 * the binding: its probe arrived on the exclusive socket bound to that port
 * and was answered. Retries the request until an assignment arrives; a port
 * that cannot be bound is reported `failed` and the next offer is taken.
 */
export async function requestPort(options: RequestPortOptions): Promise<SdkLease> {
  const tempIdError = wire.validateTempId(options.tempId);
  if (tempIdError) throw new PortRequestError('invalid_request', tempIdError);
  const coordinator = options.coordinator ?? { host: '127.0.0.1', port: 9001 };
  const localHost = coordinator.host === '127.0.0.1' || coordinator.host === 'localhost' ? '127.0.0.1' : '0.0.0.0';
  const control = await bindExclusive(localHost, 0);
  return new ClientLease(options, coordinator, localHost, control).verified;
}

class ClientLease extends EventEmitter<PortLeaseEvents> implements SdkLease {
  readonly verified: Promise<SdkLease>;
  readonly tempId: string;
  port = -1;
  socket!: dgram.Socket;
  private bound: dgram.Socket | undefined;
  private binding: Promise<void> | undefined;
  private resolve!: (lease: SdkLease) => void;
  private reject!: (err: Error) => void;
  private settled = false;
  private closed = false;
  private assigned = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private confirmTimer: NodeJS.Timeout | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private lastProbeAt = 0;
  /** The port a probe last arrived on: proof the coordinator has our confirmation. */
  private probedPort = -1;
  private deadline: NodeJS.Timeout | undefined;
  private errorTimer: NodeJS.Timeout | undefined;
  private readonly logger: Logger;

  constructor(
    private readonly options: RequestPortOptions,
    private readonly coordinator: { host: string; port: number },
    private readonly localHost: string,
    private readonly control: dgram.Socket,
  ) {
    super();
    this.tempId = options.tempId;
    this.logger = options.logger ?? silentLogger;
    this.verified = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    control.on('message', (data) => this.onControl(data));
    control.on('error', (err) => this.logger.debug({ err }, 'control socket error'));
    this.deadline = setTimeout(
      () => this.fail(new PortRequestError('timeout', `no verified port within ${this.timeoutMs} ms`)),
      this.timeoutMs,
    );
    this.sendRequest(options.retryMs ?? 1000);
  }

  private get timeoutMs(): number {
    return this.options.timeoutMs ?? 15_000;
  }

  /** Resolves once the datagram has left: closing the socket sooner would drop it. */
  private send(message: OscMessage): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) =>
      this.control.send(encodeMessage(message), this.coordinator.port, this.coordinator.host, () => resolve()),
    );
  }

  private sendRequest(waitMs: number): void {
    if (this.assigned || this.closed) return;
    void this.send(wire.requestPort(this.tempId, this.options.preferredPort ?? -1, this.control.address().port));
    // Jittered, so a thousand clients started together do not retry together.
    const jittered = waitMs * (0.75 + Math.random() * 0.5);
    this.retryTimer = setTimeout(() => this.sendRequest(Math.min(waitMs * 2, MAX_RETRY_MS)), jittered);
  }

  private onControl(data: Buffer): void {
    const decoded = decodeDatagram(data);
    if (!decoded.ok) return;
    for (const message of decoded.messages) {
      const args = message.args;
      // Unlike the deployed plugin, the SDK only takes what is addressed to it.
      if (args[0]?.value !== this.tempId) continue;
      if (message.address === ADDRESS.port_assignment && args.length === 3) {
        const port = args[1]!.value as number;
        if (args[2]!.value === 'assigned') this.onAssigned(port);
        else this.onErrorStatus();
      } else if (message.address === ADDRESS.port_error && args.length === 3) {
        const code = args[1]!.value as wire.ErrorCode;
        this.fail(new PortRequestError(code, String(args[2]!.value)));
      }
    }
  }

  private onAssigned(port: number): void {
    this.assigned = true;
    clearTimeout(this.retryTimer);
    if (this.binding) return;
    if (this.bound && port === this.port) {
      // The coordinator sent it again: our confirmation was lost.
      void this.send(wire.portConfirmed(this.tempId, port, 'bound'));
      return;
    }
    this.binding = this.bindTo(port).finally(() => {
      this.binding = undefined;
    });
  }

  private async bindTo(port: number): Promise<void> {
    const previous = this.bound;
    this.bound = undefined;
    if (previous) await closeSocket(previous);
    try {
      const socket = await bindExclusive(this.localHost, port);
      if (this.closed) {
        await closeSocket(socket);
        return;
      }
      socket.on('message', (data, rinfo) => this.onLeased(data, rinfo));
      socket.on('error', (err) => this.logger.debug({ err }, 'leased socket error'));
      this.bound = socket;
      this.socket = socket;
      const moved = this.settled && port !== this.port;
      this.port = port;
      if (moved) this.emit('moved', port);
      this.confirm(port, this.options.retryMs ?? 1000);
    } catch (err) {
      this.logger.debug({ err, port }, 'assigned port could not be bound');
      void this.send(wire.portConfirmed(this.tempId, port, 'failed'));
    }
  }

  /**
   * Confirms until a probe arrives: the confirmation, or the coordinator that
   * got it, may be lost (a coordinator restarted mid-handshake adopts the port
   * from a repeated confirmation).
   */
  private confirm(port: number, waitMs: number): void {
    clearTimeout(this.confirmTimer);
    if (this.closed || port !== this.port || this.probedPort === port) return;
    void this.send(wire.portConfirmed(this.tempId, port, 'bound'));
    this.confirmTimer = setTimeout(() => this.confirm(port, Math.min(waitMs * 2, MAX_RETRY_MS)), waitMs);
  }

  private onLeased(data: Buffer, rinfo: dgram.RemoteInfo): void {
    const decoded = decodeDatagram(data);
    if (!decoded.ok) return;
    for (const message of decoded.messages) {
      const nonce = message.args[0];
      if (message.address === ADDRESS.query_rms && message.args.length === 1 && nonce?.type === 's') {
        this.probedPort = this.port;
        this.lastProbeAt = performance.now();
        clearTimeout(this.confirmTimer);
        void this.send(wire.rmsResponse(nonce.value as string, this.tempId, this.options.rms?.() ?? 0));
        this.succeed();
      } else {
        this.emit('message', message, rinfo);
      }
    }
  }

  /** An `error` status comes with the reason in a port_error right after; wait briefly for it. */
  private onErrorStatus(): void {
    this.errorTimer ??= setTimeout(
      () => this.fail(new PortRequestError('retries_exhausted', 'the coordinator answered with an error')),
      ERROR_GRACE_MS,
    );
  }

  private succeed(): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.deadline);
    this.keepAlive(this.options.keepaliveMs ?? 5000);
    this.resolve(this);
  }

  private keepAlive(everyMs: number): void {
    this.keepaliveTimer = setTimeout(() => {
      if (this.closed) return;
      if (performance.now() - this.lastProbeAt >= everyMs && this.bound) {
        void this.send(wire.portConfirmed(this.tempId, this.port, 'bound'));
      }
      this.keepAlive(everyMs);
    }, everyMs);
    this.keepaliveTimer.unref();
  }

  private fail(err: PortRequestError): void {
    if (this.settled) return;
    this.settled = true;
    void this.shutdown().then(() => this.reject(err));
  }

  async release(): Promise<void> {
    if (this.closed) return;
    await this.send(wire.release(this.tempId));
    await this.shutdown();
  }

  async close(): Promise<void> {
    if (!this.closed) await this.shutdown();
  }

  private async shutdown(): Promise<void> {
    clearTimeout(this.retryTimer);
    clearTimeout(this.confirmTimer);
    clearTimeout(this.keepaliveTimer);
    clearTimeout(this.deadline);
    clearTimeout(this.errorTimer);
    this.closed = true;
    await this.binding;
    await Promise.all([closeSocket(this.control), this.bound && closeSocket(this.bound)]);
  }
}
