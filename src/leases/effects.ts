import type { leaseMachine, LeaseContext, LeaseEvent, PortParams, TimerParams } from '../../machines/lease.js';
import type { Counters } from '../counters.js';
import type { SendBytes } from '../net/udp.js';
import * as templates from '../osc/templates.js';
import type { ErrorCode } from '../osc/wire.js';
import type { ProbeBook } from '../probes.js';
import type { RateLimitedLog } from '../rate-limited-log.js';
import type { Endpoint, Lease } from './lease.js';
import type { PortLedger } from './ledger.js';
import type { Offers } from './offers.js';
import type { LeaseKeeper } from './persistence/keeper.js';
import type { LeaseTimers } from './timers.js';

export interface LeaseEffectsOptions {
  table: ReadonlyMap<string, Lease>;
  ledger: PortLedger;
  offers: Offers;
  probes: ProbeBook;
  timers: LeaseTimers;
  keeper: LeaseKeeper;
  send: SendBytes;
  counters: Counters;
  log: RateLimitedLog;
}

type Actions = Parameters<typeof leaseMachine.provide>[0]['actions'];
type Args = { context: LeaseContext };

/**
 * What the lease machine's actions do in the world: the sends, the port ledger, the queue and the
 * timers. Each is one small step the machine asked for; none decides anything.
 */
export function leaseEffects(options: LeaseEffectsOptions): Actions {
  return contained(options, effects(options));
}

/**
 * Each effect, and no failure of one reaching its machine: an action that throws would stop the
 * actor, and the lease with it, in silence. The lease goes on; the failure is counted and logged.
 */
function contained(options: LeaseEffectsOptions, actions: NonNullable<Actions>): Actions {
  const wrapped: Record<string, (...args: never[]) => void> = {};
  for (const [name, action] of Object.entries(actions) as unknown as Array<[string, (args: Args, params: never) => void]>) {
    wrapped[name] = (args: Args, params: never) => {
      try {
        action(args, params);
      } catch (err) {
        options.counters.effectFailures++;
        options.log(`effect ${name}`, 'error', { err, tempId: args.context.tempId }, `lease effect ${name} failed: the lease goes on`);
      }
    };
  }
  return wrapped as Actions;
}

function effects(options: LeaseEffectsOptions): NonNullable<Actions> {
  const { table, ledger, offers, probes, timers, keeper, send, counters } = options;
  // Every action runs for a lease that is in the table: it is added before its actor starts and removed when it ends.
  const lease = ({ context }: Args) => table.get(context.tempId)!;
  return {
    awaitOffer: (args: Args) => offers.await(lease(args)),
    leaveQueue: (args: Args) => offers.leave(lease(args)),
    rejoinQueue: (args: Args) => offers.rejoin(lease(args)),
    endTurn: (args: Args) => offers.endTurn(lease(args)),
    noteTimeout: (args: Args) => offers.noteTimeout(lease(args)),
    sendAssignment: (args: Args, { port }: PortParams) => {
      const { endpoint, tempId } = lease(args);
      if (!endpoint || port < 0) return;
      counters.assignments++;
      ledger.noteOffer(port, endpoint.key);
      send(templates.portAssignment(tempId, port, 'assigned'), endpoint.host, endpoint.port);
    },
    sendProbe: (args: Args, { port }: PortParams) => {
      const { asker, host } = lease(args);
      if (port < 0) return;
      counters.probesSent++;
      send(templates.queryRms(probes.ask(asker, host, port)), host, port);
    },
    cancelProbes: (args: Args) => probes.cancel(lease(args).asker),
    noteProbeTimeout: () => {
      counters.probeFailures++;
    },
    claimPort: ({ context }: Args, { port }: PortParams) => {
      const offeredTo = ledger.claim(port, context.tempId);
      if (offeredTo === undefined || offeredTo === context.tempId) return;
      // [PROTOCOL §3] crossed: the lease it was offered to waits for another turn, without it counting as a failure.
      counters.crossed++;
      table.get(offeredTo)?.actor.send({ type: 'OFFER_TAKEN' });
    },
    returnPort: ({ context }: Args, { port }: PortParams) => ledger.giveBack(context.tempId, port),
    quarantinePort: ({ context }: Args, { port }: PortParams) => {
      if (ledger.quarantine(context.tempId, port)) counters.quarantined++;
    },
    ignoreConfirmation: ({ context, event }: Args & { event: LeaseEvent }) =>
      noteIgnoredConfirmation(options, context.tempId, 'port' in event ? event.port : -1, 'not its offer'),
    sendError: (args: Args) => {
      const { endpoint, tempId } = lease(args);
      const { code, detail } = args.context.error ?? { code: 'retries_exhausted' as const, detail: 'failed' };
      if (endpoint) refuse(send, endpoint, tempId, code, detail);
    },
    reportAlive: (args: Args) => keeper.keep(lease(args)),
    startTimer: ({ context }: Args, { ms }: TimerParams) => timers.startTimer(context.tempId, ms),
    stopTimer: ({ context }: Args) => timers.stopTimer(context.tempId),
    scheduleCheck: ({ context }: Args) => timers.scheduleCheck(context.tempId),
    startDeadline: ({ context }: Args, { ms }: TimerParams) => timers.startDeadline(context.tempId, ms),
    stopDeadline: ({ context }: Args) => timers.stopDeadline(context.tempId),
  };
}

/** [PROTOCOL §2] the error status, then the reason in a separate message, both to the response endpoint. */
export function refuse(send: SendBytes, endpoint: Endpoint, tempId: string, code: ErrorCode, detail: string): void {
  send(templates.portAssignment(tempId, -1, 'error'), endpoint.host, endpoint.port);
  send(templates.portError(tempId, code, detail), endpoint.host, endpoint.port);
}

/** [PROTOCOL §4] a confirmation that was not the instance's to make: counted, logged at a bounded rate, nothing else. */
export function noteIgnoredConfirmation(
  options: { counters: Counters; log: RateLimitedLog },
  tempId: string,
  port: number,
  why: string,
): void {
  options.counters.confirmationsIgnored++;
  options.log('confirm_ignored', 'warn', { tempId, port, why }, 'confirmation ignored: it changes nothing');
}
