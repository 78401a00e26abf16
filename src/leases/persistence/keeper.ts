import type { Instance } from '../lease.js';
import type { JournalState, LeaseRecord } from './journal.js';

/** Where bound leases are kept across restarts (the journal), if anywhere. */
export interface LeaseStore {
  put(lease: LeaseRecord): void;
  drop(tempId: string, port: number, reason: string): void;
}

/** The most tempIDs whose last port is remembered for affinity. */
const REMEMBERED_PORTS = 4096;

/**
 * What outlives an instance [PROTOCOL §8]: its bound lease in the store, so a
 * restart gets it back, and its last port, so a returning tempID gets that
 * port again if nobody holds it.
 */
export class LeaseKeeper {
  /** Oldest first: the least recent is forgotten first. */
  private readonly lastPorts = new Map<string, number>();
  private closed = false;

  constructor(
    private readonly store: LeaseStore | undefined,
    private readonly wallNow: () => number,
    /** Where an instance stands once its transition settled; undefined when it has ended. */
    private readonly standing: (instance: Instance) => { state: string; port: number } | undefined,
  ) {}

  lastPort(tempId: string): number | undefined {
    return this.lastPorts.get(tempId);
  }

  remember(tempId: string, port: number): void {
    this.lastPorts.delete(tempId);
    this.lastPorts.set(tempId, port);
    if (this.lastPorts.size > REMEMBERED_PORTS) this.lastPorts.delete(this.lastPorts.keys().next().value!);
  }

  /** The remembered ports of a previous run, least recent first. */
  restore(state: JournalState): number[] {
    const remembered = [...state.lastPorts].sort(([, a], [, b]) => a.at - b.at);
    for (const [tempId, { port }] of remembered) this.remember(tempId, port);
    return remembered.map(([, { port }]) => port);
  }

  /** The instance is bound on `port`: write it down. */
  keep(instance: Instance, port: number): void {
    instance.persistedPort = port;
    this.store?.put({
      tempId: instance.tempId,
      port,
      endpoint: instance.endpoint ? { host: instance.endpoint.host, port: instance.endpoint.port } : null,
      host: instance.host,
      trackId: instance.trackId,
      boundAt: instance.boundSince ?? this.wallNow(),
      lastSeen: this.wallNow(),
    });
  }

  /** Once the transition settles, the store learns how the lease ended (moved, expired, stolen...), once. */
  dropWhenSettled(instance: Instance): void {
    queueMicrotask(() => {
      const port = instance.persistedPort;
      // After close, leases stay in the store: they are restored on the next start.
      if (port === undefined || this.closed) return;
      const standing = this.standing(instance);
      if (standing?.state === 'bound' && standing.port === port) return;
      instance.persistedPort = undefined;
      this.store?.drop(instance.tempId, port, instance.endedAs ?? standing?.state ?? 'ended');
    });
  }

  close(): void {
    this.closed = true;
  }
}
