import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { encode } from 'node-osc';
import osc from 'osc/src/osc.js';
import { closeSocket } from '../../net/udp.js';

export interface DeployedPluginOptions {
  tempId: string;
  coordinator: { host: string; port: number };
  /** First response port it tries (the deployed plugin: 50000). */
  responsePort: number;
  /** true = JUCE behaviour: every receiver socket sets SO_REUSEADDR, so all instances bind the same response port
   *  (only the most recently bound one receives on Linux) and an assigned port can be co-bound. false = a fixed
   *  plugin: exclusive binds; it tries responsePort, responsePort+100, ... up to responsePort+9900 like the deployed
   *  scan, and then an ephemeral port (0). */
  juceBug: boolean;
  /** Wait between closing the response receiver and binding the assigned port (deployed plugin: 50 ms). */
  bindDelayMs?: number;
  rms?: number;
}

/**
 * The plugin's wire contract is written out here rather than taken from protocol/messages.json: the deployed
 * plugin is frozen, so a change to the coordinator's contract must not silently change its emulator.
 */
const ADDRESS = {
  requestPort: '/aiplayer/request_port',
  portAssignment: '/aiplayer/port_assignment',
  portConfirmed: '/aiplayer/port_confirmed',
  queryRms: '/aiplayer/query_rms',
  rmsResponse: '/aiplayer/rms_response',
  release: '/aiplayer/release',
} as const;

/** JUCE's OSCReceiver::connect(port) and an unbound OSCSender socket both use INADDR_ANY. */
const BIND_HOST = '0.0.0.0';
const SCAN_STEP = 100;
const SCAN_LAST_OFFSET = 9900;
const DEFAULT_BIND_DELAY_MS = 50;
const READ_OPTIONS = { metadata: true, unpackSingleArgs: false } as const;

type TypedArg = { type: 'i' | 'f'; value: number } | { type: 's'; value: string };

/**
 * Emulates the deployed AIplayer plugin on the wire (REFERENCE §1, §3).
 * Events: 'verified' (port), 'error-status' (status), 'bind-failed' (port), 'closed'.
 */
export class DeployedPlugin extends EventEmitter {
  private readonly options: DeployedPluginOptions;
  private sender: dgram.Socket | undefined;
  /** The one receiver it has: the response port until an assignment is taken, then the assigned port. */
  private receiver: dgram.Socket | undefined;
  private receiverIsAssigned = false;
  private boundResponsePort: number | undefined;
  private assignedPort: number | undefined;
  /** The assigned port on which the coordinator first proved the binding. */
  private verifiedPort: number | undefined;
  private sentAt: number | undefined;
  private firstVerifiedAt: number | undefined;
  private lastErrorStatus: string | undefined;
  private failedBind = false;
  private closed = false;
  private closing: Promise<void> | undefined;
  private rebinding: Promise<void> | undefined;
  private readonly stop = new AbortController();

  constructor(options: DeployedPluginOptions) {
    super();
    this.options = options;
  }

  get tempId(): string {
    return this.options.tempId;
  }

  /** The assigned port it is bound to, or undefined. */
  get port(): number | undefined {
    return this.assignedPort;
  }

  /** The coordinator has proven a binding at least once (a query_rms arrived on an assigned port). */
  get verified(): boolean {
    return this.verifiedPort !== undefined;
  }

  get responsePortBound(): number | undefined {
    return this.boundResponsePort;
  }

  get requestSentAt(): number | undefined {
    return this.sentAt;
  }

  /** performance.now() of the first verification. */
  get verifiedAt(): number | undefined {
    return this.firstVerifiedAt;
  }

  /** The last status other than "assigned" it was sent, if any. */
  get errorStatus(): string | undefined {
    return this.lastErrorStatus;
  }

  /** Binding an assigned port failed; like the deployed plugin, it is then left with no receiver at all. */
  get bindFailed(): boolean {
    return this.failedBind;
  }

  async start(): Promise<void> {
    if (this.sender) throw new Error(`${this.tempId} already started`);
    this.sender = await bindUdp(0, false);
    this.receiver = await this.bindResponseReceiver();
    this.boundResponsePort = this.receiver.address().port;
    this.listen(this.receiver);
  }

  /** Sends request_port once (the deployed plugin never retries it); resolves once the datagram has left. */
  sendRequest(): Promise<void> {
    if (this.boundResponsePort === undefined) throw new Error(`${this.tempId} is not started`);
    this.sentAt = performance.now();
    const args: TypedArg[] = [
      { type: 's', value: this.tempId },
      { type: 'i', value: -1 },
      { type: 'i', value: this.boundResponsePort },
    ];
    return new Promise((resolve) => this.send(ADDRESS.requestPort, args, resolve));
  }

  /** Resolves with the port of the first verification. */
  whenVerified(): Promise<number> {
    if (this.verifiedPort !== undefined) return Promise.resolve(this.verifiedPort);
    if (this.closed) return Promise.reject(new Error(`${this.tempId} is closed`));
    return new Promise((resolve, reject) => {
      const onVerified = (port: number) => {
        this.off('closed', onClosed);
        resolve(port);
      };
      const onClosed = () => {
        this.off('verified', onVerified);
        reject(new Error(`${this.tempId} closed before it was verified`));
      };
      this.once('verified', onVerified);
      this.once('closed', onClosed);
    });
  }

  /**
   * Sends `/aiplayer/release ,s tempID` [PROTOCOL §7] and resolves once it has left. The deployed plugin
   * never does (its lease outlives it until the liveness checks end it); a plugin that exits cleanly does,
   * and the simulator's plugins do on their way out, so that their ports return at once.
   */
  release(): Promise<void> {
    return new Promise((resolve) => this.send(ADDRESS.release, [{ type: 's', value: this.tempId }], resolve));
  }

  close(): Promise<void> {
    this.closing ??= this.closeSockets();
    return this.closing;
  }

  private async closeSockets(): Promise<void> {
    this.closed = true;
    this.stop.abort();
    await this.rebinding;
    const sockets = [this.receiver, this.sender].filter((socket) => socket !== undefined);
    this.receiver = undefined;
    this.sender = undefined;
    await Promise.all(sockets.map(closeSocket));
    this.emit('closed');
  }

  private async bindResponseReceiver(): Promise<dgram.Socket> {
    const { responsePort, juceBug } = this.options;
    for (let offset = 0; offset <= SCAN_LAST_OFFSET; offset += SCAN_STEP) {
      try {
        return await bindUdp(responsePort + offset, juceBug);
      } catch {
        // Taken (or out of range): the deployed scan moves on to the next candidate.
      }
    }
    return bindUdp(0, juceBug);
  }

  private listen(socket: dgram.Socket): void {
    socket.on('message', (data) => this.onDatagram(socket, data));
  }

  private onDatagram(socket: dgram.Socket, data: Buffer): void {
    // A receiver it has let go of hears nothing more: JUCE's disconnect drops whatever was still queued.
    if (socket !== this.receiver) return;
    let message: { address: string; args: ReadonlyArray<{ type: string; value: unknown }> };
    try {
      message = osc.readMessage(data, READ_OPTIONS, { idx: 0 });
    } catch {
      return;
    }
    const tags = message.args.map((arg) => arg.type).join('');
    const [first, second, third] = message.args.map((arg) => arg.value);
    // JUCE's parser checks the count and each type (isString, isInt32), never the tempID.
    if (message.address === ADDRESS.portAssignment && tags === 'sis') {
      this.onAssignment(second as number, third as string);
    } else if (message.address === ADDRESS.queryRms && tags === 's') {
      // One receiver handles every address: it answers on its response port too, before it has a port.
      this.answerQuery(first as string);
    }
  }

  private onAssignment(port: number, status: string): void {
    if (status !== 'assigned' || port <= 0) {
      this.lastErrorStatus = status;
      this.emit('error-status', status);
      return;
    }
    this.rebinding = this.rebind(port);
  }

  private async rebind(port: number): Promise<void> {
    const previous = this.receiver;
    this.receiver = undefined;
    this.receiverIsAssigned = false;
    this.assignedPort = undefined;
    if (previous) await closeSocket(previous);
    try {
      await sleep(this.options.bindDelayMs ?? DEFAULT_BIND_DELAY_MS, undefined, { signal: this.stop.signal });
    } catch {
      return;
    }
    let socket: dgram.Socket;
    try {
      socket = await bindUdp(port, this.options.juceBug);
    } catch {
      if (this.closed) return;
      this.failedBind = true;
      this.confirm(port, 'failed');
      this.emit('bind-failed', port);
      return;
    }
    if (this.closed) {
      await closeSocket(socket);
      return;
    }
    this.receiver = socket;
    this.receiverIsAssigned = true;
    this.assignedPort = port;
    this.listen(socket);
    this.confirm(port, 'bound');
  }

  private confirm(port: number, status: 'bound' | 'failed'): void {
    this.send(ADDRESS.portConfirmed, [
      { type: 's', value: this.tempId },
      { type: 'i', value: port },
      { type: 's', value: status },
    ]);
  }

  private answerQuery(nonce: string): void {
    this.send(ADDRESS.rmsResponse, [
      { type: 's', value: nonce },
      { type: 's', value: this.tempId },
      // A typed argument: node-osc would send a bare whole number (0 included) as an int.
      { type: 'f', value: this.options.rms ?? 0 },
    ]);
    if (this.verifiedPort !== undefined || !this.receiverIsAssigned || this.assignedPort === undefined) return;
    this.verifiedPort = this.assignedPort;
    this.firstVerifiedAt = performance.now();
    this.emit('verified', this.verifiedPort);
  }

  /** `sent` runs once the datagram has left, or at once when the plugin is closed. */
  private send(address: string, args: TypedArg[], sent: () => void = () => {}): void {
    const { host, port } = this.options.coordinator;
    if (!this.sender) {
      sent();
      return;
    }
    // Loss is part of UDP; the deployed plugin ignores send errors too.
    this.sender.send(encode({ address, args }), port, host, () => sent());
  }
}

/** Binds BIND_HOST:port; reuseAddr=true is JUCE's DatagramSocket, false an exclusive bind. */
function bindUdp(port: number, reuseAddr: boolean): Promise<dgram.Socket> {
  const socket = dgram.createSocket({ type: 'udp4', reuseAddr });
  // A socket error inside a plugin must never take the host process down.
  socket.on('error', () => {});
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      void closeSocket(socket);
      reject(err);
    };
    socket.once('error', onError);
    try {
      socket.bind(port, BIND_HOST, () => {
        socket.off('error', onError);
        resolve(socket);
      });
    } catch (err) {
      onError(err as Error);
    }
  });
}
