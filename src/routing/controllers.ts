import type { Clock } from '../clock.js';
import type { Counters } from '../counters.js';
import { Deadlines } from '../deadlines.js';
import { isAllowed, parseCidr, type Cidr } from '../net/cidr.js';
import type { SendBytes } from '../net/udp.js';

export interface Controller {
  readonly host: string;
  readonly port: number;
  readonly key: string;
}

export interface ControllersOptions {
  clock: Clock;
  send: SendBytes;
  counters: Counters;
  /** Beyond loopback, the ranges controllers may come from. */
  allow: readonly string[];
  max: number;
  ttlMs: number;
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
   * Registers or renews the controller listening at host:port; false when the table is full. A
   * `standing` one (from the config file) stays for as long as the coordinator runs.
   */
  subscribe(host: string, port: number, { standing = false } = {}): boolean {
    const key = `${host}:${port}`;
    if (!this.byKey.has(key)) {
      if (this.byKey.size >= this.options.max) return false;
      this.byKey.set(key, { host, port, key });
      this.all = [...this.byKey.values()];
    }
    if (standing) this.standing.add(key);
    if (!this.standing.has(key)) this.expiry.set(key, this.options.clock.now() + this.options.ttlMs);
    return true;
  }

  unsubscribe(host: string, port: number): boolean {
    return this.drop(`${host}:${port}`);
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

  /** The controller listening at host:port, else the only one on that host (one that named another port to listen on). */
  of(host: string, port: number): Controller | undefined {
    const exact = this.byKey.get(`${host}:${port}`);
    if (exact) return exact;
    const onHost = this.all.filter((controller) => controller.host === host);
    return onHost.length === 1 ? onHost[0] : undefined;
  }

  private drop(key: string): boolean {
    if (this.standing.has(key) || !this.byKey.delete(key)) return false;
    this.expiry.cancel(key);
    this.all = [...this.byKey.values()];
    this.options.onLeave?.(key);
    return true;
  }
}
