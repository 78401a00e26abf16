import { assign, not, setup } from 'xstate';

/**
 * One TCP session to one Atlas processor: connect, (re)subscribe, keep the link proven alive, back off and
 * reconnect when it fails.
 *
 * Pure: no sockets, no clock, no randomness. Every effect is a named action the shell provides
 * (`machine.provide`), every wait a named delay computed from context, and the jitter comes in through the input,
 * so tests drive it with SimulatedClock and read its actions as data. The machine keeps the wanted parameters and
 * what it has subscribed on this connection; the device forgets subscriptions with the connection (ATLAS.md).
 */

export interface SessionSettings {
  connectTimeoutMs: number;
  /** Wait after a keep-alive answer before the next keep-alive. */
  keepaliveMs: number;
  /** Wait for the answer to a keep-alive before the link counts as dead. */
  keepaliveTimeoutMs: number;
  /** First reconnect wait; doubles with every failed attempt. */
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** Share of a reconnect wait that jitter may take off: 0 none, 0.2 up to a fifth. */
  jitterRatio: number;
  /** Most parameters in one `sub` or `unsub`. */
  batchSize: number;
  /** Wait between two batches, so the device is never flooded. */
  batchPaceMs: number;
}

export interface SessionInput {
  settings: SessionSettings;
  /** A random draw in [0, 1) made by the shell; each reconnect wait derives its jitter from it. */
  jitterSeed: number;
}

export interface SessionContext {
  settings: SessionSettings;
  jitterSeed: number;
  /** Parameters to keep subscribed, in the order they were asked for. */
  wanted: string[];
  /** Parameters subscribed on the current connection. */
  sent: string[];
  /** Reconnect attempts since the link was last proven alive: drives the backoff. */
  failures: number;
  /** Why the link went down last, for the log and the status. */
  downReason: string | undefined;
}

export type SessionEvent =
  | { type: 'CONNECTED' }
  /** The socket closed or failed; `reason` says why. */
  | { type: 'CLOSED'; reason: string }
  /** The device answered a keep-alive, on TCP or on UDP. */
  | { type: 'KEEPALIVE_ANSWERED' }
  | { type: 'WANT'; param: string }
  | { type: 'UNWANT'; param: string }
  | { type: 'STOP' };

export interface Batch {
  method: 'sub' | 'unsub';
  params: string[];
}

/** The next batch to send, unsubscribes first; undefined when the device has exactly what is wanted. */
export function nextBatch(context: Pick<SessionContext, 'wanted' | 'sent' | 'settings'>): Batch | undefined {
  const { wanted, sent, settings } = context;
  const wantedSet = new Set(wanted);
  const stale = sent.filter((param) => !wantedSet.has(param));
  if (stale.length > 0) return { method: 'unsub', params: stale.slice(0, settings.batchSize) };
  const sentSet = new Set(sent);
  const fresh = wanted.filter((param) => !sentSet.has(param));
  if (fresh.length > 0) return { method: 'sub', params: fresh.slice(0, settings.batchSize) };
  return undefined;
}

/** Golden-ratio steps spread successive jitters evenly over [0, 1) from any seed. */
const GOLDEN = 0.6180339887498949;

/** Reconnect wait: initial doubling per failure up to the maximum, less up to `jitterRatio` of it. */
export function backoffDelayMs(settings: SessionSettings, failures: number, jitterSeed: number): number {
  const base = Math.min(settings.backoffInitialMs * 2 ** failures, settings.backoffMaxMs);
  const jitter = (jitterSeed + failures * GOLDEN) % 1;
  return Math.round(base * (1 - settings.jitterRatio * jitter));
}

const sendNextBatch = [
  { type: 'sendBatch', params: ({ context }: { context: SessionContext }) => nextBatch(context)! },
  assign<SessionContext, SessionEvent, undefined, SessionEvent, never>({
    sent: ({ context }) => {
      const batch = nextBatch(context)!;
      if (batch.method === 'sub') return [...context.sent, ...batch.params];
      const gone = new Set(batch.params);
      return context.sent.filter((param) => !gone.has(param));
    },
  }),
] as const;

export const atlasSessionMachine = setup({
  types: {
    context: {} as SessionContext,
    events: {} as SessionEvent,
    input: {} as SessionInput,
  },
  actions: {
    openConnection: () => {},
    closeConnection: () => {},
    sendBatch: (_, _params: Batch) => {},
    sendKeepAlive: () => {},
    reportConnected: () => {},
    reportDown: (_, _params: { reason: string; retryInMs: number }) => {},
  },
  guards: {
    inSync: ({ context }) => nextBatch(context) === undefined,
  },
  delays: {
    connectTimeout: ({ context }) => context.settings.connectTimeoutMs,
    keepaliveInterval: ({ context }) => context.settings.keepaliveMs,
    keepaliveTimeout: ({ context }) => context.settings.keepaliveTimeoutMs,
    batchPace: ({ context }) => context.settings.batchPaceMs,
    reconnectDelay: ({ context }) => backoffDelayMs(context.settings, context.failures, context.jitterSeed),
  },
}).createMachine({
  id: 'atlasSession',
  context: ({ input }) => ({
    settings: input.settings,
    jitterSeed: input.jitterSeed,
    wanted: [],
    sent: [],
    failures: 0,
    downReason: undefined,
  }),
  initial: 'connecting',
  on: {
    WANT: {
      actions: assign({
        wanted: ({ context, event }) => (context.wanted.includes(event.param) ? context.wanted : [...context.wanted, event.param]),
      }),
    },
    UNWANT: {
      actions: assign({ wanted: ({ context, event }) => context.wanted.filter((param) => param !== event.param) }),
    },
    STOP: '.stopped',
  },
  states: {
    connecting: {
      entry: 'openConnection',
      on: {
        CONNECTED: 'subscribing',
        CLOSED: { target: 'backoff', actions: assign({ downReason: ({ event }) => event.reason }) },
      },
      after: {
        connectTimeout: { target: 'backoff', actions: ['closeConnection', assign({ downReason: 'connect timeout' })] },
      },
    },
    /** Everything wanted goes to the device again, one paced batch at a time. */
    subscribing: {
      initial: 'ready',
      states: {
        ready: {
          always: [{ guard: 'inSync', target: '#atlasSession.connected' }, { target: 'resting', actions: sendNextBatch }],
        },
        resting: { after: { batchPace: 'ready' } },
      },
      on: {
        CLOSED: { target: 'backoff', actions: assign({ downReason: ({ event }) => event.reason }) },
      },
    },
    connected: {
      type: 'parallel',
      entry: 'reportConnected',
      states: {
        /** Probe at once, then again `keepaliveMs` after each answer; an unanswered probe means a dead link. */
        keepalive: {
          initial: 'probing',
          states: {
            probing: {
              entry: 'sendKeepAlive',
              on: { KEEPALIVE_ANSWERED: { target: 'idle', actions: assign({ failures: 0 }) } },
              after: {
                keepaliveTimeout: {
                  target: '#atlasSession.backoff',
                  actions: ['closeConnection', assign({ downReason: 'keep-alive unanswered' })],
                },
              },
            },
            idle: { after: { keepaliveInterval: 'probing' } },
          },
        },
        /** Subscriptions wanted or dropped while connected follow at the same pace as the first ones. */
        outbox: {
          initial: 'resting',
          states: {
            watching: { always: { guard: not('inSync'), target: 'resting', actions: sendNextBatch } },
            resting: { after: { batchPace: 'watching' } },
          },
        },
      },
      on: {
        CLOSED: { target: 'backoff', actions: assign({ downReason: ({ event }) => event.reason }) },
      },
    },
    backoff: {
      entry: [
        assign({ sent: [] }),
        {
          type: 'reportDown',
          params: ({ context }) => ({
            reason: context.downReason ?? 'unknown',
            retryInMs: backoffDelayMs(context.settings, context.failures, context.jitterSeed),
          }),
        },
      ],
      after: {
        reconnectDelay: { target: 'connecting', actions: assign({ failures: ({ context }) => context.failures + 1 }) },
      },
    },
    stopped: { type: 'final', entry: 'closeConnection' },
  },
});

export type AtlasSessionMachine = typeof atlasSessionMachine;
