import { and, assign, not, setup } from 'xstate';

/**
 * One plugin instance's port assignment, from request to a verified binding.
 *
 * Pure: no sockets, no clock. Every effect is a named action that the
 * coordinator provides (`machine.provide`), every wait a named delay computed
 * from context, so tests drive it with SimulatedClock and read its actions as
 * data. The coordinator owns the pool and the port index; the machine says
 * when a port is offered, verified, given back or quarantined.
 */

export interface AssignmentSettings {
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

export interface AssignmentInput {
  tempId: string;
  settings: AssignmentSettings;
  /** A lease restored from the journal: it is re-verified on this port before it is trusted, never re-offered. */
  restoredPort?: number;
}

export interface AssignmentContext {
  tempId: string;
  settings: AssignmentSettings;
  /** The port offered, being verified, or bound; -1 when none. */
  port: number;
  /** Other instances share this offer's response endpoint: a resend would reach one of them. */
  sharedOffer: boolean;
  /** Doublings of the assignment wait: the endpoint's recent timeouts plus this offer's resends. */
  backoff: number;
  /** Assignment timeouts so far in this request. */
  resends: number;
  /** Failed binding attempts so far in this request. */
  failures: number;
  probesSent: number;
  /** Restored from the journal and not yet verified again. */
  restored: boolean;
  /** Liveness probes sent in the current check of a bound lease. */
  checkProbes: number;
  error: { code: ErrorCode; detail: string } | undefined;
}

export type AssignmentEvent =
  /** The coordinator reserved `port` for this instance; it is this instance's turn at its endpoint. */
  | { type: 'OFFER'; port: number; shared: boolean; backoff: number }
  | { type: 'POOL_EXHAUSTED' }
  /** Another instance confirmed the port offered to this one (a crossed assignment). */
  | { type: 'OFFER_TAKEN' }
  /** This instance says it bound `port`, whether or not it was the one offered to it. */
  | { type: 'CONFIRMED'; port: number }
  /**
   * This instance says it could not bind `port`. For a verified lease it is only a claim: anyone can send
   * it, so it triggers a check of the port, never an end. [PROTOCOL §4]
   */
  | { type: 'BIND_FAILED'; port: number }
  /** A probe of this instance's port was answered with its own identity. */
  | { type: 'PROBE_ANSWERED' }
  /** A probe of this instance's port was answered by another instance. */
  | { type: 'PORT_LOST'; heldBy: string }
  /** This instance answered a probe sent to `port` for another instance. */
  | { type: 'PORT_PROVEN'; port: number }
  /** Another instance now waits at this instance's response endpoint. */
  | { type: 'ENDPOINT_SHARED' }
  /** The instance asked again for the port it already has. */
  | { type: 'REQUEST_AGAIN' }
  | { type: 'RELEASE' }
  /** The request's absolute deadline passed while it still waits for a port (its turn, or its offer's answer). */
  | { type: 'REQUEST_EXPIRED' }
  /** The instance table is full and this is the oldest instance never verified: it makes room. */
  | { type: 'EVICTED' }
  /** A restored lease's absolute deadline passed: silent too long before and across restarts. */
  | { type: 'RESTORE_EXPIRED' }
  /** The bound lease's deadline passed: silent too long, or due for re-verification. */
  | { type: 'LIVENESS_DUE' }
  /** The liveness probe in flight went unanswered. */
  | { type: 'LIVENESS_TIMEOUT' };

export type PortParams = { port: number };

const NO_PORT = -1;

const currentPort = ({ context }: { context: AssignmentContext }): PortParams => ({ port: context.port });

/** The instance turned up on `event.port`: give back whatever other port it held, then take that one. */
const moveToEventPort = [
  {
    type: 'returnPort',
    params: ({ context, event }: { context: AssignmentContext; event: { port: number } }): PortParams => ({
      port: context.port === event.port ? NO_PORT : context.port,
    }),
  },
  assign<AssignmentContext, { type: string; port: number }, undefined, AssignmentEvent, never>({
    port: ({ event }) => event.port,
  }),
] as const;

export const portAssignmentMachine = setup({
  types: {
    context: {} as AssignmentContext,
    events: {} as AssignmentEvent,
    input: {} as AssignmentInput,
  },
  actions: {
    /** Queue this instance at its response endpoint until it is its turn for an offer. */
    awaitOffer: () => {},
    withdrawRequest: () => {},
    sendAssignment: (_, _params: PortParams) => {},
    /** Let the next instance at the same endpoint have its offer. */
    endTurn: () => {},
    /** An assignment went unanswered: the endpoint is slow or gone. */
    noteTimeout: () => {},
    sendProbe: (_, _params: PortParams) => {},
    cancelProbes: () => {},
    noteProbeTimeout: () => {},
    /** Port -1 means there is nothing to give back. */
    returnPort: (_, _params: PortParams) => {},
    quarantinePort: (_, _params: PortParams) => {},
    reportBound: (_, _params: PortParams) => {},
    reportFailure: () => {},
    reportLapsed: () => {},
    reportReleased: () => {},
    reportExpired: () => {},
    reportStolen: () => {},
    /** The lease leaves the bound state (for good, or to verify another port). */
    reportUnbound: () => {},
    /** A liveness check was answered: the lease showed life (journalled, so restarts keep counting from it). */
    reportAlive: () => {},
    /** Arm the lease's one deadline: the next liveness check (when alive) or the probe timeout (when checking). */
    scheduleCheck: () => {},
    scheduleCheckTimeout: (_, _params: { ms: number }) => {},
    cancelDeadline: () => {},
  },
  guards: {
    canResend: ({ context }) => context.resends < context.settings.assignResends,
    sharedOffer: ({ context }) => context.sharedOffer,
    canProbeAgain: ({ context }) => context.probesSent < context.settings.probeAttempts,
    canRetry: ({ context }) => context.failures + 1 < context.settings.maxTries,
    isOwnPort: ({ context, event }) => 'port' in event && event.port === context.port,
    restored: ({ context }) => context.restored,
    notRestored: ({ context }) => !context.restored,
    isRestoring: ({ context }) => context.port !== NO_PORT,
    canCheckAgain: ({ context }) => context.checkProbes < context.settings.livenessProbes,
  },
  delays: {
    assignTimeout: ({ context }) =>
      Math.min(context.settings.assignTimeoutMs * 2 ** context.backoff, context.settings.assignTimeoutMaxMs),
    probeTimeout: ({ context }) => context.settings.probeTimeoutMs * 2 ** (context.probesSent - 1),
  },
}).createMachine({
  id: 'portAssignment',
  context: ({ input }) => ({
    tempId: input.tempId,
    settings: input.settings,
    port: input.restoredPort ?? NO_PORT,
    restored: input.restoredPort !== undefined,
    checkProbes: 0,
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
    PORT_PROVEN: {
      target: '.bound',
      actions: moveToEventPort,
    },
  },
  states: {
    starting: {
      always: [{ guard: 'isRestoring', target: 'verifying' }, { target: 'requesting' }],
    },
    requesting: {
      entry: 'awaitOffer',
      exit: 'withdrawRequest',
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
        REQUEST_EXPIRED: 'lapsed',
        EVICTED: 'lapsed',
        // [PROTOCOL §3] crossed: this instance took an assignment meant for another.
        CONFIRMED: {
          target: 'verifying',
          actions: moveToEventPort,
        },
        BIND_FAILED: {
          target: 'retrying',
          actions: { type: 'quarantinePort', params: ({ event }) => ({ port: event.port }) },
        },
      },
    },
    assigned: {
      initial: 'offered',
      exit: 'endTurn',
      states: {
        offered: {
          entry: { type: 'sendAssignment', params: currentPort },
          after: {
            assignTimeout: [
              {
                // Nobody else listens at this endpoint: sending the same port again is harmless.
                guard: and(['canResend', not('sharedOffer')]),
                target: 'offered',
                reenter: true,
                actions: ['noteTimeout', assign({ resends: ({ context }) => context.resends + 1, backoff: ({ context }) => context.backoff + 1 })],
              },
              {
                // Shared endpoint: the first taker may only be slow, so never hand its port to a second
                // taker. Keep the port aside (a late confirmation still claims it) and wait for a new turn.
                guard: 'canResend',
                target: '#portAssignment.requesting',
                actions: [
                  'noteTimeout',
                  { type: 'quarantinePort', params: currentPort },
                  assign({ port: NO_PORT, resends: ({ context }) => context.resends + 1 }),
                ],
              },
              {
                target: '#portAssignment.lapsed',
                actions: ['noteTimeout', { type: 'returnPort', params: currentPort }, assign({ port: NO_PORT })],
              },
            ],
          },
        },
      },
      on: {
        REQUEST_AGAIN: { actions: { type: 'sendAssignment', params: currentPort } },
        ENDPOINT_SHARED: { actions: assign({ sharedOffer: true }) },
        REQUEST_EXPIRED: { target: 'lapsed', actions: [{ type: 'returnPort', params: currentPort }, assign({ port: NO_PORT })] },
        EVICTED: { target: 'lapsed', actions: [{ type: 'returnPort', params: currentPort }, assign({ port: NO_PORT })] },
        OFFER_TAKEN: { target: 'requesting', actions: assign({ port: NO_PORT }) },
        CONFIRMED: {
          target: 'verifying',
          actions: moveToEventPort,
        },
        BIND_FAILED: [
          {
            guard: 'isOwnPort',
            target: 'retrying',
            actions: [{ type: 'quarantinePort', params: currentPort }, assign({ port: NO_PORT })],
          },
          {
            // It tried someone else's port: that one is suspect, its own offer goes back unused.
            target: 'retrying',
            actions: [
              { type: 'quarantinePort', params: ({ event }) => ({ port: event.port }) },
              { type: 'returnPort', params: currentPort },
              assign({ port: NO_PORT }),
            ],
          },
        ],
      },
    },
    verifying: {
      initial: 'probing',
      entry: assign({ probesSent: 0 }),
      exit: 'cancelProbes',
      states: {
        probing: {
          entry: [assign({ probesSent: ({ context }) => context.probesSent + 1 }), { type: 'sendProbe', params: currentPort }],
          after: {
            probeTimeout: [
              { guard: 'canProbeAgain', target: 'probing', reenter: true, actions: 'noteProbeTimeout' },
              // [PROTOCOL §8] a restored lease that does not answer has gone: its port goes back.
              {
                guard: 'restored',
                target: '#portAssignment.expired',
                actions: ['noteProbeTimeout', { type: 'returnPort', params: currentPort }, assign({ port: NO_PORT })],
              },
              // [PROTOCOL §5] no answer: the binding failed, handled like `failed`.
              {
                target: '#portAssignment.retrying',
                actions: ['noteProbeTimeout', { type: 'quarantinePort', params: currentPort }, assign({ port: NO_PORT })],
              },
            ],
          },
        },
      },
      on: {
        PROBE_ANSWERED: { target: 'bound', actions: assign({ restored: false }) },
        PORT_LOST: [
          { guard: 'restored', target: 'stolen', actions: assign({ port: NO_PORT }) },
          { target: 'retrying', actions: assign({ port: NO_PORT }) },
        ],
        REQUEST_AGAIN: { actions: { type: 'sendAssignment', params: currentPort } },
        // A restored lease was verified before: only its probes decide, as for a bound one.
        BIND_FAILED: {
          guard: and(['isOwnPort', 'notRestored']),
          target: 'retrying',
          actions: [{ type: 'quarantinePort', params: currentPort }, assign({ port: NO_PORT })],
        },
        EVICTED: {
          guard: 'notRestored',
          target: 'lapsed',
          actions: [{ type: 'returnPort', params: currentPort }, assign({ port: NO_PORT })],
        },
        // [PROTOCOL §8] silent for longer than the liveness window, before and across restarts.
        RESTORE_EXPIRED: {
          guard: 'restored',
          target: 'expired',
          actions: [{ type: 'returnPort', params: currentPort }, assign({ port: NO_PORT })],
        },
      },
    },
    /**
     * Verified. The lease stays true while it lives [PROTOCOL §9]: `alive` until its deadline (silence, or
     * the periodic re-verification) passes, then `checking` with the same probe as at binding.
     */
    bound: {
      initial: 'alive',
      entry: { type: 'reportBound', params: currentPort },
      exit: ['cancelDeadline', 'reportUnbound'],
      states: {
        alive: {
          entry: [assign({ checkProbes: 0 }), 'scheduleCheck'],
          on: {
            LIVENESS_DUE: 'checking',
            // [PROTOCOL §4] only the port itself can end a verified binding: a `failed` makes it prove itself now.
            BIND_FAILED: { guard: 'isOwnPort', target: 'checking' },
          },
        },
        checking: {
          entry: [
            assign({ checkProbes: ({ context }) => context.checkProbes + 1 }),
            { type: 'sendProbe', params: currentPort },
            {
              type: 'scheduleCheckTimeout',
              params: ({ context }) => ({ ms: context.settings.probeTimeoutMs * 2 ** (context.checkProbes - 1) }),
            },
          ],
          exit: 'cancelProbes',
          on: {
            PROBE_ANSWERED: { target: 'alive', actions: 'reportAlive' },
            LIVENESS_TIMEOUT: [
              { guard: 'canCheckAgain', target: 'checking', reenter: true },
              {
                target: '#portAssignment.expired',
                actions: [{ type: 'returnPort', params: currentPort }, assign({ port: NO_PORT })],
              },
            ],
          },
        },
      },
      on: {
        REQUEST_AGAIN: { actions: { type: 'sendAssignment', params: currentPort } },
        // Another instance answered on the port: it receives there now, this lease is over.
        PORT_LOST: { target: 'stolen', actions: assign({ port: NO_PORT }) },
      },
    },
    /** A binding attempt failed: offer another port, or give up. [PROTOCOL §4] */
    retrying: {
      always: [
        {
          guard: 'canRetry',
          target: 'requesting',
          actions: assign({ failures: ({ context }) => context.failures + 1, resends: 0, backoff: 0 }),
        },
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
    failed: { type: 'final', entry: 'reportFailure' },
    lapsed: { type: 'final', entry: 'reportLapsed' },
    expired: { type: 'final', entry: 'reportExpired' },
    stolen: { type: 'final', entry: 'reportStolen' },
    released: {
      type: 'final',
      entry: [{ type: 'returnPort', params: currentPort }, 'reportReleased'],
    },
  },
});

export type PortAssignmentMachine = typeof portAssignmentMachine;
