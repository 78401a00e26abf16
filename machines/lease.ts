import { and, assign, not, or, setup, type SnapshotFrom } from 'xstate';

/**
 * One plugin instance's lease, from its request to a verified binding kept alive, and its end.
 *
 * Pure: no sockets, no clock. Every effect is a named action provided at the composition root
 * (`src/main.ts`), and every wait is asked for with `startTimer` (its end arrives as `TIMEOUT`)
 * or, for the lease's absolute deadline, `startDeadline` (`DEADLINE`), so the coordinator drives
 * thousands of leases from one timer and tests send the timeouts as events. The shell delivers
 * events and carries out effects; what a message means for the lease is decided here. [PROTOCOL §1-§9]
 */

export interface LeaseSettings {
  /** First wait for a confirmation before the assignment is sent again. */
  assignTimeoutMs: number;
  /** Upper bound for that wait, which doubles with every timeout. */
  assignTimeoutMaxMs: number;
  /** Times an unanswered assignment is sent again before the offer lapses. */
  assignResends: number;
  /** First wait for a probe answer; doubles with every attempt. */
  probeTimeoutMs: number;
  probeAttempts: number;
  /** Binding attempts per request before `retries_exhausted`. */
  maxTries: number;
  /** Probes of a bound lease, each unanswered, before it expires. */
  livenessProbes: number;
}

export type ErrorCode = 'pool_exhausted' | 'invalid_request' | 'retries_exhausted' | 'busy';

/**
 * Where a port named in a confirmation stands for the confirming lease, when it is not the lease's
 * own offer (the edge classifies it from the port ledger). [PROTOCOL §3, §4]
 * - `offer`: offered to another lease at the same response endpoint and not yet confirmed (crossed).
 * - `set-aside`: offered at that endpoint, unanswered, and quarantined (a late confirmation).
 * - `free`: nobody holds it.
 * - `held`: another lease holds it, verified or being verified.
 * - `none`: anything else.
 */
export type Claim = 'offer' | 'set-aside' | 'free' | 'held' | 'none';

export interface LeaseInput {
  tempId: string;
  settings: LeaseSettings;
  /** Until the absolute deadline: the request's resend schedule, or a restored lease's remaining liveness window. */
  deadlineMs: number;
  /** A lease restored from the journal: re-verified on this port before it is trusted, never re-offered. */
  restoredPort?: number;
  /** First seen in a confirmation or a probe answer (its request was lost): no endpoint to send offers to. */
  adopted?: boolean;
}

export interface LeaseContext {
  tempId: string;
  settings: LeaseSettings;
  deadlineMs: number;
  /** The port offered, being verified, or bound; -1 when none. */
  port: number;
  adopted: boolean;
  /** Restored from the journal and not yet verified again. */
  restored: boolean;
  /** Other leases share this offer's response endpoint: a resend would reach one of them. */
  sharedOffer: boolean;
  /** Doublings of the assignment wait: the endpoint's recent timeouts plus this offer's resends. */
  backoff: number;
  /** Assignment timeouts so far in this request. */
  resends: number;
  /** Failed binding attempts so far in this request. */
  failures: number;
  /** Probes sent in the current verification, or in the current check of a bound lease. */
  probesSent: number;
  error: { code: ErrorCode; detail: string } | undefined;
}

export type LeaseEvent =
  /** The coordinator reserved `port` for this lease; it is this lease's turn at its endpoint. */
  | { type: 'OFFER'; port: number; shared: boolean; backoff: number }
  | { type: 'POOL_EXHAUSTED' }
  /** Another lease confirmed the port offered to this one (a crossed assignment). */
  | { type: 'OFFER_TAKEN' }
  /** The instance says it bound `port`. */
  | { type: 'CONFIRMED'; port: number; claim: Claim }
  /** The instance says it could not bind `port`: for a verified lease only a claim, which makes the port prove itself. */
  | { type: 'BIND_FAILED'; port: number; claim: Claim }
  /** A probe of this lease's port was answered with its own identity. */
  | { type: 'PROBE_ANSWERED' }
  /** A probe of `port` was answered by another instance: it receives there now. */
  | { type: 'PORT_LOST'; port: number; heldBy: string }
  /** This instance answered a probe sent to `port` for another lease. */
  | { type: 'PORT_PROVEN'; port: number }
  /** Another lease now waits at this lease's response endpoint. */
  | { type: 'ENDPOINT_SHARED' }
  /** The instance asked again (perhaps from a new response endpoint). */
  | { type: 'REQUEST_AGAIN' }
  | { type: 'RELEASE' }
  /** The instance table is full and this is the oldest lease never verified: it makes room. */
  | { type: 'EVICTED' }
  /** The wait asked for by `startTimer` is over. */
  | { type: 'TIMEOUT' }
  /** A bound lease is due for a liveness check (silence, or the periodic re-verification). */
  | { type: 'LIVENESS_DUE' }
  /** The absolute deadline asked for by `startDeadline` passed. */
  | { type: 'DEADLINE' };

/** The whole resend schedule of one offer: how long a request may wait for its port. [PROTOCOL §3] */
export function requestLifetimeMs(settings: Pick<LeaseSettings, 'assignTimeoutMs' | 'assignTimeoutMaxMs' | 'assignResends'>): number {
  let total = 0;
  for (let resend = 0; resend <= settings.assignResends; resend++) {
    total += Math.min(settings.assignTimeoutMs * 2 ** resend, settings.assignTimeoutMaxMs);
  }
  return total;
}

export type PortParams = { port: number };
export type TimerParams = { ms: number };

const NO_PORT = -1;

const currentPort = ({ context }: { context: LeaseContext }): PortParams => ({ port: context.port });
const eventPort = ({ event }: { event: LeaseEvent }): PortParams => ({ port: 'port' in event ? event.port : NO_PORT });

/** The instance turned up on `event.port`: give back whatever other port it held, then take that one. */
const moveToEventPort = [
  {
    type: 'returnPort',
    params: ({ context, event }: { context: LeaseContext; event: LeaseEvent }): PortParams => ({
      port: 'port' in event && context.port === event.port ? NO_PORT : context.port,
    }),
  },
  assign<LeaseContext, LeaseEvent, undefined, LeaseEvent, never>({ port: ({ event }) => ('port' in event ? event.port : NO_PORT) }),
] as const;

const clearPort = assign<LeaseContext, LeaseEvent, undefined, LeaseEvent, never>({ port: NO_PORT });
const giveBackPort = [{ type: 'returnPort', params: currentPort }, clearPort] as const;
const quarantineOwnPort = [{ type: 'quarantinePort', params: currentPort }, clearPort] as const;

export const leaseMachine = setup({
  types: {
    context: {} as LeaseContext,
    events: {} as LeaseEvent,
    input: {} as LeaseInput,
  },
  actions: {
    /** Queue this lease at its response endpoint until it is its turn for an offer. */
    awaitOffer: () => {},
    /** Leave the endpoint's queue; with `rejoin`, join the queue of its (new) endpoint again. */
    leaveQueue: () => {},
    rejoinQueue: () => {},
    sendAssignment: (_, _params: PortParams) => {},
    /** Let the next lease at the same endpoint have its offer. */
    endTurn: () => {},
    /** An assignment went unanswered: the endpoint is slow or gone. */
    noteTimeout: () => {},
    sendProbe: (_, _params: PortParams) => {},
    /** Nonces of this lease's probes stop being accepted. */
    cancelProbes: () => {},
    noteProbeTimeout: () => {},
    /** The port named by a confirmation becomes this lease's (crossed, late, or adopted); who it was offered to is told. */
    claimPort: (_, _params: PortParams) => {},
    /** Port -1 means there is nothing to give back. */
    returnPort: (_, _params: PortParams) => {},
    quarantinePort: (_, _params: PortParams) => {},
    /** A confirmation this lease had no right to make: counted, and it changes nothing. */
    ignoreConfirmation: () => {},
    sendError: () => {},
    /** A liveness check was answered: the lease showed life. */
    reportAlive: () => {},
    /** Arm the lease's wait (`TIMEOUT`), replacing the one before. */
    startTimer: (_, _params: TimerParams) => {},
    stopTimer: () => {},
    /** Arm the next liveness check (`LIVENESS_DUE`), from the lease's last sign of life. */
    scheduleCheck: () => {},
    startDeadline: (_, _params: TimerParams) => {},
    stopDeadline: () => {},
  },
  guards: {
    isOwnPort: ({ context, event }) => 'port' in event && event.port === context.port,
    restored: ({ context }) => context.restored,
    adopted: ({ context }) => context.adopted,
    isRestoring: ({ context }) => context.port !== NO_PORT,
    canResend: ({ context }) => context.resends < context.settings.assignResends,
    sharedOffer: ({ context }) => context.sharedOffer,
    canProbeAgain: ({ context }) => context.probesSent < context.settings.probeAttempts,
    canCheckAgain: ({ context }) => context.probesSent < context.settings.livenessProbes,
    canRetry: ({ context }) => context.failures + 1 < context.settings.maxTries,
    /** [PROTOCOL §3] deployed plugins take whatever assignment reaches their endpoint, and may confirm it late. */
    offeredAtItsEndpoint: ({ event }) => 'claim' in event && (event.claim === 'offer' || event.claim === 'set-aside'),
    claimFree: ({ event }) => 'claim' in event && event.claim === 'free',
    claimHeld: ({ event }) => 'claim' in event && event.claim === 'held',
  },
}).createMachine({
  id: 'lease',
  context: ({ input }) => ({
    tempId: input.tempId,
    settings: input.settings,
    deadlineMs: input.deadlineMs,
    port: input.restoredPort ?? NO_PORT,
    adopted: input.adopted ?? false,
    restored: input.restoredPort !== undefined,
    sharedOffer: false,
    backoff: 0,
    resends: 0,
    failures: 0,
    probesSent: 0,
    error: undefined,
  }),
  initial: 'starting',
  on: {
    RELEASE: '.released',
    PORT_PROVEN: { target: '.bound', actions: moveToEventPort },
    // Whatever no state below accepts: a confirmation that was not this lease's to make. [PROTOCOL §4]
    CONFIRMED: { actions: 'ignoreConfirmation' },
    BIND_FAILED: { actions: 'ignoreConfirmation' },
  },
  states: {
    starting: {
      entry: { type: 'startDeadline', params: ({ context }) => ({ ms: context.deadlineMs }) },
      always: [{ guard: 'isRestoring', target: 'verifying' }, { guard: 'adopted', target: 'adopted' }, { target: 'requesting' }],
    },
    /** Known only from a confirmation or a probe answer: what it said comes next, or its deadline. */
    adopted: {
      on: {
        CONFIRMED: [
          { guard: or(['offeredAtItsEndpoint', 'claimFree']), target: 'verifying', actions: [{ type: 'claimPort', params: eventPort }, ...moveToEventPort] },
          // Another lease holds the port: only the probe that follows can move it (the newest SO_REUSEADDR socket receives).
          { guard: 'claimHeld', target: 'verifying', actions: moveToEventPort },
        ],
        REQUEST_AGAIN: { target: 'requesting', actions: assign({ adopted: false }) },
        DEADLINE: 'lapsed',
        EVICTED: 'lapsed',
      },
    },
    requesting: {
      entry: 'awaitOffer',
      exit: 'leaveQueue',
      on: {
        OFFER: {
          target: 'assigned',
          actions: assign({
            port: ({ event }) => event.port,
            sharedOffer: ({ event }) => event.shared,
            backoff: ({ event }) => event.backoff,
          }),
        },
        POOL_EXHAUSTED: {
          target: 'failed',
          actions: assign({ error: { code: 'pool_exhausted', detail: 'every port in the pool is taken' } }),
        },
        // [PROTOCOL §3] crossed: this lease took an assignment meant for another.
        CONFIRMED: { guard: 'offeredAtItsEndpoint', target: 'verifying', actions: [{ type: 'claimPort', params: eventPort }, ...moveToEventPort] },
        BIND_FAILED: {
          guard: 'offeredAtItsEndpoint',
          target: 'retrying',
          actions: [{ type: 'claimPort', params: eventPort }, { type: 'quarantinePort', params: eventPort }],
        },
        REQUEST_AGAIN: { actions: 'rejoinQueue' },
        DEADLINE: 'lapsed',
        EVICTED: 'lapsed',
      },
    },
    assigned: {
      entry: [
        { type: 'sendAssignment', params: currentPort },
        {
          type: 'startTimer',
          params: ({ context }) => ({ ms: Math.min(context.settings.assignTimeoutMs * 2 ** context.backoff, context.settings.assignTimeoutMaxMs) }),
        },
      ],
      exit: ['stopTimer', 'endTurn'],
      on: {
        TIMEOUT: [
          {
            // Nobody else listens at this endpoint: sending the same port again is harmless.
            guard: and(['canResend', not('sharedOffer')]),
            actions: [
              'noteTimeout',
              assign({ resends: ({ context }) => context.resends + 1, backoff: ({ context }) => context.backoff + 1 }),
              { type: 'sendAssignment', params: currentPort },
              {
                type: 'startTimer',
                params: ({ context }) => ({
                  ms: Math.min(context.settings.assignTimeoutMs * 2 ** context.backoff, context.settings.assignTimeoutMaxMs),
                }),
              },
            ],
          },
          {
            // Shared endpoint: the first taker may only be slow, so never hand its port to a second
            // taker. Keep the port aside (a late confirmation still claims it) and wait for a new turn.
            guard: 'canResend',
            target: 'requesting',
            actions: ['noteTimeout', ...quarantineOwnPort, assign({ resends: ({ context }) => context.resends + 1 })],
          },
          { target: 'lapsed', actions: ['noteTimeout', ...giveBackPort] },
        ],
        REQUEST_AGAIN: { actions: { type: 'sendAssignment', params: currentPort } },
        ENDPOINT_SHARED: { actions: assign({ sharedOffer: true }) },
        OFFER_TAKEN: { target: 'requesting', actions: assign({ port: NO_PORT }) },
        CONFIRMED: [
          { guard: 'isOwnPort', target: 'verifying' },
          { guard: 'offeredAtItsEndpoint', target: 'verifying', actions: [{ type: 'claimPort', params: eventPort }, ...moveToEventPort] },
        ],
        BIND_FAILED: [
          { guard: 'isOwnPort', target: 'retrying', actions: quarantineOwnPort },
          {
            // It tried another lease's offer and failed: that port is suspect, its own offer goes back unused.
            guard: 'offeredAtItsEndpoint',
            target: 'retrying',
            actions: [{ type: 'claimPort', params: eventPort }, { type: 'quarantinePort', params: eventPort }, ...giveBackPort],
          },
        ],
        DEADLINE: { target: 'lapsed', actions: giveBackPort },
        EVICTED: { target: 'lapsed', actions: giveBackPort },
      },
    },
    verifying: {
      entry: [assign({ probesSent: 1 }), { type: 'sendProbe', params: currentPort }, { type: 'startTimer', params: ({ context }) => ({ ms: context.settings.probeTimeoutMs }) }],
      // Every nonce sent in this verification stays valid until it ends: a busy plugin may answer the first probe late.
      exit: ['stopTimer', 'cancelProbes'],
      on: {
        PROBE_ANSWERED: { target: 'bound', actions: assign({ restored: false }) },
        TIMEOUT: [
          {
            guard: 'canProbeAgain',
            actions: [
              'noteProbeTimeout',
              assign({ probesSent: ({ context }) => context.probesSent + 1 }),
              { type: 'sendProbe', params: currentPort },
              { type: 'startTimer', params: ({ context }) => ({ ms: context.settings.probeTimeoutMs * 2 ** (context.probesSent - 1) }) },
            ],
          },
          // [PROTOCOL §8] a restored lease that does not answer has gone: its port goes back.
          { guard: 'restored', target: 'expired', actions: ['noteProbeTimeout', ...giveBackPort] },
          // [PROTOCOL §5] no answer: the binding failed, handled like `failed`.
          { target: 'retrying', actions: ['noteProbeTimeout', ...quarantineOwnPort] },
        ],
        PORT_LOST: [
          { guard: and(['isOwnPort', 'restored']), target: 'stolen', actions: assign({ port: NO_PORT }) },
          { guard: 'isOwnPort', target: 'retrying', actions: assign({ port: NO_PORT }) },
        ],
        REQUEST_AGAIN: [
          {
            // [PROTOCOL §8] A restored instance that asks is back at its response endpoint, not on its old port, which
            // may be another's by now: it waits for an offer like any request, its old port preferred once checked free.
            guard: 'restored',
            target: 'requesting',
            actions: [
              ...giveBackPort,
              assign({ restored: false }),
              { type: 'startDeadline', params: ({ context }) => ({ ms: requestLifetimeMs(context.settings) }) },
            ],
          },
          { actions: { type: 'sendAssignment', params: currentPort } },
        ],
        CONFIRMED: { guard: 'isOwnPort' },
        // A restored lease was verified before: only its probes decide, as for a bound one.
        BIND_FAILED: { guard: and(['isOwnPort', not('restored')]), target: 'retrying', actions: quarantineOwnPort },
        EVICTED: { guard: not('restored'), target: 'lapsed', actions: giveBackPort },
        // [PROTOCOL §3, §8] an adopted lease's time is up, or a restored one was silent too long across restarts.
        DEADLINE: [
          { guard: 'restored', target: 'expired', actions: giveBackPort },
          { guard: 'adopted', target: 'lapsed', actions: giveBackPort },
        ],
      },
    },
    /**
     * Verified. The lease stays true while it lives [PROTOCOL §9]: `alive` until its next check is due
     * (silence, or the periodic re-verification), then `checking` with the same probe as at binding.
     */
    bound: {
      initial: 'alive',
      entry: ['stopDeadline', assign({ adopted: false })],
      exit: 'stopTimer',
      states: {
        alive: {
          entry: [assign({ probesSent: 0 }), 'scheduleCheck'],
          on: {
            LIVENESS_DUE: 'checking',
            // [PROTOCOL §4] only the port itself can end a verified binding: a `failed` makes it prove itself now.
            BIND_FAILED: { guard: 'isOwnPort', target: 'checking' },
          },
        },
        checking: {
          entry: [
            assign({ probesSent: ({ context }) => context.probesSent + 1 }),
            { type: 'sendProbe', params: currentPort },
            { type: 'startTimer', params: ({ context }) => ({ ms: context.settings.probeTimeoutMs * 2 ** (context.probesSent - 1) }) },
          ],
          exit: 'cancelProbes',
          on: {
            PROBE_ANSWERED: { target: 'alive', actions: 'reportAlive' },
            TIMEOUT: [
              { guard: 'canCheckAgain', target: 'checking', reenter: true, actions: 'noteProbeTimeout' },
              { target: '#lease.expired', actions: ['noteProbeTimeout', ...giveBackPort] },
            ],
            BIND_FAILED: { guard: 'isOwnPort' },
          },
        },
      },
      on: {
        REQUEST_AGAIN: { actions: { type: 'sendAssignment', params: currentPort } },
        CONFIRMED: { guard: 'isOwnPort' },
        // Another instance answered on the port: it receives there now, this lease is over.
        PORT_LOST: { guard: 'isOwnPort', target: 'stolen', actions: assign({ port: NO_PORT }) },
      },
    },
    /** A binding attempt failed: offer another port, or give up. [PROTOCOL §4] */
    retrying: {
      always: [
        // Nowhere to send an offer: it is forgotten until it asks.
        { guard: 'adopted', target: 'lapsed' },
        { guard: 'canRetry', target: 'requesting', actions: assign({ failures: ({ context }) => context.failures + 1, resends: 0, backoff: 0 }) },
        {
          target: 'failed',
          actions: assign({
            failures: ({ context }) => context.failures + 1,
            error: ({ context }) => ({
              code: 'retries_exhausted' as const,
              detail: `no port could be verified in ${context.settings.maxTries} tries`,
            }),
          }),
        },
      ],
    },
    failed: { type: 'final', entry: 'sendError' },
    lapsed: { type: 'final' },
    expired: { type: 'final' },
    stolen: { type: 'final' },
    released: { type: 'final', entry: { type: 'returnPort', params: currentPort } },
  },
});

export type LeaseMachine = typeof leaseMachine;

type TopLevel<Value> = Value extends string ? Value : keyof Value & string;

/** The machine's top-level state names (`bound` covers alive and checking): the one type a lease's state has. */
export type LeaseStateName = TopLevel<SnapshotFrom<LeaseMachine>['value']>;

export const END_STATES = ['failed', 'lapsed', 'expired', 'stolen', 'released'] as const satisfies readonly LeaseStateName[];
export type EndState = (typeof END_STATES)[number];

export const isEnded = (state: LeaseStateName): state is EndState => (END_STATES as readonly string[]).includes(state);

/** The top-level state of a snapshot. */
export function topLevelState(snapshot: SnapshotFrom<LeaseMachine>): LeaseStateName {
  const { value } = snapshot;
  return typeof value === 'string' ? value : (Object.keys(value)[0] as LeaseStateName);
}
