import type { Clock } from '../clock.js';
import { LEASE_STATES, shownState, type Lease, type LeaseState } from './lease.js';
import type { Liveness } from './liveness.js';

/**
 * A lease as `/coordinator/lease` and `/coordinator/leases` carry it (PROTOCOL §10), written by the
 * coordinator and read back by the CLI: the one definition of that shape.
 */
export interface LeaseView {
  tempId: string;
  /** null while the instance holds no port (waiting for an offer). */
  port: number | null;
  state: LeaseState;
  trackId: string | null;
  /** Since the lease was first bound (or created, before that). */
  ageMs: number;
  /** Since the coordinator last heard from the instance; null before it was bound. */
  lastSeenMs: number | null;
  /** The last probe's round trip. */
  rttMs: number | null;
  /** Where its assignments go, `host:port`; null when unknown. */
  endpoint: string | null;
}

/** A lease from a reply, checked field by field; undefined when it is not one. */
export function parseLeaseView(value: unknown): LeaseView | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const lease = value as Record<string, unknown>;
  const ok =
    typeof lease.tempId === 'string' &&
    (lease.port === null || isPort(lease.port)) &&
    (LEASE_STATES as readonly unknown[]).includes(lease.state) &&
    (lease.trackId === null || typeof lease.trackId === 'string') &&
    isDuration(lease.ageMs) &&
    (lease.lastSeenMs === null || isDuration(lease.lastSeenMs)) &&
    (lease.rttMs === null || isDuration(lease.rttMs)) &&
    (lease.endpoint === undefined || lease.endpoint === null || typeof lease.endpoint === 'string');
  return ok ? ({ ...lease, endpoint: lease.endpoint ?? null } as unknown as LeaseView) : undefined;
}

const isPort = (value: unknown) => Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535;
const isDuration = (value: unknown) => typeof value === 'number' && Number.isFinite(value) && value >= 0;

/** How a lease is shown: ages and round trips in whole (or hundredths of) milliseconds, null where unknown. */
export function toLeaseView(lease: Lease, { clock, wallNow, liveness }: { clock: Clock; wallNow: () => number; liveness: Liveness }): LeaseView {
  const now = clock.now();
  const lastSeen = liveness.lastSeen(lease.tempId);
  return {
    tempId: lease.tempId,
    port: lease.port < 0 ? null : lease.port,
    state: shownState(lease),
    trackId: lease.trackId,
    ageMs: Math.round(lease.boundSince === undefined ? now - lease.createdAt : wallNow() - lease.boundSince),
    lastSeenMs: lastSeen === undefined ? null : Math.round(now - lastSeen),
    rttMs: lease.rttMs === null ? null : Math.round(lease.rttMs * 100) / 100,
    endpoint: lease.endpoint?.key ?? null,
  };
}
