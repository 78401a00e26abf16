import type { SnapshotFrom } from 'xstate';
import { isEnded, type EndState, type LeaseMachine, type LeaseStateName } from '../../machines/lease.js';
import type { Clock } from '../clock.js';
import type { Counters } from '../counters.js';
import type { RateLimitedLog } from '../rate-limited-log.js';
import type { Lease } from './lease.js';
import type { LeaseKeeper } from './persistence/keeper.js';
import type { LeaseEvents } from './directory.js';

const ENDED_MESSAGES: Record<Exclude<EndState, 'failed'>, string> = {
  lapsed: 'offer lapsed: instance never confirmed',
  released: 'port released',
  expired: 'lease expired: no answer to its probes (the instance is gone, or a socket that does not answer took its port)',
  stolen: 'lease ended: port stolen by another instance (co-bound with SO_REUSEADDR)',
};

/** The counter each ending adds to (`oscport status`). */
const ENDED_COUNTERS = { lapsed: 'lapsed', released: 'released', expired: 'expiries', stolen: 'steals' } as const;

export interface LeaseOutcomesOptions {
  keeper: LeaseKeeper;
  counters: Counters;
  log: RateLimitedLog;
  clock: Clock;
  wallNow: () => number;
  emit: <K extends keyof LeaseEvents>(event: K, ...args: LeaseEvents[K]) => void;
}

/**
 * What a settled transition means outside the machine: the journal (a lease is written down while
 * bound, dropped with how it ended), the counters, the log, and the events listeners wait for.
 */
export class LeaseOutcomes {
  constructor(private readonly options: LeaseOutcomesOptions) {}

  settled(lease: Lease, wasState: LeaseStateName, snapshot: SnapshotFrom<LeaseMachine>): void {
    const { keeper } = this.options;
    const state = lease.state;
    if (state === 'bound') {
      if (wasState !== 'bound') this.bound(lease);
      keeper.keep(lease);
    } else if (wasState === 'bound' || isEnded(state)) {
      // A restored lease stays written down while it is verified again: only its end drops it.
      keeper.unbound(lease.tempId, isEnded(state) ? state : 'moved');
    }
    if (isEnded(state)) this.ended(lease, state, snapshot);
  }

  private bound(lease: Lease): void {
    const { clock, counters, wallNow } = this.options;
    const handshakeMs = lease.requestedAt === undefined ? undefined : clock.now() - lease.requestedAt;
    lease.requestedAt = undefined;
    lease.boundSince ??= wallNow();
    counters.bound++;
    this.options.log('bound', 'info', { tempId: lease.tempId, port: lease.port, handshakeMs }, 'port verified');
    this.options.emit('bound', { tempId: lease.tempId, port: lease.port, handshakeMs });
  }

  private ended(lease: Lease, state: EndState, snapshot: SnapshotFrom<LeaseMachine>): void {
    const { counters, log, emit } = this.options;
    const tempId = lease.tempId;
    if (state === 'failed') {
      const { code, detail } = snapshot.context.error ?? { code: 'retries_exhausted', detail: 'failed' };
      counters.failed++;
      log(`failed ${code}`, 'warn', { tempId, code, detail }, 'no port for instance');
      emit('failed', { tempId, code, detail });
      return;
    }
    counters[ENDED_COUNTERS[state]]++;
    const details = state === 'stolen' ? { tempId, port: lease.lostTo?.port, stolenBy: lease.lostTo?.heldBy } : { tempId };
    log(state, state === 'stolen' ? 'warn' : 'info', details, ENDED_MESSAGES[state]);
    emit(state, { tempId });
  }
}
