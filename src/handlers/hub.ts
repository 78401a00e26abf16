import type { AdminProbes } from '../admin-probes.js';
import type { Assignments } from '../leases/registry.js';
import type { Source } from '../leases/lease.js';
import type { DecodedMessage, OscMessage } from '../osc/codec.js';
import type { Counters } from '../counters.js';
import type { RateLimitedLog } from '../rate-limited-log.js';

/** What a handler may touch: the assignments, the counters, the rate-limited log, and the admin side. */
export interface Hub {
  assignments: Assignments;
  counters: Counters;
  /** Every line a datagram can cause goes through it. */
  log: RateLimitedLog;
  adminProbes: AdminProbes;
  send: (message: OscMessage, host: string, port: number) => void;
  /** The coordinator's status, as `oscport status` shows it. */
  status: () => unknown;
}

export type Handler = (hub: Hub, message: DecodedMessage, source: Source) => void;

/** Counts a well-formed message with the wrong arguments for its address, and logs it at a bounded rate. */
export function rejectInvalid(hub: Hub, address: string, source: Source, detail: string): void {
  hub.counters.invalid++;
  hub.log(`invalid ${address}`, 'warn', { source: `${source.address}:${source.port}`, detail }, `invalid ${address} dropped`);
}
