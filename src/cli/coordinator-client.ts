import type dgram from 'node:dgram';
import { realClock, type Clock } from '../clock.js';
import { decodeDatagram, encodeMessage, type OscArg } from '../osc/codec.js';
import { ADDRESS, COORDINATOR_NAMESPACE, textAt } from '../osc/contract.js';
import { LEASE_STATES, type LeaseState } from '../leases/lease.js';
import { parseLeaseView, type LeaseView } from '../leases/lease-view.js';
import { createNonce } from '../nonce.js';
import type { AtlasBridgeStatus, AtlasSummary, MeterRow, ProcessorRow } from '../atlas/bridge.js';
import { bindExclusive, closeSocket } from '../net/udp.js';
import { describeSystemError } from '../system-errors.js';

export { LEASE_STATES, type LeaseState } from '../leases/lease.js';
export type { LeaseView } from '../leases/lease-view.js';

export interface CoordinatorStatus {
  uptimeMs: number;
  /** The UDP ports it listens on (its own first), and the extra ones it could not get, with why. */
  ports: { listening: number[]; unavailable: Array<{ port: number; reason: string }> };
  pool: { size: number; free: number; quarantined: number };
  leases: Record<LeaseState, number>;
  counters: Record<string, number>;
  dataDir: string | null;
  /** Registered controllers, `host:port`. */
  controllers: string[];
  /** The Atlas bridge in counts; null before its first processor. */
  atlas: AtlasSummary | null;
}

export type ProbeResult =
  | { ok: true; port: number; answered: true; tempId: string; rttMs: number }
  | { ok: true; port: number; answered: false; timeoutMs: number };

export interface CoordinatorAddress {
  host: string;
  port: number;
}

export interface CoordinatorClientOptions {
  /** First wait for a reply before sending again; each wait after it is twice as long (default 200 ms). */
  timeoutMs?: number;
  /** The wait for each try of a probe, which is answered only once the probe is over (default 15 s). */
  probeTimeoutMs?: number;
  /** Sends after the first (default 2: with the default waits, nothing answering is told after 1.4 s). */
  resends?: number;
  /** Whose time the waits are counted in (tests turn a SimulatedClock). */
  clock?: Clock;
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
  constructor(readonly address: string, message: string) {
    super(message);
    this.name = 'AdminError';
  }
}

/** The coordinator answered something this client cannot read. */
export class AdminReplyError extends Error {
  constructor(readonly address: string, detail: string) {
    super(`malformed reply to ${address}: ${detail}`);
    this.name = 'AdminReplyError';
  }
}

const DEFAULT_FIRST_WAIT_MS = 200;
const LEASES_PAGE_LIMIT = 50;

interface Pending {
  address: string;
  resolve: (reply: Record<string, unknown>) => void;
  reject: (err: Error) => void;
}

/** Talks to a running coordinator's admin interface: one request, one reply, matched by requestId. */
export class CoordinatorClient {
  private readonly pending = new Map<string, Pending>();
  private readonly timeoutMs: number;
  private readonly probeTimeoutMs: number;
  private readonly resends: number;
  private readonly clock: Clock;
  private closed = false;

  private constructor(
    readonly coordinator: CoordinatorAddress,
    private readonly socket: dgram.Socket,
    options: CoordinatorClientOptions,
  ) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_FIRST_WAIT_MS;
    this.probeTimeoutMs = options.probeTimeoutMs ?? 15_000;
    this.resends = options.resends ?? 2;
    this.clock = options.clock ?? realClock;
    socket.on('message', (data) => this.receive(data));
    // On a connected socket the ICMP answer to a send (port unreachable: nobody holds the port) comes back as an error.
    socket.on('error', (err) => this.failAll(unreachable(coordinator, err)));
  }

  static async open(coordinator: CoordinatorAddress, options: CoordinatorClientOptions = {}): Promise<CoordinatorClient> {
    return new CoordinatorClient(coordinator, await connectedSocket(coordinator), options);
  }

  /** Sends `/coordinator/<verb> ,s… requestId …args` (`atlas/add`, say) and resolves with the reply's JSON. */
  request(verb: string, ...args: OscArg[]): Promise<Record<string, unknown>> {
    return this.ask(`${COORDINATOR_NAMESPACE}${verb}`, ...args);
  }

  /**
   * Sends `address ,s… requestId …args` and resolves with the reply's JSON.
   * The same requestId is re-sent on each timeout, so a late reply to an earlier try still counts.
   */
  private ask(address: string, ...args: OscArg[]): Promise<Record<string, unknown>> {
    if (this.closed) return Promise.reject(new Error('admin client is closed'));
    const requestId = createNonce();
    const datagram = encodeMessage({ address, args: [{ type: 's', value: requestId }, ...args] });
    // A probe is answered only once it is over; anything else at once, so a lost datagram is sent again soon.
    const waitMs = (tries: number) => (address === ADDRESS.admin_probe ? this.probeTimeoutMs : this.timeoutMs * 2 ** (tries - 1));
    return new Promise((resolve, reject) => {
      let tries = 0;
      let timer: unknown;
      const settle = () => {
        this.clock.clearTimeout(timer);
        this.pending.delete(requestId);
      };
      const send = () => {
        if (tries > this.resends) {
          settle();
          reject(new AdminUnavailableError(this.coordinator));
          return;
        }
        tries++;
        timer = this.clock.setTimeout(send, waitMs(tries));
        this.socket.send(datagram, (err) => {
          if (err) this.pending.get(requestId)?.reject(unreachable(this.coordinator, err));
        });
      };
      this.pending.set(requestId, {
        address,
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

  /** Resolves once the coordinator answers anything at all; rejects with AdminUnavailableError when nothing does. */
  async ping(): Promise<void> {
    try {
      await this.ask(ADDRESS.admin_status);
    } catch (err) {
      if (err instanceof AdminUnavailableError) throw err;
    }
  }

  async status(): Promise<CoordinatorStatus> {
    const reply = await this.ask(ADDRESS.admin_status);
    return parseStatus(reply.status);
  }

  /** Every lease (or every lease in `state`), fetched page by page. */
  async leases(state?: LeaseState): Promise<LeaseView[]> {
    const leases: LeaseView[] = [];
    // Each page starts after the last row of the one before: a lease held throughout comes once.
    for (let after = ''; ; ) {
      const reply = await this.ask(
        ADDRESS.admin_leases,
        { type: 'i', value: LEASES_PAGE_LIMIT },
        { type: 's', value: state ?? '' },
        { type: 's', value: after },
      );
      if (!Array.isArray(reply.leases)) throw new AdminReplyError(ADDRESS.admin_leases, '"leases" is not an array');
      if (typeof reply.next !== 'string') throw new AdminReplyError(ADDRESS.admin_leases, '"next" is not text');
      leases.push(...reply.leases.map((lease) => parseLease(ADDRESS.admin_leases, lease)));
      if (reply.next === '' || reply.leases.length === 0) return leases;
      after = reply.next;
    }
  }

  /** The whole Atlas bridge: its status, then its processors and subscriptions a page at a time; null before its first processor. */
  async atlas(): Promise<AtlasBridgeStatus | null> {
    const { atlas } = await this.status();
    if (atlas === null) return null;
    const processors = await this.pages<ProcessorRow>(ADDRESS.atlas_processors, 'processors');
    const meters = await this.pages<MeterRow>(ADDRESS.atlas_meters, 'meters');
    return {
      meterSocket: atlas.meterSocket,
      processors: processors.map((processor) => ({
        ...processor,
        subscriptions: meters.filter((meter) => meter.processor === processor.id).map(({ processor: _, ...subscription }) => subscription),
      })),
      counters: atlas.counters,
    };
  }

  /** Every row of a paged list, each page after the last row of the one before. */
  private async pages<Row>(address: string, field: string): Promise<Row[]> {
    const rows: Row[] = [];
    for (let after = ''; ; ) {
      const reply = await this.ask(address, { type: 'i', value: LEASES_PAGE_LIMIT }, { type: 's', value: after });
      const page = reply[field];
      if (!Array.isArray(page)) throw new AdminReplyError(address, `"${field}" is not an array`);
      if (typeof reply.next !== 'string') throw new AdminReplyError(address, '"next" is not text');
      rows.push(...(page as Row[]));
      if (reply.next === '' || page.length === 0) return rows;
      after = reply.next;
    }
  }

  /** The lease with this tempID, or on this port (a decimal string). */
  async lease(target: string): Promise<LeaseView> {
    const reply = await this.ask(ADDRESS.admin_lease, { type: 's', value: target });
    return parseLease(ADDRESS.admin_lease, reply.lease);
  }

  async release(target: string): Promise<{ tempId: string; port: number }> {
    const reply = await this.ask(ADDRESS.admin_release, { type: 's', value: target });
    const released = reply.released;
    if (!isObject(released) || typeof released.tempId !== 'string' || !isPort(released.port)) {
      throw new AdminReplyError(ADDRESS.admin_release, '"released" is not {tempId, port}');
    }
    return { tempId: released.tempId, port: released.port };
  }

  async probe(port: number): Promise<ProbeResult> {
    const reply = await this.ask(ADDRESS.admin_probe, { type: 'i', value: port });
    if (!isPort(reply.port)) throw new AdminReplyError(ADDRESS.admin_probe, '"port" is not a port');
    if (reply.answered === true) {
      if (typeof reply.tempId !== 'string' || !isDuration(reply.rttMs)) {
        throw new AdminReplyError(ADDRESS.admin_probe, 'an answered probe needs "tempId" and "rttMs"');
      }
      return { ...reply, ok: true, port: reply.port, answered: true, tempId: reply.tempId, rttMs: reply.rttMs };
    }
    if (reply.answered === false && isDuration(reply.timeoutMs)) {
      return { ...reply, ok: true, port: reply.port, answered: false, timeoutMs: reply.timeoutMs };
    }
    throw new AdminReplyError(ADDRESS.admin_probe, '"answered" is missing, or "timeoutMs" with it');
  }

  /** Closes the socket; requests still waiting reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new Error('admin client is closed'));
    await closeSocket(this.socket);
  }

  private failAll(err: Error): void {
    for (const pending of [...this.pending.values()]) pending.reject(err);
  }

  private receive(data: Buffer): void {
    const decoded = decodeDatagram(data);
    if (!decoded.ok) return;
    for (const message of decoded.messages) {
      const [id, json] = [textAt(message.args, 0), textAt(message.args, 1)];
      if (message.address !== ADDRESS.admin_reply || id === undefined || json === undefined) continue;
      const pending = this.pending.get(id);
      if (pending) settleReply(pending, json);
    }
  }
}

function settleReply(pending: Pending, json: string): void {
  let reply: unknown;
  try {
    reply = JSON.parse(json);
  } catch {
    pending.reject(new AdminReplyError(pending.address, 'not JSON'));
    return;
  }
  if (!isObject(reply)) pending.reject(new AdminReplyError(pending.address, 'not a JSON object'));
  else if (reply.ok === true) pending.resolve(reply);
  else if (reply.ok === false) {
    pending.reject(new AdminError(pending.address, typeof reply.error === 'string' ? reply.error : 'request failed'));
  } else pending.reject(new AdminReplyError(pending.address, '"ok" is neither true nor false'));
}

/** Checks one lease object from a reply; extra fields the coordinator adds are kept. */
function parseLease(address: string, value: unknown): LeaseView {
  const lease = parseLeaseView(value);
  if (!lease) throw new AdminReplyError(address, `bad lease ${truncatedJson(value)}`);
  return lease;
}

function parseStatus(value: unknown): CoordinatorStatus {
  const fail = (what: string) => new AdminReplyError(ADDRESS.admin_status, what);
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
  const { ports } = value;
  const isUnavailable = (entry: unknown) => isObject(entry) && isPort(entry.port) && typeof entry.reason === 'string';
  if (!isObject(ports) || !Array.isArray(ports.listening) || !ports.listening.every(isPort) || !Array.isArray(ports.unavailable) || !ports.unavailable.every(isUnavailable)) {
    throw fail('"ports" is not {listening, unavailable}');
  }
  const controllers = Array.isArray(value.controllers) ? value.controllers.filter((key): key is string => typeof key === 'string') : [];
  const atlas = isObject(value.atlas) && isObject(value.atlas.meterSocket) && isCount(value.atlas.processors) ? (value.atlas as unknown as AtlasSummary) : null;
  return {
    uptimeMs,
    ports: ports as CoordinatorStatus['ports'],
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

/** The coordinator's host is this machine: the client binds loopback only. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || /^127\./.test(host);
}

/**
 * A socket of its own, connected to the coordinator: only the coordinator's datagrams reach it, and a
 * send to a port nobody holds fails at once (ECONNREFUSED, from the ICMP port unreachable) instead of
 * waiting out every try. Rejects with AdminUnavailableError when the address cannot be reached at all.
 */
export async function connectedSocket(coordinator: CoordinatorAddress): Promise<dgram.Socket> {
  const socket = await bindExclusive(isLoopbackHost(coordinator.host) ? '127.0.0.1' : '0.0.0.0', 0);
  try {
    await new Promise<void>((resolve, reject) => {
      // A host name that does not resolve comes back here (typed without it in @types/node), not as an 'error' event.
      const connected: (err?: Error) => void = (err) => (err ? reject(err) : resolve());
      socket.connect(coordinator.port, coordinator.host, connected);
    });
  } catch (err) {
    await closeSocket(socket);
    throw unreachable(coordinator, err as Error);
  }
  return socket;
}

/** What a failed send or connect means for the user: nobody there, or why the address cannot be reached. */
export function unreachable(coordinator: CoordinatorAddress, err: Error): AdminUnavailableError {
  if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') return new AdminUnavailableError(coordinator);
  return new AdminUnavailableError(coordinator, `cannot reach ${coordinator.host}:${coordinator.port}: ${describeSystemError(err)}`);
}
