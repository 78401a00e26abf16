import type { Clock } from '../clock.js';
import type { Counters } from '../counters.js';
import { Deadlines } from '../deadlines.js';
import { isAllowed, parseCidr, type Cidr } from '../net/cidr.js';
import type { SendBytes } from '../net/udp.js';

export interface Controller {
  readonly host: string;
  readonly port: number;
  readonly key: string;
  /** Where it registered from (`host:port`): that source, or its token, may end it. */
  readonly source: string;
  /** What it proved its listen port with; undefined when it listens where it sends from. */
  readonly token: string | undefined;
}

/** How a registration request went. */
export type Registration = 'registered' | 'unknown_token' | 'full';

/** Challenges of named listen ports waiting for their token, at most; one per port per second. */
const MAX_PENDING = 1024;
const CHALLENGE_EVERY_MS = 1000;

export interface ControllersOptions {
  clock: Clock;
  send: SendBytes;
  counters: Counters;
  /** Beyond loopback, the ranges controllers may come from. */
  allow: readonly string[];
  max: number;
  ttlMs: number;
  /** Unguessable, single-purpose: what a named listen port proves itself with. */
  createToken: () => string;
  /** A controller left (unsubscribed, or did not renew): what it subscribed to goes. */
  onLeave?: (key: string) => void;
}

/**
 * The registered controllers [PROTOCOL §11]: whoever subscribed from an allowed address and
 * renewed within `ttlMs`. Plugin traffic and lease events fan out to every one of them, as the
 * bytes arrived (or were encoded once): a loop over an array, no allocation per datagram.
 */
export class Controllers {
  private readonly byKey = new Map<string, Controller>();
  /** Named listen ports asked to prove themselves: the token sent there, and when it was sent. */
  private readonly pending = new Map<string, { token: string; sentAt: number }>();
  /** Registered from the config file: never expire, never leave. */
  private readonly standing = new Set<string>();
  private all: Controller[] = [];
  private readonly allow: Cidr[];
  private readonly expiry: Deadlines<string>;

  constructor(private readonly options: ControllersOptions) {
    this.allow = options.allow.map((text) => parseCidr(text) as Cidr);
    this.expiry = new Deadlines(options.clock, (key) => this.drop(key));
  }

  /** Loopback, or one of the allowed ranges: who may subscribe and send to plugins. */
  allowed(address: string): boolean {
    return isAllowed(address, this.allow);
  }

  /**
   * Registers or renews the controller listening at host:port, where it sends from (or, `standing`,
   * from the config file, for as long as the coordinator runs); false when the table is full.
   */
  subscribe(host: string, port: number, { standing = false } = {}): boolean {
    return this.register(host, port, `${host}:${port}`, undefined, standing) === 'registered';
  }

  /**
   * [PROTOCOL §11] A registration naming another port to listen on streams nothing there until the
   * port proves it listens: the token to send it, or undefined when one went there less than a
   * second ago (or too many wait), so a spoofed source cannot aim a stream, or a flood of
   * challenges, at a stranger.
   */
  challenge(host: string, port: number): string | undefined {
    const key = `${host}:${port}`;
    const now = this.options.clock.now();
    const last = this.pending.get(key);
    if (last && now - last.sentAt < CHALLENGE_EVERY_MS) return undefined;
    if (!last && this.pending.size >= MAX_PENDING) this.forgetStaleChallenges(now);
    if (!last && this.pending.size >= MAX_PENDING) return undefined;
    const token = this.options.createToken();
    this.pending.set(key, { token, sentAt: now });
    return token;
  }

  /** The token that reached host:port came back: the registration is active (or renewed), registered from `source`. */
  prove(host: string, port: number, token: string, source: string): Registration {
    const key = `${host}:${port}`;
    const active = this.byKey.get(key);
    if (active?.token !== token && this.pending.get(key)?.token !== token) return 'unknown_token';
    this.pending.delete(key);
    return this.register(host, port, source, token, false);
  }

  /** Ends the registration at host:port when `from` registered it or `token` is its own; false otherwise. */
  unsubscribe(host: string, port: number, proof: { from: string; token?: string }): boolean {
    const controller = this.byKey.get(`${host}:${port}`);
    if (!controller) return false;
    const allowed = controller.source === proof.from || (proof.token !== undefined && proof.token === controller.token);
    return allowed && this.drop(controller.key);
  }

  /** Whether host:port holds a registration. */
  /** Registered from the config file: never needs renewing. */
  isStanding(key: string): boolean {
    return this.standing.has(key);
  }

  has(host: string, port: number): boolean {
    return this.byKey.has(`${host}:${port}`);
  }

  /** The same bytes to every controller. */
  forward(bytes: Uint8Array): void {
    const all = this.all;
    for (let n = 0; n < all.length; n++) this.options.send(bytes, all[n]!.host, all[n]!.port);
    this.options.counters.forwarded += all.length;
  }

  get size(): number {
    return this.all.length;
  }

  list(): readonly Controller[] {
    return this.all;
  }

  close(): void {
    this.expiry.stop();
  }

  /** The controller listening at host:port, else the one registered from there (that named another port to listen on). */
  of(host: string, port: number): Controller | undefined {
    const key = `${host}:${port}`;
    return this.byKey.get(key) ?? this.all.find((controller) => controller.source === key);
  }

  private register(host: string, port: number, source: string, token: string | undefined, standing: boolean): Registration {
    const key = `${host}:${port}`;
    const known = this.byKey.get(key);
    if (!known && this.byKey.size >= this.options.max) return 'full';
    if (!known || known.source !== source || known.token !== token) {
      this.byKey.set(key, { host, port, key, source, token });
      this.all = [...this.byKey.values()];
    }
    if (standing) this.standing.add(key);
    if (!this.standing.has(key)) this.expiry.set(key, this.options.clock.now() + this.options.ttlMs);
    return 'registered';
  }

  private forgetStaleChallenges(now: number): void {
    for (const [key, { sentAt }] of this.pending) if (now - sentAt >= this.options.ttlMs) this.pending.delete(key);
  }

  private drop(key: string): boolean {
    if (this.standing.has(key) || !this.byKey.delete(key)) return false;
    this.expiry.cancel(key);
    this.all = [...this.byKey.values()];
    this.options.onLeave?.(key);
    return true;
  }
}
