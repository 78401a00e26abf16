import type { Lease } from './lease.js';
import type { PortPool } from './pool.js';

/**
 * Who each port in the pool is credited to. A port leaves the pool credited to one lease, moves
 * only by the rules of PROTOCOL §3-§5 (a crossed or late confirmation, an adoption, a probe's
 * answer), and goes back to the pool, free or quarantined, only from the lease that holds it. So
 * the books always balance: free + quarantined + held = pool size, one lease per held port.
 */
export class PortLedger {
  private readonly holders = new Map<number, string>();
  /** The endpoint each port was last offered at: a late confirmation from there still claims it while it is set aside. */
  private readonly lastOffer = new Map<number, string>();

  constructor(readonly pool: PortPool) {}

  holderOf(port: number): string | undefined {
    return this.holders.get(port);
  }

  get held(): number {
    return this.holders.size;
  }

  /** Takes `port` from the pool for `tempId`'s offer. */
  take(port: number, tempId: string): void {
    this.pool.take(port);
    this.holders.set(port, tempId);
  }

  /** A restored lease holds its port again, if the pool can still give it. */
  restore(port: number, tempId: string): boolean {
    if (!this.pool.claim(port)) return false;
    this.holders.set(port, tempId);
    return true;
  }

  noteOffer(port: number, endpointKey: string): void {
    this.lastOffer.set(port, endpointKey);
  }

  /** Credits `port` to `tempId`, from the pool if nobody held it; returns who held it before. */
  claim(port: number, tempId: string): string | undefined {
    const previous = this.holders.get(port);
    if (previous === undefined) this.pool.claim(port);
    this.holders.set(port, tempId);
    return previous;
  }

  /** Back to the pool, free: only the lease credited with it can give it back. */
  giveBack(tempId: string, port: number): void {
    if (port < 0 || this.holders.get(port) !== tempId) return;
    this.holders.delete(port);
    this.pool.release(port);
  }

  /** Out of circulation for a while, on the word of the lease credited with it (a failed binding). */
  quarantine(tempId: string, port: number): boolean {
    if (port < 0 || this.holders.get(port) !== tempId) return false;
    this.holders.delete(port);
    this.pool.quarantine(port);
    return true;
  }

  /** Someone the coordinator cannot track receives on `port`: nobody is credited, and it is set aside. */
  setAside(port: number): void {
    this.holders.delete(port);
    this.pool.quarantine(port);
  }

  /** The endpoint `port` was last offered at: a late confirmation from there may still claim it. */
  lastOfferAt(port: number): string | undefined {
    return this.lastOffer.get(port);
  }

  /** What does not balance; empty when all is well. The tests run it after every scenario. */
  problems(leases: ReadonlyMap<string, Lease>): string[] {
    const problems: string[] = [];
    const { size, free, quarantined } = this.pool;
    if (free + quarantined + this.holders.size !== size) {
      problems.push(`free ${free} + quarantined ${quarantined} + held ${this.holders.size} is not the pool size ${size}`);
    }
    for (const [port, tempId] of this.holders) {
      const state = this.pool.stateOf(port);
      if (state !== 'taken') problems.push(`port ${port} is credited to ${tempId} but ${state} in the pool`);
      const lease = leases.get(tempId);
      if (!lease) problems.push(`port ${port} is credited to ${tempId}, which has no lease`);
      else if (lease.port !== port) problems.push(`port ${port} is credited to ${tempId}, whose lease is on ${lease.port}`);
    }
    for (const lease of leases.values()) {
      // A challenger verifies a port credited to another: the probe decides who holds it.
      if (lease.port >= 0 && this.holders.get(lease.port) !== lease.tempId && lease.state !== 'verifying') {
        problems.push(`${lease.tempId} is on port ${lease.port}, which is credited to ${this.holders.get(lease.port) ?? 'nobody'}`);
      }
    }
    return problems;
  }
}
