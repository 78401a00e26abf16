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
  /** How long a link must stay up before its failures are forgotten and the backoff starts over. */
  stableMs: number;
}

export interface SessionInput {
  settings: SessionSettings;
  /** A random draw in [0, 1) made by the shell; each reconnect wait derives its jitter from it. */
  jitterSeed: number;
}

export interface SessionContext {
  settings: SessionSettings;
  jitterSeed: number;
  /** What is wanted, what the device has, and what is still to send: each change O(1). */
  params: ParamSync;
  /** Reconnect attempts since the link last stayed up `stableMs`: drives the backoff. */
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

/**
 * The parameters wanted, those the device has on this connection, and those still to send either
 * way, kept so that each want, unwant and batch costs O(1) per parameter, however many there are:
 * a flood of new ones stays linear. A mutable book in the machine's context (nothing compares its
 * snapshots); pure, like the machine. Sets keep the order params were asked for.
 */
export class ParamSync {
  private readonly wanted = new Set<string>();
  private readonly onDevice = new Set<string>();
  private readonly toSubscribe = new Set<string>();
  private readonly toUnsubscribe = new Set<string>();

  want(param: string): void {
    if (this.wanted.has(param)) return;
    this.wanted.add(param);
    if (!this.toUnsubscribe.delete(param) && !this.onDevice.has(param)) this.toSubscribe.add(param);
  }

  unwant(param: string): void {
    if (!this.wanted.delete(param)) return;
    this.toSubscribe.delete(param);
    if (this.onDevice.has(param)) this.toUnsubscribe.add(param);
  }

  get inSync(): boolean {
    return this.toSubscribe.size === 0 && this.toUnsubscribe.size === 0;
  }

  /** The next batch to send, unsubscribes first; undefined when the device has exactly what is wanted. */
  next(batchSize: number): Batch | undefined {
    if (this.toUnsubscribe.size > 0) return { method: 'unsub', params: first(this.toUnsubscribe, batchSize) };
    if (this.toSubscribe.size > 0) return { method: 'sub', params: first(this.toSubscribe, batchSize) };
    return undefined;
  }

  /** The batch went to the device. */
  sent({ method, params }: Batch): void {
    for (const param of params) {
      if (method === 'sub') {
        this.toSubscribe.delete(param);
        this.onDevice.add(param);
      } else {
        this.toUnsubscribe.delete(param);
        this.onDevice.delete(param);
      }
    }
  }

  /** The connection is gone, and the device forgot everything with it: all that is wanted is to send again. */
  forgotten(): void {
    this.onDevice.clear();
    this.toUnsubscribe.clear();
    this.toSubscribe.clear();
    for (const param of this.wanted) this.toSubscribe.add(param);
  }
}

function first(params: ReadonlySet<string>, count: number): string[] {
  const taken: string[] = [];
  for (const param of params) {
    if (taken.length === count) break;
    taken.push(param);
  }
  return taken;
}

/** Golden-ratio steps spread successive jitters evenly over [0, 1) from any seed. */
const GOLDEN = 0.6180339887498949;

/** Reconnect wait: initial doubling per failure up to the maximum, less up to `jitterRatio` of it. */
export function backoffDelayMs(settings: SessionSettings, failures: number, jitterSeed: number): number {
  const base = Math.min(settings.backoffInitialMs * 2 ** failures, settings.backoffMaxMs);
  const jitter = (jitterSeed + failures * GOLDEN) % 1;
  return Math.round(base * (1 - settings.jitterRatio * jitter));
}

const nextBatch = ({ context }: { context: SessionContext }) => context.params.next(context.settings.batchSize)!;

const sendNextBatch = [
  { type: 'sendBatch', params: nextBatch },
  assign<SessionContext, SessionEvent, undefined, SessionEvent, never>({
    params: ({ context }) => {
      context.params.sent(nextBatch({ context }));
      return context.params;
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
    inSync: ({ context }) => context.params.inSync,
  },
  delays: {
    connectTimeout: ({ context }) => context.settings.connectTimeoutMs,
    keepaliveInterval: ({ context }) => context.settings.keepaliveMs,
    keepaliveTimeout: ({ context }) => context.settings.keepaliveTimeoutMs,
    batchPace: ({ context }) => context.settings.batchPaceMs,
    reconnectDelay: ({ context }) => backoffDelayMs(context.settings, context.failures, context.jitterSeed),
    linkStable: ({ context }) => context.settings.stableMs,
  },
}).createMachine({
  id: 'atlasSession',
  context: ({ input }) => ({
    settings: input.settings,
    jitterSeed: input.jitterSeed,
    params: new ParamSync(),
    failures: 0,
    downReason: undefined,
  }),
  initial: 'connecting',
  on: {
    WANT: {
      actions: assign({
        params: ({ context, event }) => {
          context.params.want(event.param);
          return context.params;
        },
      }),
    },
    UNWANT: {
      actions: assign({
        params: ({ context, event }) => {
          context.params.unwant(event.param);
          return context.params;
        },
      }),
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
              on: { KEEPALIVE_ANSWERED: 'idle' },
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
        /**
         * A device that answers, then resets, must not be reconnected every second forever: its
         * failures are forgotten only once the link has stayed up `stableMs`.
         */
        stability: {
          initial: 'proving',
          states: {
            proving: { after: { linkStable: { target: 'proven', actions: assign({ failures: 0 }) } } },
            proven: {},
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
        assign({
          params: ({ context }) => {
            context.params.forgotten();
            return context.params;
          },
        }),
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
