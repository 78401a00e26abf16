import type { LeaseSettings } from '../../machines/lease.js';

/** The lease rules that are plain arithmetic on settings and times: unit-tested without a coordinator. */

/** The whole resend schedule of one offer: how long a request may wait for its port. [PROTOCOL §3] */
export function requestLifetimeMs(settings: Pick<LeaseSettings, 'assignTimeoutMs' | 'assignTimeoutMaxMs' | 'assignResends'>): number {
  let total = 0;
  for (let resend = 0; resend <= settings.assignResends; resend++) {
    total += Math.min(settings.assignTimeoutMs * 2 ** resend, settings.assignTimeoutMaxMs);
  }
  return total;
}

/** One liveness check of a bound lease: `livenessProbes` probes, each wait doubling. [PROTOCOL §9] */
export function checkDurationMs(settings: Pick<LeaseSettings, 'probeTimeoutMs' | 'livenessProbes'>): number {
  return settings.probeTimeoutMs * (2 ** settings.livenessProbes - 1);
}

/**
 * [PROTOCOL §8] How long a restored lease may stay unanswered: until a liveness window after its
 * last sign of life before the restart (so restarting often never extends it), but never less
 * than one liveness check.
 */
export function restoredLifetimeMs(
  settings: Pick<LeaseSettings, 'probeTimeoutMs' | 'livenessProbes'> & { livenessIntervalMs: number },
  lastSeenWall: number,
  nowWall: number,
): number {
  const check = checkDurationMs(settings);
  return Math.max(lastSeenWall + settings.livenessIntervalMs + check - nowWall, check);
}

/** [PROTOCOL §1, §8] The port an instance asks for, else the one it held last (affinity), else none (-1). */
export function preferredPort(requested: number, remembered: number | undefined): number {
  return requested > 0 ? requested : (remembered ?? -1);
}
