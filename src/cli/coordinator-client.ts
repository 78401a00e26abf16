import type dgram from 'node:dgram';
import { decodeDatagram, encodeMessage, type OscArg } from '../osc/codec.js';
import { LEASE_STATES, type LeaseState } from '../leases/lease.js';
import { parseLeaseJson, type LeaseJson } from '../leases/lease-json.js';
import { createNonce } from '../nonce.js';
import type { AtlasBridgeStatus } from '../atlas/bridge.js';
import { bindExclusive, closeSocket } from '../net/udp.js';

export { LEASE_STATES, type LeaseState } from '../leases/lease.js';
export type { LeaseJson } from '../leases/lease-json.js';

export interface CoordinatorStatus {
  uptimeMs: number;
  pool: { size: number; free: number; quarantined: number };
  leases: Record<LeaseState, number>;
  counters: Record<string, number>;
  dataDir: string | null;
  /** Registered controllers, `host:port`. */
  controllers: string[];
  /** The Atlas bridge as the coordinator reports it; null before its first processor. */
  atlas: AtlasBridgeStatus | null;
}

export type ProbeResult =
  | { ok: true; port: number; answered: true; tempId: string; rttMs: number }
  | { ok: true; port: number; answered: false; timeoutMs: number };

export interface CoordinatorAddress {
  host: string;
  port: number;
}

export interface CoordinatorClientOptions {
  /** Wait for a reply before re-sending (default 1000 ms). */
  timeoutMs?: number;
  /** The same for probes, which answer only once the probe is over (default 15 s). */
  probeTimeoutMs?: number;
  /** Re-sends after the first request (default 2). */
  resends?: number;
}

/** Nothing answered (or the request could not be sent): there is no coordinator to talk to. */
export class AdminUnavailableError extends Error {
  constructor(
    readonly coordinator: CoordinatorAddress,
    message = `no coordinator answering on ${coordinator.host}:${coordinator.port}`,
  ) {
    super(message);
    this.name = 'AdminUnavailableError';
  }
}

/** The coordinator answered `{"ok":false}`; the message is its error text. */
export class AdminError extends Error {
  constructor(readonly verb: string, message: string) {
    super(message);
    this.name = 'AdminError';
  }
}

/** The coordinator answered something this client cannot read. */
export class AdminReplyError extends Error {
  constructor(readonly verb: string, detail: string) {
    super(`malformed reply to /coordinator/${verb}: ${detail}`);
    this.name = 'AdminReplyError';
  }
}

const REPLY_ADDRESS = '/coordinator/reply';
const LEASES_PAGE_LIMIT = 50;

interface Pending {
  verb: string;
  resolve: (reply: Record<string, unknown>) => void;
  reject: (err: Error) => void;
}

/** Talks to a running coordinator's admin interface: one request, one reply, matched by requestId. */
export class CoordinatorClient {
  private readonly pending = new Map<string, Pending>();
  private readonly timeoutMs: number;
  private readonly probeTimeoutMs: number;
  private readonly resends: number;
  private closed = false;

  private constructor(
    readonly coordinator: CoordinatorAddress,
    private readonly socket: dgram.Socket,
    options: CoordinatorClientOptions,
  ) {
    this.timeoutMs = options.timeoutMs ?? 1000;
    this.probeTimeoutMs = options.probeTimeoutMs ?? 15_000;
    this.resends = options.resends ?? 2;
    socket.on('message', (data) => this.receive(data));
    // Send failures are reported per request; this only keeps a stray socket error from crashing the process.
    socket.on('error', () => {});
  }

  static async open(coordinator: CoordinatorAddress, options: CoordinatorClientOptions = {}): Promise<CoordinatorClient> {
    const loopback = coordinator.host === 'localhost' || /^127\./.test(coordinator.host);
    const socket = await bindExclusive(loopback ? '127.0.0.1' : '0.0.0.0', 0);
    return new CoordinatorClient(coordinator, socket, options);
  }

  /**
   * Sends `/coordinator/<verb> ,s… requestId …args` and resolves with the reply's JSON.
   * The same requestId is re-sent on each timeout, so a late reply to an earlier try still counts.
   */
  request(verb: string, ...args: OscArg[]): Promise<Record<string, unknown>> {
    if (this.closed) return Promise.reject(new Error('admin client is closed'));
    const requestId = createNonce();
    const datagram = encodeMessage({ address: `/coordinator/${verb}`, args: [{ type: 's', value: requestId }, ...args] });
    const waitMs = verb === 'probe' ? this.probeTimeoutMs : this.timeoutMs;
    return new Promise((resolve, reject) => {
      let tries = 0;
      let timer: NodeJS.Timeout | undefined;
      const settle = () => {
        clearTimeout(timer);
        this.pending.delete(requestId);
      };
      const send = () => {
        if (tries > this.resends) {
          settle();
          reject(new AdminUnavailableError(this.coordinator));
          return;
        }
        tries++;
        timer = setTimeout(send, waitMs);
        this.socket.send(datagram, this.coordinator.port, this.coordinator.host, (err) => {
          if (!err || !this.pending.has(requestId)) return;
          settle();
          const { host, port } = this.coordinator;
          reject(new AdminUnavailableError(this.coordinator, `cannot reach ${host}:${port}: ${errorCode(err)}`));
        });
      };
      this.pending.set(requestId, {
        verb,
        resolve: (reply) => {
          settle();
          resolve(reply);
        },
        reject: (err) => {
          settle();
          reject(err);
        },
      });
      send();
    });
  }

  async status(): Promise<CoordinatorStatus> {
    const reply = await this.request('status');
    return parseStatus(reply.status);
  }

  /** Every lease (or every lease in `state`), fetched page by page. */
  async leases(state?: LeaseState): Promise<LeaseJson[]> {
    const byTempId = new Map<string, LeaseJson>();
    for (let offset = 0; ; ) {
      const reply = await this.request(
        'leases',
        { type: 'i', value: offset },
        { type: 'i', value: LEASES_PAGE_LIMIT },
        { type: 's', value: state ?? '' },
      );
      const total = reply.total;
      if (!isCount(total)) throw new AdminReplyError('leases', '"total" is not a count');
      if (!Array.isArray(reply.leases)) throw new AdminReplyError('leases', '"leases" is not an array');
      const page = reply.leases.map((lease) => parseLease('leases', lease));
      // Leases come and go between pages, so an offset can land on one already seen.
      const before = byTempId.size;
      for (const lease of page) if (!byTempId.has(lease.tempId)) byTempId.set(lease.tempId, lease);
      // A page that adds nothing (empty, or a repeat) ends the walk even if `total` says otherwise.
      if (byTempId.size >= total || byTempId.size === before) break;
      offset += page.length;
    }
    return [...byTempId.values()];
  }

  /** The lease with this tempID, or on this port (a decimal string). */
  async lease(target: string): Promise<LeaseJson> {
    const reply = await this.request('lease', { type: 's', value: target });
    return parseLease('lease', reply.lease);
  }

  async release(target: string): Promise<{ tempId: string; port: number }> {
    const reply = await this.request('release', { type: 's', value: target });
    const released = reply.released;
    if (!isObject(released) || typeof released.tempId !== 'string' || !isPort(released.port)) {
      throw new AdminReplyError('release', '"released" is not {tempId, port}');
    }
    return { tempId: released.tempId, port: released.port };
  }

  async probe(port: number): Promise<ProbeResult> {
    const reply = await this.request('probe', { type: 'i', value: port });
    if (!isPort(reply.port)) throw new AdminReplyError('probe', '"port" is not a port');
    if (reply.answered === true) {
      if (typeof reply.tempId !== 'string' || !isDuration(reply.rttMs)) {
        throw new AdminReplyError('probe', 'an answered probe needs "tempId" and "rttMs"');
      }
      return { ...reply, ok: true, port: reply.port, answered: true, tempId: reply.tempId, rttMs: reply.rttMs };
    }
    if (reply.answered === false && isDuration(reply.timeoutMs)) {
      return { ...reply, ok: true, port: reply.port, answered: false, timeoutMs: reply.timeoutMs };
    }
    throw new AdminReplyError('probe', '"answered" is missing, or "timeoutMs" with it');
  }

  /** Closes the socket; requests still waiting reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const pending of [...this.pending.values()]) pending.reject(new Error('admin client is closed'));
    await closeSocket(this.socket);
  }

  private receive(data: Buffer): void {
    const decoded = decodeDatagram(data);
    if (!decoded.ok) return;
    for (const message of decoded.messages) {
      const [id, json] = message.args;
      if (message.address !== REPLY_ADDRESS || id?.type !== 's' || json?.type !== 's') continue;
      const pending = this.pending.get(id.value as string);
      if (pending) settleReply(pending, json.value as string);
    }
  }
}

function settleReply(pending: Pending, json: string): void {
  let reply: unknown;
  try {
    reply = JSON.parse(json);
  } catch {
    pending.reject(new AdminReplyError(pending.verb, 'not JSON'));
    return;
  }
  if (!isObject(reply)) pending.reject(new AdminReplyError(pending.verb, 'not a JSON object'));
  else if (reply.ok === true) pending.resolve(reply);
  else if (reply.ok === false) {
    pending.reject(new AdminError(pending.verb, typeof reply.error === 'string' ? reply.error : 'request failed'));
  } else pending.reject(new AdminReplyError(pending.verb, '"ok" is neither true nor false'));
}

/** Checks one lease object from a reply; extra fields the coordinator adds are kept. */
function parseLease(verb: string, value: unknown): LeaseJson {
  const lease = parseLeaseJson(value);
  if (!lease) throw new AdminReplyError(verb, `bad lease ${truncatedJson(value)}`);
  return lease;
}

function parseStatus(value: unknown): CoordinatorStatus {
  const fail = (what: string) => new AdminReplyError('status', what);
  if (!isObject(value)) throw fail('"status" is not an object');
  const { uptimeMs, pool, leases, counters, dataDir } = value;
  if (!isDuration(uptimeMs)) throw fail('"uptimeMs" is not a duration');
  if (!isObject(pool) || !isCount(pool.size) || !isCount(pool.free) || !isCount(pool.quarantined)) {
    throw fail('"pool" is not {size, free, quarantined}');
  }
  if (!isObject(leases) || !LEASE_STATES.every((state) => isCount(leases[state]))) {
    throw fail(`"leases" is not {${LEASE_STATES.join(', ')}}`);
  }
  if (!isObject(counters) || !Object.values(counters).every((n) => typeof n === 'number' && Number.isFinite(n))) {
    throw fail('"counters" is not an object of numbers');
  }
  if (dataDir !== null && typeof dataDir !== 'string') throw fail('"dataDir" is neither a path nor null');
  const controllers = Array.isArray(value.controllers) ? value.controllers.filter((key): key is string => typeof key === 'string') : [];
  const atlas = isObject(value.atlas) && isObject(value.atlas.meterSocket) && Array.isArray(value.atlas.processors) ? (value.atlas as unknown as AtlasBridgeStatus) : null;
  return {
    uptimeMs,
    pool: { size: pool.size, free: pool.free, quarantined: pool.quarantined },
    leases: Object.fromEntries(LEASE_STATES.map((state) => [state, leases[state]])) as Record<LeaseState, number>,
    counters: counters as Record<string, number>,
    dataDir,
    controllers,
    atlas,
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 0;
}

function isPort(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535;
}

function isDuration(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function truncatedJson(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

function errorCode(err: Error): string {
  return (err as NodeJS.ErrnoException).code ?? err.message;
}
