import { describe, expect, it, vi } from 'vitest';
import { createActor, initialTransition, SimulatedClock, transition } from 'xstate';
import {
  atlasSessionMachine,
  backoffDelayMs,
  ParamSync,
  type Batch,
  type SessionEvent,
  type SessionSettings,
} from '../../machines/atlas-session.js';

const SETTINGS: SessionSettings = {
  connectTimeoutMs: 500,
  keepaliveMs: 1000,
  keepaliveTimeoutMs: 300,
  backoffInitialMs: 1000,
  backoffMaxMs: 60_000,
  jitterRatio: 0,
  batchSize: 2,
  batchPaceMs: 20,
  stableMs: 500,
};

const ACTION_NAMES = ['openConnection', 'closeConnection', 'sendBatch', 'sendKeepAlive', 'reportConnected', 'reportDown'] as const;

const INPUT = { settings: SETTINGS, jitterSeed: 0 };

/** Effects recorded as `name`, `sub:A,B`, `unsub:A` or `reportDown:reason/ms`, in order. */
function start(settings: Partial<SessionSettings> = {}) {
  const effects: string[] = [];
  const actions = Object.fromEntries(
    ACTION_NAMES.map((name) => [
      name,
      (_: unknown, params?: Batch | { reason: string; retryInMs: number }) => {
        if (params && 'method' in params) effects.push(`${params.method}:${params.params.join(',')}`);
        else if (params) effects.push(`${name}:${params.reason}/${params.retryInMs}`);
        else effects.push(name);
      },
    ]),
  );
  const clock = new SimulatedClock();
  const actor = createActor(atlasSessionMachine.provide({ actions }), { input: { ...INPUT, settings: { ...SETTINGS, ...settings } }, clock }).start();
  const send = (...events: SessionEvent[]) => events.forEach((event) => actor.send(event));
  const take = () => effects.splice(0);
  return { actor, clock, send, take, value: () => actor.getSnapshot().value, context: () => actor.getSnapshot().context };
}

/** Connected with the keep-alive answered and nothing wanted. */
function connected(settings: Partial<SessionSettings> = {}) {
  const m = start(settings);
  m.send({ type: 'CONNECTED' }, { type: 'KEEPALIVE_ANSWERED' });
  m.take();
  return m;
}

describe('atlas session machine: transitions as data', () => {
  it('starts by opening the connection', () => {
    const [snapshot, actions] = initialTransition(atlasSessionMachine, INPUT);
    expect(snapshot.value).toBe('connecting');
    expect(actions.map((a) => a.type).filter((t) => !t.startsWith('xstate.'))).toEqual(['openConnection']);
  });

  it('once connected with params wanted, sends the first batch of subscriptions', () => {
    const [initial] = initialTransition(atlasSessionMachine, INPUT);
    const [wanting] = transition(atlasSessionMachine, initial, { type: 'WANT', param: 'SourceMeter_0' });
    const [next, actions] = transition(atlasSessionMachine, wanting, { type: 'CONNECTED' });
    expect(next.value).toEqual({ subscribing: 'resting' });
    const effects = actions.filter((a) => !a.type.startsWith('xstate.'));
    expect(effects.map((a) => [a.type, a.params])).toEqual([['sendBatch', { method: 'sub', params: ['SourceMeter_0'] }]]);
    expect(next.context.params.next(2)).toBeUndefined();
  });

  it('a close while connected goes to backoff, forgets what the device had, and says when it retries', () => {
    const [initial] = initialTransition(atlasSessionMachine, INPUT);
    const [up] = transition(atlasSessionMachine, initial, { type: 'CONNECTED' });
    const [down, actions] = transition(atlasSessionMachine, up, { type: 'CLOSED', reason: 'ECONNRESET' });
    expect(down.value).toBe('backoff');
    expect(down.context).toMatchObject({ downReason: 'ECONNRESET' });
    const report = actions.find((a) => a.type === 'reportDown');
    expect(report?.params).toEqual({ reason: 'ECONNRESET', retryInMs: 1000 });
  });
});

describe('atlas session machine: pure helpers', () => {
  it('batches unsubscribes first, then subscribes, at most batchSize at a time', () => {
    const params = new ParamSync();
    for (const param of ['a', 'b', 'c']) params.want(param);
    expect(params.next(2)).toEqual({ method: 'sub', params: ['a', 'b'] });
    params.sent({ method: 'sub', params: ['a', 'b'] });
    expect(params.next(2)).toEqual({ method: 'sub', params: ['c'] });
    params.sent({ method: 'sub', params: ['c'] });
    expect(params.inSync).toBe(true);
    params.unwant('a');
    params.unwant('b');
    params.want('d');
    expect(params.next(2)).toEqual({ method: 'unsub', params: ['a', 'b'] });
    // Wanted again before its unsubscribe went out: it stays on the device, nothing to send for it.
    params.want('a');
    expect(params.next(2)).toEqual({ method: 'unsub', params: ['b'] });
    params.sent({ method: 'unsub', params: ['b'] });
    expect(params.next(2)).toEqual({ method: 'sub', params: ['d'] });
    // The connection gone: everything wanted is sent again, in the order it was asked for.
    params.forgotten();
    expect(params.next(5)).toEqual({ method: 'sub', params: ['c', 'd', 'a'] });
  });

  it('takes a flood of 100,000 params, each change O(1) (a quadratic book would not finish within the test)', () => {
    const params = new ParamSync();
    for (let n = 0; n < 100_000; n++) params.want(`ZoneMeter_${n}`);
    for (let n = 0; n < 100_000; n += 2) params.unwant(`ZoneMeter_${n}`);
    expect(params.next(3)).toEqual({ method: 'sub', params: ['ZoneMeter_1', 'ZoneMeter_3', 'ZoneMeter_5'] });
  });

  it('backoff doubles from the initial wait up to the maximum', () => {
    expect([0, 1, 2, 5, 6, 7, 20].map((f) => backoffDelayMs(SETTINGS, f, 0))).toEqual([1000, 2000, 4000, 32_000, 60_000, 60_000, 60_000]);
  });

  it('jitter only shortens the wait, by at most jitterRatio, and differs from one attempt to the next', () => {
    const settings = { ...SETTINGS, jitterRatio: 0.2 };
    const waits = [0, 1, 2, 3].map((f) => backoffDelayMs(settings, f, 0.3));
    waits.forEach((wait, f) => {
      const base = 1000 * 2 ** f;
      expect(wait).toBeLessThanOrEqual(base);
      expect(wait).toBeGreaterThanOrEqual(base * 0.8);
    });
    expect(new Set(waits.map((wait, f) => wait / 2 ** f)).size).toBe(4);
    expect(backoffDelayMs(settings, 0, 0.1)).not.toBe(backoffDelayMs(settings, 0, 0.7));
  });
});

describe('atlas session machine: provided actions', () => {
  it('calls the shell effects it was given', () => {
    const openConnection = vi.fn();
    const sendKeepAlive = vi.fn();
    const sendBatch = vi.fn();
    const actor = createActor(atlasSessionMachine.provide({ actions: { openConnection, sendKeepAlive, sendBatch } }), {
      input: INPUT,
      clock: new SimulatedClock(),
    }).start();
    expect(openConnection).toHaveBeenCalledTimes(1);
    actor.send({ type: 'WANT', param: 'ZoneMeter_3' });
    actor.send({ type: 'CONNECTED' });
    expect(sendBatch).toHaveBeenCalledWith(expect.anything(), { method: 'sub', params: ['ZoneMeter_3'] });
    expect(sendKeepAlive).not.toHaveBeenCalled();
    expect(actor.getSnapshot().value).toEqual({ subscribing: 'resting' });
  });

  it('stop closes the connection from any state and ends', () => {
    const m = connected();
    m.send({ type: 'STOP' });
    expect(m.value()).toBe('stopped');
    expect(m.take()).toEqual(['closeConnection']);
    expect(m.actor.getSnapshot().status).toBe('done');
  });
});

describe('atlas session machine: timers on a SimulatedClock', () => {
  it('resubscribes everything in paced batches after each connect, then probes the link', () => {
    const m = start({ batchSize: 2 });
    m.send(...['a', 'b', 'c', 'd', 'e'].map((param) => ({ type: 'WANT' as const, param })));
    m.take();
    m.send({ type: 'CONNECTED' });
    expect(m.take()).toEqual(['sub:a,b']);
    m.clock.increment(19);
    expect(m.take()).toEqual([]);
    m.clock.increment(1);
    expect(m.take()).toEqual(['sub:c,d']);
    m.clock.increment(20);
    expect(m.take()).toEqual(['sub:e']);
    m.clock.increment(20);
    expect(m.value()).toMatchObject({ connected: { keepalive: 'probing' } });
    expect(m.take()).toEqual(['reportConnected', 'sendKeepAlive']);

    m.send({ type: 'CLOSED', reason: 'reset' });
    m.take();
    m.clock.increment(1000);
    m.send({ type: 'CONNECTED' });
    expect(m.take()).toEqual(['openConnection', 'sub:a,b']);
  });

  it('while connected, a change goes out at once, and what follows in paced batches, unsubscribes first', () => {
    const m = connected({ batchSize: 2 });
    m.clock.increment(20);
    m.send(...['a', 'b', 'c'].map((param) => ({ type: 'WANT' as const, param })));
    expect(m.take()).toEqual(['sub:a']);
    m.clock.increment(20);
    expect(m.take()).toEqual(['sub:b,c']);
    m.send({ type: 'UNWANT', param: 'a' }, { type: 'UNWANT', param: 'c' }, { type: 'WANT', param: 'd' });
    m.clock.increment(20);
    expect(m.take()).toEqual(['unsub:a,c']);
    m.clock.increment(20);
    expect(m.take()).toEqual(['sub:d']);
    m.clock.increment(20);
    expect(m.take()).toEqual([]);
    expect(m.context().params.next(2)).toBeUndefined();
  });

  it('a param wanted and dropped again before its batch never reaches the device', () => {
    const m = connected();
    m.send({ type: 'WANT', param: 'x' }, { type: 'UNWANT', param: 'x' });
    m.clock.increment(100);
    expect(m.take()).toEqual([]);
  });

  it('sends a keep-alive every keepaliveMs after each answer', () => {
    const m = connected();
    m.clock.increment(999);
    expect(m.take()).toEqual([]);
    m.clock.increment(1);
    expect(m.take()).toEqual(['sendKeepAlive']);
    m.send({ type: 'KEEPALIVE_ANSWERED' });
    m.clock.increment(1000);
    expect(m.take()).toEqual(['sendKeepAlive']);
  });

  it('an unanswered keep-alive is a dead link: close, back off, reconnect', () => {
    const m = connected();
    m.clock.increment(1000);
    m.take();
    m.clock.increment(299);
    expect(m.value()).toMatchObject({ connected: { keepalive: 'probing' } });
    m.clock.increment(1);
    expect(m.value()).toBe('backoff');
    expect(m.take()).toEqual(['closeConnection', 'reportDown:keep-alive unanswered/1000']);
    m.clock.increment(1000);
    expect(m.value()).toBe('connecting');
    expect(m.take()).toEqual(['openConnection']);
  });

  it('a second answer to the same keep-alive (TCP, then UDP) changes nothing', () => {
    const m = connected();
    m.send({ type: 'KEEPALIVE_ANSWERED' });
    m.clock.increment(999);
    expect(m.take()).toEqual([]);
  });

  it('failed attempts back off doubling to the cap; only a link up for stableMs starts over at the initial wait', () => {
    const m = start({ backoffMaxMs: 4000 });
    const waits: string[] = [];
    for (let attempt = 0; attempt < 4; attempt++) {
      m.send({ type: 'CLOSED', reason: 'ECONNREFUSED' });
      waits.push(...m.take().filter((e) => e.startsWith('reportDown')));
      m.clock.increment(60_000);
      m.take();
    }
    expect(waits).toEqual(['reportDown:ECONNREFUSED/1000', 'reportDown:ECONNREFUSED/2000', 'reportDown:ECONNREFUSED/4000', 'reportDown:ECONNREFUSED/4000']);
    // A device that answers, then resets at once: its failures go on counting.
    m.send({ type: 'CONNECTED' }, { type: 'KEEPALIVE_ANSWERED' }, { type: 'CLOSED', reason: 'ECONNRESET' });
    expect(m.take()).toContain('reportDown:ECONNRESET/4000');
    m.clock.increment(60_000);
    // A link up for stableMs is proven: the next failure starts over at the initial wait.
    m.send({ type: 'CONNECTED' }, { type: 'KEEPALIVE_ANSWERED' });
    m.clock.increment(500);
    m.send({ type: 'CLOSED', reason: 'EPIPE' });
    expect(m.take()).toContain('reportDown:EPIPE/1000');
  });

  it('a connect that hangs times out into backoff', () => {
    const m = start();
    m.take();
    m.clock.increment(500);
    expect(m.value()).toBe('backoff');
    expect(m.take()).toEqual(['closeConnection', 'reportDown:connect timeout/1000']);
  });

  it('a stale close during backoff is ignored', () => {
    const m = connected();
    // SimulatedClock fires only timers due when an increment starts: the keep-alive wait begins at 1000.
    m.clock.increment(1000);
    m.clock.increment(300);
    m.take();
    m.send({ type: 'CLOSED', reason: 'late' });
    expect(m.take()).toEqual([]);
    expect(m.context().downReason).toBe('keep-alive unanswered');
  });
});
