import { describe, expect, it } from 'vitest';
import { createActor, initialTransition, transition } from 'xstate';
import { leaseMachine, type LeaseEvent, type LeaseInput, type LeaseSettings } from '../../machines/lease.js';

// Effects are listed in SCXML order: the source state's exit actions, then the transition's, then entry actions.
const SETTINGS: LeaseSettings = {
  assignTimeoutMs: 100,
  assignTimeoutMaxMs: 1000,
  assignResends: 2,
  probeTimeoutMs: 50,
  probeAttempts: 3,
  maxTries: 3,
  livenessProbes: 2,
};
const DEADLINE_MS = 700;

const ACTION_NAMES = [
  'awaitOffer',
  'leaveQueue',
  'rejoinQueue',
  'sendAssignment',
  'endTurn',
  'noteTimeout',
  'sendProbe',
  'cancelProbes',
  'noteProbeTimeout',
  'claimPort',
  'returnPort',
  'quarantinePort',
  'ignoreConfirmation',
  'sendError',
  'reportAlive',
  'startTimer',
  'stopTimer',
  'scheduleCheck',
  'startDeadline',
  'stopDeadline',
] as const;

/** An actor whose effects are recorded as `name`, `name:port` or `name:ms=N`, in order. */
function start(settings: Partial<LeaseSettings> = {}, extra: Partial<LeaseInput> = {}) {
  const effects: string[] = [];
  const describe = (name: string, params?: { port?: number; ms?: number }) =>
    params?.port !== undefined ? `${name}:${params.port}` : params?.ms !== undefined ? `${name}:ms=${params.ms}` : name;
  const actions = Object.fromEntries(
    ACTION_NAMES.map((name) => [name, (_: unknown, params?: { port?: number; ms?: number }) => effects.push(describe(name, params))]),
  );
  const input: LeaseInput = { tempId: 'T1', settings: { ...SETTINGS, ...settings }, deadlineMs: DEADLINE_MS, ...extra };
  const actor = createActor(leaseMachine.provide({ actions }), { input }).start();
  const send = (event: LeaseEvent) => actor.send(event);
  const state = () => actor.getSnapshot().value;
  const take = () => effects.splice(0);
  return { actor, send, state, take, context: () => actor.getSnapshot().context };
}

function offered(port = 9002, shared = false) {
  const m = start();
  m.send({ type: 'OFFER', port, shared, backoff: 0 });
  m.take();
  return m;
}

function verifying(port = 9002) {
  const m = offered(port);
  m.send({ type: 'CONFIRMED', port, claim: 'none' });
  m.take();
  return m;
}

function bound(port = 9002) {
  const m = verifying(port);
  m.send({ type: 'PROBE_ANSWERED' });
  m.take();
  return m;
}

describe('lease machine: transitions as data', () => {
  it('starts requesting: arms its deadline and asks for a turn', () => {
    const [snapshot, actions] = initialTransition(leaseMachine, { tempId: 'T1', settings: SETTINGS, deadlineMs: DEADLINE_MS });
    expect(snapshot.value).toBe('requesting');
    expect(actions.map((a) => [a.type, a.params])).toEqual([
      ['startDeadline', { ms: DEADLINE_MS }],
      ['awaitOffer', undefined],
    ]);
  });

  it('an offer leaves the queue, sends the assignment and waits for it', () => {
    const [initial] = initialTransition(leaseMachine, { tempId: 'T1', settings: SETTINGS, deadlineMs: DEADLINE_MS });
    const [next, actions] = transition(leaseMachine, initial, { type: 'OFFER', port: 9002, shared: false, backoff: 0 });
    expect(next.value).toBe('assigned');
    expect(actions.map((a) => [a.type, a.params])).toEqual([
      ['leaveQueue', undefined],
      ['sendAssignment', { port: 9002 }],
      ['startTimer', { ms: 100 }],
    ]);
  });
});

describe('lease machine: the handshake', () => {
  it('request, offer, confirmation, probe answer: bound, the deadline stopped and a liveness check scheduled', () => {
    const m = start();
    expect(m.take()).toEqual(['startDeadline:ms=700', 'awaitOffer']);
    m.send({ type: 'OFFER', port: 9002, shared: false, backoff: 0 });
    m.send({ type: 'CONFIRMED', port: 9002, claim: 'none' });
    expect(m.state()).toBe('verifying');
    expect(m.take()).toEqual(['leaveQueue', 'sendAssignment:9002', 'startTimer:ms=100', 'stopTimer', 'endTurn', 'sendProbe:9002', 'startTimer:ms=50']);
    m.send({ type: 'PROBE_ANSWERED' });
    expect(m.state()).toEqual({ bound: 'alive' });
    expect(m.take()).toEqual(['stopTimer', 'cancelProbes', 'stopDeadline', 'scheduleCheck']);
  });

  it('resends an unanswered assignment in place, waits doubling, then lapses and gives the port back', () => {
    const m = offered(9002);
    m.send({ type: 'TIMEOUT' });
    expect(m.take()).toEqual(['noteTimeout', 'sendAssignment:9002', 'startTimer:ms=200']);
    m.send({ type: 'TIMEOUT' });
    expect(m.take()).toEqual(['noteTimeout', 'sendAssignment:9002', 'startTimer:ms=400']);
    m.send({ type: 'TIMEOUT' });
    expect(m.state()).toBe('lapsed');
    expect(m.take()).toEqual(['stopTimer', 'endTurn', 'noteTimeout', 'returnPort:9002']);
  });

  it('starts from the endpoint backoff it was offered with, capped', () => {
    const m = start();
    m.take();
    m.send({ type: 'OFFER', port: 9002, shared: false, backoff: 5 });
    expect(m.take()).toContain('startTimer:ms=1000');
  });

  it('on a shared endpoint a timeout never resends the port: it is set aside and the turn passes', () => {
    const m = offered(9002, true);
    m.send({ type: 'TIMEOUT' });
    expect(m.state()).toBe('requesting');
    expect(m.take()).toEqual(['stopTimer', 'endTurn', 'noteTimeout', 'quarantinePort:9002', 'awaitOffer']);
    expect(m.context()).toMatchObject({ port: -1, resends: 1, failures: 0 });
  });

  it('learns its endpoint became shared while its offer is out', () => {
    const m = offered(9002, false);
    m.send({ type: 'ENDPOINT_SHARED' });
    m.send({ type: 'TIMEOUT' });
    expect(m.state()).toBe('requesting');
  });

  it('an offer taken by another lease sends it back to wait, without counting a failure', () => {
    const m = offered(9002);
    m.send({ type: 'OFFER_TAKEN' });
    expect(m.state()).toBe('requesting');
    expect(m.context()).toMatchObject({ port: -1, failures: 0 });
    expect(m.take()).toEqual(['stopTimer', 'endTurn', 'awaitOffer']);
  });

  it('a repeated request sends the assignment again, or rejoins the queue of its new endpoint', () => {
    const m = offered(9002);
    m.send({ type: 'REQUEST_AGAIN' });
    expect(m.take()).toEqual(['sendAssignment:9002']);
    const waiting = start();
    waiting.take();
    waiting.send({ type: 'REQUEST_AGAIN' });
    expect(waiting.take()).toEqual(['rejoinQueue']);
  });
});

describe('lease machine: what a confirmation may do [PROTOCOL §3, §4]', () => {
  it('taking an offer meant for another lease at its endpoint (crossed): claimed and verified', () => {
    const m = start();
    m.take();
    m.send({ type: 'CONFIRMED', port: 9005, claim: 'offer' });
    expect(m.state()).toBe('verifying');
    expect(m.take()).toEqual(['leaveQueue', 'claimPort:9005', 'returnPort:-1', 'sendProbe:9005', 'startTimer:ms=50']);
  });

  it('confirming another offered port than its own gives its own offer back', () => {
    const m = offered(9002);
    m.send({ type: 'CONFIRMED', port: 9005, claim: 'set-aside' });
    expect(m.context().port).toBe(9005);
    expect(m.take()).toEqual(['stopTimer', 'endTurn', 'claimPort:9005', 'returnPort:9002', 'sendProbe:9005', 'startTimer:ms=50']);
  });

  it('a port that was not offered at its endpoint changes nothing while it waits', () => {
    const m = offered(9002);
    for (const claim of ['free', 'held', 'none'] as const) {
      m.send({ type: 'CONFIRMED', port: 9005, claim });
      m.send({ type: 'BIND_FAILED', port: 9005, claim });
    }
    expect(m.state()).toBe('assigned');
    expect(m.take()).toEqual(Array(6).fill('ignoreConfirmation'));
  });

  it('a confirmation naming another port changes nothing for a verifying or bound lease', () => {
    const m = verifying(9002);
    m.send({ type: 'CONFIRMED', port: 9009, claim: 'offer' });
    expect(m.state()).toBe('verifying');
    m.send({ type: 'PROBE_ANSWERED' });
    m.take();
    m.send({ type: 'CONFIRMED', port: 9009, claim: 'free' });
    m.send({ type: 'BIND_FAILED', port: 9009, claim: 'free' });
    expect(m.state()).toEqual({ bound: 'alive' });
    expect(m.context().port).toBe(9002);
    expect(m.take()).toEqual(['ignoreConfirmation', 'ignoreConfirmation']);
  });

  it('a duplicate confirmation of its own port is no news', () => {
    const m = verifying(9002);
    m.send({ type: 'CONFIRMED', port: 9002, claim: 'none' });
    expect(m.take()).toEqual([]);
    expect(m.state()).toBe('verifying');
  });
});

describe('lease machine: failures and retries', () => {
  it('failed: quarantine the port and ask for another', () => {
    const m = offered();
    m.send({ type: 'BIND_FAILED', port: 9002, claim: 'none' });
    expect(m.state()).toBe('requesting');
    expect(m.context()).toMatchObject({ port: -1, failures: 1 });
    expect(m.take()).toEqual(['stopTimer', 'endTurn', 'quarantinePort:9002', 'awaitOffer']);
  });

  it('gives up with retries_exhausted after maxTries failed bindings, and says so', () => {
    const m = start({ maxTries: 2 });
    m.send({ type: 'OFFER', port: 9002, shared: false, backoff: 0 });
    m.send({ type: 'BIND_FAILED', port: 9002, claim: 'none' });
    m.send({ type: 'OFFER', port: 9003, shared: false, backoff: 0 });
    m.send({ type: 'BIND_FAILED', port: 9003, claim: 'none' });
    expect(m.state()).toBe('failed');
    expect(m.context().error).toEqual({ code: 'retries_exhausted', detail: 'no port could be verified in 2 tries' });
    expect(m.take().slice(-4)).toEqual(['stopTimer', 'endTurn', 'quarantinePort:9003', 'sendError']);
  });

  it('a failure report for another lease offer it took quarantines that port and gives its own back', () => {
    const m = offered(9002);
    m.send({ type: 'BIND_FAILED', port: 9010, claim: 'offer' });
    expect(m.take()).toEqual(['stopTimer', 'endTurn', 'claimPort:9010', 'quarantinePort:9010', 'returnPort:9002', 'awaitOffer']);
    expect(m.context().failures).toBe(1);
  });

  it('an empty pool ends the request with pool_exhausted', () => {
    const m = start();
    m.take();
    m.send({ type: 'POOL_EXHAUSTED' });
    expect(m.state()).toBe('failed');
    expect(m.context().error?.code).toBe('pool_exhausted');
    expect(m.take()).toEqual(['leaveQueue', 'sendError']);
  });

  it('probes again with doubling waits, then treats silence as a failed binding', () => {
    const m = verifying(9002);
    m.send({ type: 'TIMEOUT' });
    expect(m.take()).toEqual(['noteProbeTimeout', 'sendProbe:9002', 'startTimer:ms=100']);
    m.send({ type: 'TIMEOUT' });
    expect(m.take()).toEqual(['noteProbeTimeout', 'sendProbe:9002', 'startTimer:ms=200']);
    m.send({ type: 'TIMEOUT' });
    expect(m.state()).toBe('requesting');
    expect(m.take()).toEqual(['stopTimer', 'cancelProbes', 'noteProbeTimeout', 'quarantinePort:9002', 'awaitOffer']);
    expect(m.context().failures).toBe(1);
  });

  it('another instance answering on the port: lost without quarantine, and another port asked for', () => {
    const m = verifying();
    m.send({ type: 'PORT_LOST', port: 9002, heldBy: 'T2' });
    expect(m.state()).toBe('requesting');
    expect(m.take()).toEqual(['stopTimer', 'cancelProbes', 'awaitOffer']);
    expect(m.context()).toMatchObject({ port: -1, failures: 1 });
  });

  it('proven on a port by answering another lease probe: bound there, its own offer given back', () => {
    const m = offered(9002);
    m.send({ type: 'PORT_PROVEN', port: 9007 });
    expect(m.state()).toEqual({ bound: 'alive' });
    expect(m.take()).toEqual(['stopTimer', 'endTurn', 'returnPort:9002', 'stopDeadline', 'scheduleCheck']);
  });
});

describe('lease machine: liveness of a bound lease [PROTOCOL §9]', () => {
  it('a due check probes with doubling waits, and an answer makes it alive again', () => {
    const m = bound();
    m.send({ type: 'LIVENESS_DUE' });
    expect(m.state()).toEqual({ bound: 'checking' });
    expect(m.take()).toEqual(['sendProbe:9002', 'startTimer:ms=50']);
    m.send({ type: 'TIMEOUT' });
    expect(m.take()).toEqual(['cancelProbes', 'noteProbeTimeout', 'sendProbe:9002', 'startTimer:ms=100']);
    m.send({ type: 'PROBE_ANSWERED' });
    expect(m.state()).toEqual({ bound: 'alive' });
    expect(m.take()).toEqual(['cancelProbes', 'reportAlive', 'scheduleCheck']);
  });

  it('expires after livenessProbes unanswered probes and gives the port back', () => {
    const m = bound();
    m.send({ type: 'LIVENESS_DUE' });
    m.send({ type: 'TIMEOUT' });
    m.take();
    m.send({ type: 'TIMEOUT' });
    expect(m.state()).toBe('expired');
    expect(m.take()).toEqual(['cancelProbes', 'stopTimer', 'noteProbeTimeout', 'returnPort:9002']);
  });

  it('a failed report for a bound lease only makes it prove itself: answered, the lease stays', () => {
    const m = bound();
    m.send({ type: 'BIND_FAILED', port: 9002, claim: 'none' });
    expect(m.state()).toEqual({ bound: 'checking' });
    expect(m.take()).toEqual(['sendProbe:9002', 'startTimer:ms=50']);
    m.send({ type: 'BIND_FAILED', port: 9002, claim: 'none' });
    expect(m.take()).toEqual([]);
    m.send({ type: 'PROBE_ANSWERED' });
    expect(m.state()).toEqual({ bound: 'alive' });
    expect(m.context().port).toBe(9002);
  });

  it('a failed report for a bound lease whose port then stays silent ends it as expired, never quarantined', () => {
    const m = bound();
    m.send({ type: 'BIND_FAILED', port: 9002, claim: 'none' });
    m.send({ type: 'TIMEOUT' });
    m.send({ type: 'TIMEOUT' });
    expect(m.state()).toBe('expired');
    expect(m.take()).not.toContain('quarantinePort:9002');
  });

  it('another instance answering on its port ends it as stolen; a loss of another port is not its business', () => {
    const m = bound();
    m.send({ type: 'PORT_LOST', port: 9100, heldBy: 'T9' });
    expect(m.state()).toEqual({ bound: 'alive' });
    m.send({ type: 'PORT_LOST', port: 9002, heldBy: 'T9' });
    expect(m.state()).toBe('stolen');
  });

  it('release during a check gives the port back', () => {
    const m = bound();
    m.send({ type: 'LIVENESS_DUE' });
    m.take();
    m.send({ type: 'RELEASE' });
    expect(m.state()).toBe('released');
    expect(m.take()).toEqual(['cancelProbes', 'stopTimer', 'returnPort:9002']);
  });
});

describe('lease machine: deadlines and eviction', () => {
  it('a request past its deadline lapses while waiting, or with its offer out (the port goes back)', () => {
    const waiting = start();
    waiting.take();
    waiting.send({ type: 'DEADLINE' });
    expect(waiting.state()).toBe('lapsed');
    expect(waiting.take()).toEqual(['leaveQueue']);
    const m = offered(9002);
    m.send({ type: 'DEADLINE' });
    expect(m.state()).toBe('lapsed');
    expect(m.take()).toEqual(['stopTimer', 'endTurn', 'returnPort:9002']);
  });

  it('the request deadline leaves a verifying lease alone', () => {
    const m = verifying(9002);
    m.send({ type: 'DEADLINE' });
    expect(m.state()).toBe('verifying');
  });

  it('eviction ends a lease never verified, even mid-verification, but never a restored one', () => {
    const m = verifying(9002);
    m.send({ type: 'EVICTED' });
    expect(m.state()).toBe('lapsed');
    expect(m.take()).toEqual(['stopTimer', 'cancelProbes', 'returnPort:9002']);
    const restored = start({}, { restoredPort: 9004 });
    restored.send({ type: 'EVICTED' });
    expect(restored.state()).toBe('verifying');
  });
});

describe('lease machine: a lease restored from the journal [PROTOCOL §8]', () => {
  it('is verified on its port first, never queued for an offer', () => {
    const m = start({}, { restoredPort: 9004 });
    expect(m.state()).toBe('verifying');
    expect(m.take()).toEqual(['startDeadline:ms=700', 'sendProbe:9004', 'startTimer:ms=50']);
    m.send({ type: 'PROBE_ANSWERED' });
    expect(m.state()).toEqual({ bound: 'alive' });
    expect(m.context().restored).toBe(false);
  });

  it('expires when it does not answer, and the port goes back', () => {
    const m = start({ probeAttempts: 1 }, { restoredPort: 9004 });
    m.take();
    m.send({ type: 'TIMEOUT' });
    expect(m.state()).toBe('expired');
    expect(m.take()).toEqual(['stopTimer', 'cancelProbes', 'noteProbeTimeout', 'returnPort:9004']);
  });

  it('expires at its absolute deadline, silent too long across restarts', () => {
    const m = start({}, { restoredPort: 9004 });
    m.take();
    m.send({ type: 'DEADLINE' });
    expect(m.state()).toBe('expired');
    expect(m.take()).toEqual(['stopTimer', 'cancelProbes', 'returnPort:9004']);
  });

  it('ends as stolen when another instance answers on its port', () => {
    const m = start({}, { restoredPort: 9004 });
    m.send({ type: 'PORT_LOST', port: 9004, heldBy: 'T9' });
    expect(m.state()).toBe('stolen');
  });

  it('that asks again is back at its response port: it waits for an offer with a request\'s deadline, its old port given back to be preferred', () => {
    const m = start({}, { restoredPort: 9004, deadlineMs: 5000 });
    expect(m.take()[0]).toBe('startDeadline:ms=5000');
    m.send({ type: 'REQUEST_AGAIN' });
    expect(m.state()).toBe('requesting');
    // 100 + 200 + 400 ms: the whole resend schedule of an offer, as for any request.
    expect(m.take()).toEqual(['stopTimer', 'cancelProbes', 'returnPort:9004', 'startDeadline:ms=700', 'awaitOffer']);
    expect(m.context()).toMatchObject({ port: -1, restored: false });
    m.send({ type: 'OFFER', port: 9004, shared: false, backoff: 0 });
    expect(m.take()).toEqual(['leaveQueue', 'sendAssignment:9004', 'startTimer:ms=100']);
  });

  it('is not moved off its port by a failed report: its probes decide', () => {
    const m = start({}, { restoredPort: 9004 });
    m.take();
    m.send({ type: 'BIND_FAILED', port: 9004, claim: 'none' });
    expect(m.state()).toBe('verifying');
    expect(m.take()).toEqual(['ignoreConfirmation']);
  });
});

describe('lease machine: an instance first seen in a confirmation (its request was lost) [PROTOCOL §3]', () => {
  it('claims a free port it says it bound, and verifies it', () => {
    const m = start({}, { adopted: true });
    expect(m.state()).toBe('adopted');
    m.take();
    m.send({ type: 'CONFIRMED', port: 9006, claim: 'free' });
    expect(m.state()).toBe('verifying');
    expect(m.take()).toEqual(['claimPort:9006', 'returnPort:-1', 'sendProbe:9006', 'startTimer:ms=50']);
  });

  it('challenges a port another lease holds without claiming it: the probe decides', () => {
    const m = start({}, { adopted: true });
    m.take();
    m.send({ type: 'CONFIRMED', port: 9006, claim: 'held' });
    expect(m.state()).toBe('verifying');
    expect(m.take()).not.toContain('claimPort:9006');
  });

  it('with nowhere to send an offer, a failed verification forgets it; so does its deadline', () => {
    const m = start({ probeAttempts: 1 }, { adopted: true });
    m.send({ type: 'CONFIRMED', port: 9006, claim: 'free' });
    m.send({ type: 'TIMEOUT' });
    expect(m.state()).toBe('lapsed');
    const idle = start({}, { adopted: true });
    idle.send({ type: 'DEADLINE' });
    expect(idle.state()).toBe('lapsed');
  });

  it('asking at last makes it an ordinary request', () => {
    const m = start({}, { adopted: true });
    m.take();
    m.send({ type: 'REQUEST_AGAIN' });
    expect(m.state()).toBe('requesting');
    expect(m.context().adopted).toBe(false);
    expect(m.take()).toEqual(['awaitOffer']);
  });
});
