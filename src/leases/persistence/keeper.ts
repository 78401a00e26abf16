import type { Lease } from '../lease.js';
import type { JournalState, JournalLease } from './journal.js';

/** Where bound leases are kept across restarts (the journal), if anywhere. */
export interface LeaseStore {
  put(lease: JournalLease): void;
  drop(tempId: string, port: number, reason: string): void;
}

/** The most tempIDs whose last port is remembered for affinity. */
const REMEMBERED_PORTS = 4096;

/**
 * What outlives a lease [PROTOCOL §8]: its record in the store while it is bound (with when it
 * last showed life), so a restart gets it back; and its last port, so a returning tempID gets
 * that port again if nobody holds it.
 */
export class LeaseKeeper {
  /** Oldest first: the least recent is forgotten first. */
  private readonly lastPorts = new Map<string, number>();
  /** The port each lease is written down with in the store. */
  private readonly kept = new Map<string, number>();

  constructor(
    private readonly store: LeaseStore | undefined,
    private readonly wallNow: () => number,
    /** The store refused a record: told, and the lease goes on in memory as it was. */
    private readonly onStoreError: (err: unknown, tempId: string) => void = () => {},
  ) {}

  lastPort(tempId: string): number | undefined {
    return this.lastPorts.get(tempId);
  }

  /** The remembered ports of a previous run, least recent first; its bound leases count as written down. */
  restore(state: JournalState): number[] {
    const remembered = [...state.lastPorts].sort(([, a], [, b]) => a.at - b.at);
    for (const [tempId, { port }] of remembered) this.remember(tempId, port);
    for (const lease of state.leases.values()) this.kept.set(lease.tempId, lease.port);
    return remembered.map(([, { port }]) => port);
  }

  /** The lease is bound on `lease.port`, showed life, or learnt its trackID: written down (again). */
  keep(lease: Lease): void {
    this.remember(lease.tempId, lease.port);
    this.kept.set(lease.tempId, lease.port);
    this.write(lease.tempId, () => this.store?.put({
      tempId: lease.tempId,
      port: lease.port,
      endpoint: lease.endpoint ? { host: lease.endpoint.host, port: lease.endpoint.port } : null,
      host: lease.host,
      trackId: lease.trackId,
      boundAt: lease.boundSince ?? this.wallNow(),
      lastSeen: this.wallNow(),
    }));
  }

  /** The lease is no longer bound where it was written down (released, expired, stolen, moved...). */
  unbound(tempId: string, reason: string): void {
    const port = this.kept.get(tempId);
    if (port === undefined) return;
    this.kept.delete(tempId);
    this.write(tempId, () => this.store?.drop(tempId, port, reason));
  }

  /** A failure to write down never reaches the lease: the journal is its record, not its life. */
  private write(tempId: string, record: () => void): void {
    try {
      record();
    } catch (err) {
      this.onStoreError(err, tempId);
    }
  }

  private remember(tempId: string, port: number): void {
    this.lastPorts.delete(tempId);
    this.lastPorts.set(tempId, port);
    if (this.lastPorts.size > REMEMBERED_PORTS) this.lastPorts.delete(this.lastPorts.keys().next().value!);
  }
}
