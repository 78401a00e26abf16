import type { Actor } from 'xstate';
import type { portAssignmentMachine } from '../../machines/lease.js';

export interface Clock {
  setTimeout(fn: (...args: unknown[]) => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
  now(): number;
}

export interface Endpoint {
  host: string;
  port: number;
  key: string;
}

export interface Source {
  address: string;
  port: number;
}

export type InstanceActor = Actor<typeof portAssignmentMachine>;

/** What the coordinator keeps per instance beside its machine. */
export interface Instance {
  tempId: string;
  actor: InstanceActor;
  /** Where assignments go; undefined for an instance first seen in a confirmation or probe answer. */
  endpoint: Endpoint | undefined;
  /** The endpoint whose turn this instance holds, kept apart so a repeated request can move `endpoint`. */
  turnKey: string | undefined;
  /** Host its receiving port lives on: the address its messages come from. */
  host: string;
  /** The address its request came from: only that host may confirm or release for it. [PROTOCOL §4, §7] */
  origin: string;
  /** A port taken from the pool for its offer, credited to it while the OS check runs. */
  allocating: number | undefined;
  preferredPort: number;
  nonces: string[];
  requestedAt: number | undefined;
  createdAt: number;
  /** Wall-clock time it was first bound, kept across re-verifications and restarts. */
  boundSince: number | undefined;
  trackId: string | null;
  rttMs: number | null;
  /** The port last written to the store as bound, if any. */
  persistedPort: number | undefined;
  /** How it ended, for the store's record. */
  endedAs: string | undefined;
  /** The port a probe showed another instance receiving on, and who: told to the log if the lease ends as stolen. */
  lostTo: { port: number; heldBy: string } | undefined;
}

export function endpointOf(host: string, port: number): Endpoint {
  return { host, port, key: `${host}:${port}` };
}
