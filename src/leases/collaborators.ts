import type { Clock } from '../clock.js';
import type { Counters } from '../counters.js';
import type { Logger } from '../log.js';
import type { PortCheck } from '../net/port-check.js';
import type { SendBytes } from '../net/udp.js';
import { ProbeBook } from '../probes.js';
import type { RateLimitedLog } from '../rate-limited-log.js';
import type { CoordinatorSettings } from '../settings/index.js';
import type { Lease } from './lease.js';
import { PortLedger } from './ledger.js';
import { Liveness } from './liveness.js';
import { Offers } from './offers.js';
import { LeaseKeeper, type LeaseStore } from './persistence/keeper.js';
import { PortPool } from './pool.js';
import { LeaseTimers } from './timers.js';

export interface LeaseCollaboratorsOptions {
  settings: Readonly<CoordinatorSettings>;
  /** The coordinator's own port: never offered. */
  ownPort: number;
  send: SendBytes;
  portCheck: PortCheck;
  store: LeaseStore | undefined;
  clock: Clock;
  wallNow: () => number;
  createNonce: () => string;
  counters: Counters;
  log: RateLimitedLog;
  logger: Logger;
}

/**
 * The collaborators of the lease machine, built from settings and the edge (a socket's send, a
 * clock, a port check, a store): what the composition root provides the machine with, and what
 * unit tests build with fake edges.
 */
export function leaseCollaborators(options: LeaseCollaboratorsOptions) {
  const { settings, clock, counters, logger } = options;
  const table = new Map<string, Lease>();
  const pool = new PortPool({
    low: settings.poolLow,
    high: settings.poolHigh,
    reserved: [...settings.reserved, options.ownPort],
    quarantineMs: settings.quarantineMs,
    now: () => clock.now(),
  });
  const ledger = new PortLedger(pool);
  const liveness = new Liveness(clock, settings);
  return {
    ...options,
    table,
    ledger,
    liveness,
    probes: new ProbeBook(clock, options.createNonce),
    keeper: new LeaseKeeper(options.store, options.wallNow, (err, tempId) => {
      counters.journalFailures++;
      options.log('journal_failed', 'error', { err, tempId }, 'the journal refused a record: the lease goes on in memory');
    }),
    offers: new Offers({ ledger, portCheck: options.portCheck, clock, counters, logger, lease: (tempId) => table.get(tempId) }),
    timers: new LeaseTimers(clock, liveness, (tempId, event) => table.get(tempId)?.actor.send(event)),
  };
}

export type LeaseCollaborators = ReturnType<typeof leaseCollaborators>;
