import type { Actor } from 'xstate';
import type { LeaseMachine, LeaseStateName } from '../../machines/lease.js';
import type { ProbeAsker } from '../probes.js';

export interface Endpoint {
  host: string;
  port: number;
  key: string;
}

export type LeaseActor = Actor<LeaseMachine>;

/** The states a lease is shown in (PROTOCOL §10): an adopted lease shows as requesting until its port is known. */
export const LEASE_STATES = ['requesting', 'assigned', 'verifying', 'bound'] as const;
export type LeaseState = (typeof LEASE_STATES)[number];

/**
 * What the coordinator keeps for one plugin instance beside its machine. `state` and `port`
 * mirror the machine's snapshot, written by the registry as each transition settles, so
 * queries and the port ledger never read the actor.
 */
export interface Lease {
  readonly tempId: string;
  actor: LeaseActor;
  /** The machine's top-level state, or how it ended. */
  state: LeaseStateName;
  /** The port the machine holds (offered, being verified, or bound); -1 when none. */
  port: number;
  /** Restored from the journal and not verified again yet. */
  restored: boolean;
  /** Where assignments go; undefined for a lease first seen in a confirmation or probe answer. */
  endpoint: Endpoint | undefined;
  /** The endpoint whose queue it waits in, or whose turn it holds. */
  queuedAt: string | undefined;
  /** Host its receiving port lives on: the address its messages come from. */
  host: string;
  /** The address its request came from: only that host may confirm or release for it. [PROTOCOL §4, §7] */
  origin: string;
  preferredPort: number;
  /** Answers for the probes of this lease's port. */
  asker: ProbeAsker;
  /** Clock time of the request, until the lease is first bound: the handshake's duration. */
  requestedAt: number | undefined;
  createdAt: number;
  /** Wall-clock time it was first bound, kept across re-verifications and restarts. */
  boundSince: number | undefined;
  trackId: string | null;
  rttMs: number | null;
  /** The port a probe showed another instance receiving on, and who: for the log when the lease ends as stolen. */
  lostTo: { port: number; heldBy: string } | undefined;
}

export function endpointOf(host: string, port: number): Endpoint {
  return { host, port, key: `${host}:${port}` };
}

/** The state a lease is shown in. */
export function shownState(lease: Lease): LeaseState {
  return lease.state === 'adopted' ? 'requesting' : (lease.state as LeaseState);
}
