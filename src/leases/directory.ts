import type { LeaseStateName } from '../../machines/lease.js';
import type { Lease } from './lease.js';

/**
 * A lease changed state or port (its new ones are on the lease; an ended lease's state is how it
 * ended): what routing and the Atlas bridge need to know. Positional, so a change costs no allocation.
 */
export type LeaseChangeListener = (lease: Lease, wasState: LeaseStateName, wasPort: number) => void;

export interface LeaseEvents {
  change: Parameters<LeaseChangeListener>;
  bound: [{ tempId: string; port: number; handshakeMs: number | undefined }];
  failed: [{ tempId: string; code: string; detail: string }];
  lapsed: [{ tempId: string }];
  released: [{ tempId: string }];
  expired: [{ tempId: string }];
  stolen: [{ tempId: string }];
  /** The lease learnt its trackID. */
  track: [Lease];
}

/**
 * What other features may read of the leases: resolve an identity to a bound lease, walk the
 * bound leases, and hear of every change (with its port). Routing and the Atlas bridge use only this.
 */
export interface LeaseDirectory {
  /** The bound lease of a tempID or of a trackID it has learnt. */
  resolve(id: string): Lease | undefined;
  /** The lease of a tempID or trackID, bound or not. */
  find(id: string): Lease | undefined;
  bound(): IterableIterator<Lease>;
  on(event: 'change', listener: LeaseChangeListener): unknown;
  off(event: 'change', listener: LeaseChangeListener): unknown;
  on(event: 'track', listener: (lease: Lease) => void): unknown;
}
