import { describe, expect, it } from 'vitest';
import { createActor, initialTransition, SimulatedClock, transition } from 'xstate';
import {
  portAssignmentMachine,
  type AssignmentEvent,
  type AssignmentSettings,
} from '../../machines/lease.js';

// Effects are listed in SCXML order: the source state's exit actions, then the transition's, then entry actions.
const SETTINGS: AssignmentSettings = {
  assignTimeoutMs: 100,
  assignTimeoutMaxMs: 1000,
  assignResends: 2,
  probeTimeoutMs: 50,
  probeAttempts: 3,
  maxTries: 3,
  livenessProbes: 2,
};

const ACTION_NAMES = [
  'awaitOffer',
  'withdrawRequest',
  'sendAssignment',
  'endTurn',
  'noteTimeout',
  'sendProbe',
  'cancelProbes',
  'returnPort',
  'quarantinePort',
  'reportBound',
  'reportFailure',
  'reportLapsed',
  'reportReleased',
  'reportExpired',
  'reportStolen',
  'reportUnbound',
  'noteProbeTimeout',
  'scheduleCheck',
  'scheduleCheckTimeout',
  'cancelDeadline',
  'reportAlive',
] as const;

/** An actor whose effects are recorded as `name`, `name:port` or `name:ms=N`, in order. */
function start(settings: Partial<AssignmentSettings> = {}, restoredPort?: number) {
  const effects: string[] = [];
  const describe = (name: string, params?: { port?: number; ms?: number }) =>
    params?.port !== undefined ? `${name}:${params.port}` : params?.ms !== undefined ? `${name}:ms=${params.ms}` : name;
  const actions = Object.fromEntries(
    ACTION_NAMES.map((name) => [name, (_: unknown, params?: { port?: number; ms?: number }) => effects.push(describe(name, params))]),
  );
  const clock = new SimulatedClock();
  const input = { tempId: 'T1', settings: { ...SETTINGS, ...settings }, ...(restoredPort === undefined ? {} : { restoredPort }) };
  const actor = createActor(portAssignmentMachine.provide({ actions }), { input, clock }).start();
  const send = (event: AssignmentEvent) => actor.send(event);
  const state = () => actor.getSnapshot().value;
  const take = () => effects.splice(0);
  return { actor, clock, send, state, take, context: () => actor.getSnapshot().context };
}

function offered(port = 9002, shared = false) {
  const m = start();
  m.send({ type: 'OFFER', port, shared, backoff: 0 });
  m.take();
  return m;
}

function verifying(port = 9002) {
  const m = offered(port);
  m.send({ type: 'CONFIRMED', port });
  m.take();
  return m;
}

describe('port assignment machine: transitions as data', () => {
  it('starts requesting and asks for a turn', () => {
    const [snapshot, actions] = initialTransition(portAssignmentMachine, { tempId: 'T1', settings: SETTINGS });
    expect(snapshot.value).toBe('requesting');
    expect(actions.map((a) => a.type)).toEqual(['awaitOffer']);
  });

  it('an offer leaves the queue and sends the assignment for that port', () => {
    const [initial] = initialTransition(portAssignmentMachine, { tempId: 'T1', settings: SETTINGS });
    const [next, actions] = transition(portAssignmentMachine, initial, { type: 'OFFER', port: 9002, shared: false, backoff: 0 });
    expect(next.value).toEqual({ assigned: 'offered' });
    expect(next.context.port).toBe(9002);
    const effects = actions.filter((a) => !a.type.startsWith('xstate.'));
    expect(effects.map((a) => a.type)).toEqual(['withdrawRequest', 'sendAssignment']);
    expect(effects[1]!.params).toEqual({ port: 9002 });
  });
});

describe('port assignment machine: handshake', () => {
  it('offer, confirm, probe answered: bound', () => {
    const m = start();
    expect(m.take()).toEqual(['awaitOffer']);
    m.send({ type: 'OFFER', port: 9002, shared: false, backoff: 0 });
    expect(m.take()).toEqual(['withdrawRequest', 'sendAssignment:9002']);
    m.send({ type: 'CONFIRMED', port: 9002 });
    expect(m.state()).toEqual({ verifying: 'probing' });
    expect(m.take()).toEqual(['endTurn', 'returnPort:-1', 'sendProbe:9002']);
    m.send({ type: 'PROBE_ANSWERED' });
    expect(m.state()).toEqual({ bound: 'alive' });
    expect(m.take()).toEqual(['cancelProbes', 'reportBound:9002', 'scheduleCheck']);
  });

  it('a repeated request gets the same port again in every state that holds one', () => {
    const m = offered();
    m.send({ type: 'REQUEST_AGAIN' });
    expect(m.take()).toEqual(['sendAssignment:9002']);
    m.send({ type: 'CONFIRMED', port: 9002 });
    m.take();
    m.send({ type: 'REQUEST_AGAIN' });
    expect(m.take()).toEqual(['sendAssignment:9002']);
    m.send({ type: 'PROBE_ANSWERED' });
    m.take();
    m.send({ type: 'REQUEST_AGAIN' });
    expect(m.take()).toEqual(['sendAssignment:9002']);
    expect(m.state()).toEqual({ bound: 'alive' });
  });

  it('a repeated request while still waiting for a turn sends nothing', () => {
    const m = start();
    m.take();
    m.send({ type: 'REQUEST_AGAIN' });
    expect(m.take()).toEqual([]);
    expect(m.state()).toBe('requesting');
  });

  it('pool exhausted: failed with the code', () => {
    const m = start();
    m.send({ type: 'POOL_EXHAUSTED' });
    expect(m.state()).toBe('failed');
    expect(m.context().error?.code).toBe('pool_exhausted');
    expect(m.actor.getSnapshot().status).toBe('done');
  });

  it('release from any state gives the port back and ends', () => {
    const m = verifying();
    m.send({ type: 'RELEASE' });
    expect(m.state()).toBe('released');
    expect(m.take()).toEqual(['cancelProbes', 'returnPort:9002', 'reportReleased']);
    expect(m.actor.getSnapshot().status).toBe('done');
  });
});

describe('port assignment machine: failures and retries', () => {
  it('failed: quarantine the port and ask for another', () => {
    const m = offered();
    m.send({ type: 'BIND_FAILED', port: 9002 });
    expect(m.state()).toBe('requesting');
    expect(m.context()).toMatchObject({ port: -1, failures: 1 });
    expect(m.take()).toEqual(['endTurn', 'quarantinePort:9002', 'awaitOffer']);
  });

  it('gives up with retries_exhausted after maxTries failed bindings', () => {
    const m = start({ maxTries: 2 });
    m.send({ type: 'OFFER', port: 9002, shared: false, backoff: 0 });
    m.send({ type: 'BIND_FAILED', port: 9002 });
    m.send({ type: 'OFFER', port: 9003, shared: false, backoff: 0 });
    m.send({ type: 'BIND_FAILED', port: 9003 });
    expect(m.state()).toBe('failed');
    expect(m.context().error).toEqual({ code: 'retries_exhausted', detail: 'no port could be verified in 2 tries' });
    expect(m.take().slice(-3)).toEqual(['endTurn', 'quarantinePort:9003', 'reportFailure']);
  });

  it('a failure report for a port it never held quarantines that port and gives its own back', () => {
    const m = offered(9002);
    m.send({ type: 'BIND_FAILED', port: 9010 });
    expect(m.take()).toEqual(['endTurn', 'quarantinePort:9010', 'returnPort:9002', 'awaitOffer']);
    expect(m.context().failures).toBe(1);
  });

  it('another instance answering on the port: lost without quarantine, and another port asked for', () => {
    const m = verifying();
    m.send({ type: 'PORT_LOST', heldBy: 'T2' });
    expect(m.state()).toBe('requesting');
    expect(m.take()).toEqual(['cancelProbes', 'awaitOffer']);
    expect(m.context()).toMatchObject({ port: -1, failures: 1 });
  });

  it('a bound lease whose port another instance answers on ends as stolen', () => {
    const m = verifying();
    m.send({ type: 'PROBE_ANSWERED' });
    m.take();
    m.send({ type: 'PORT_LOST', heldBy: 'T2' });
    expect(m.state()).toBe('stolen');
    expect(m.take()).toEqual(['cancelDeadline', 'reportUnbound', 'reportStolen']);
    expect(m.actor.getSnapshot().status).toBe('done');
  });
});

describe('port assignment machine: crossed assignments', () => {
  it('an offer taken by another instance sends this one back for a new turn, without counting a failure', () => {
    const m = offered();
    m.send({ type: 'OFFER_TAKEN' });
    expect(m.state()).toBe('requesting');
    expect(m.context()).toMatchObject({ port: -1, failures: 0 });
    expect(m.take()).toEqual(['endTurn', 'awaitOffer']);
  });

  it('confirming a port offered to another while waiting: verify that port', () => {
    const m = start();
    m.take();
    m.send({ type: 'CONFIRMED', port: 9005 });
    expect(m.state()).toEqual({ verifying: 'probing' });
    expect(m.take()).toEqual(['withdrawRequest', 'returnPort:-1', 'sendProbe:9005']);
  });

  it('confirming another port than its own offer gives its own offer back', () => {
    const m = offered(9002);
    m.send({ type: 'CONFIRMED', port: 9005 });
    expect(m.context().port).toBe(9005);
    expect(m.take()).toEqual(['endTurn', 'returnPort:9002', 'sendProbe:9005']);
  });

  it('proven on a port by answering another instance probe: bound there', () => {
    const m = offered(9002);
    m.send({ type: 'PORT_PROVEN', port: 9007 });
    expect(m.state()).toEqual({ bound: 'alive' });
    expect(m.take()).toEqual(['endTurn', 'returnPort:9002', 'reportBound:9007', 'scheduleCheck']);
  });

  it('a confirmation naming another port changes nothing for a verifying or bound lease', () => {
    const m = verifying(9002);
    m.send({ type: 'CONFIRMED', port: 9009 });
    expect(m.state()).toEqual({ verifying: 'probing' });
    m.send({ type: 'PROBE_ANSWERED' });
    m.take();
    m.send({ type: 'CONFIRMED', port: 9009 });
    m.send({ type: 'BIND_FAILED', port: 9009 });
    expect(m.state()).toEqual({ bound: 'alive' });
    expect(m.context().port).toBe(9002);
    expect(m.take()).toEqual([]);
  });

  it('a duplicate confirmation of the same port changes nothing', () => {
    const m = verifying(9002);
    m.send({ type: 'CONFIRMED', port: 9002 });
    expect(m.take()).toEqual([]);
    expect(m.state()).toEqual({ verifying: 'probing' });
  });
});

describe('port assignment machine: timers on a SimulatedClock', () => {
  it('resends an unanswered assignment in place, waits doubling, then lapses', () => {
    const m = offered(9002);
    m.clock.increment(99);
    expect(m.take()).toEqual([]);
    m.clock.increment(1);
    expect(m.take()).toEqual(['noteTimeout', 'sendAssignment:9002']);
    m.clock.increment(199);
    expect(m.take()).toEqual([]);
    m.clock.increment(1);
    expect(m.take()).toEqual(['noteTimeout', 'sendAssignment:9002']);
    m.clock.increment(400);
    expect(m.state()).toBe('lapsed');
    expect(m.take()).toEqual(['endTurn', 'noteTimeout', 'returnPort:9002', 'reportLapsed']);
  });

  it('starts from the endpoint backoff it was offered with, capped', () => {
    const m = start();
    m.send({ type: 'OFFER', port: 9002, shared: false, backoff: 5 });
    m.take();
    m.clock.increment(999);
    expect(m.take()).toEqual([]);
    m.clock.increment(1);
    expect(m.take()).toEqual(['noteTimeout', 'sendAssignment:9002']);
  });

  it('on a shared endpoint, a timeout never resends the port: it is set aside and the turn passes', () => {
    const m = offered(9002, true);
    m.clock.increment(100);
    expect(m.state()).toBe('requesting');
    expect(m.take()).toEqual(['endTurn', 'noteTimeout', 'quarantinePort:9002', 'awaitOffer']);
    expect(m.context()).toMatchObject({ port: -1, resends: 1, failures: 0 });
  });

  it('learns its endpoint became shared while its offer is out', () => {
    const m = offered(9002, false);
    m.send({ type: 'ENDPOINT_SHARED' });
    m.clock.increment(100);
    expect(m.state()).toBe('requesting');
  });

  it('probes again with doubling waits, then treats silence as a failed binding', () => {
    const m = offered(9002);
    m.send({ type: 'CONFIRMED', port: 9002 });
    expect(m.take()).toContain('sendProbe:9002');
    m.clock.increment(50);
    expect(m.take()).toEqual(['noteProbeTimeout', 'sendProbe:9002']);
    m.clock.increment(99);
    expect(m.take()).toEqual([]);
    m.clock.increment(1);
    expect(m.take()).toEqual(['noteProbeTimeout', 'sendProbe:9002']);
    m.clock.increment(200);
    expect(m.state()).toBe('requesting');
    expect(m.take()).toEqual(['cancelProbes', 'noteProbeTimeout', 'quarantinePort:9002', 'awaitOffer']);
    expect(m.context().failures).toBe(1);
  });

  it('a probe answer cancels the probe timer', () => {
    const m = verifying();
    m.send({ type: 'PROBE_ANSWERED' });
    m.take();
    m.clock.increment(10_000);
    expect(m.state()).toEqual({ bound: 'alive' });
    expect(m.take()).toEqual([]);
  });

  it('a confirmation cancels the resend timer', () => {
    const m = offered();
    m.send({ type: 'CONFIRMED', port: 9002 });
    m.send({ type: 'PROBE_ANSWERED' });
    m.take();
    m.clock.increment(10_000);
    expect(m.take()).toEqual([]);
  });
});

describe('port assignment machine: liveness of a bound lease', () => {
  function bound() {
    const m = verifying(9002);
    m.send({ type: 'PROBE_ANSWERED' });
    m.take();
    return m;
  }

  it('a due check probes with doubling waits, and an answer makes it alive again', () => {
    const m = bound();
    m.send({ type: 'LIVENESS_DUE' });
    expect(m.state()).toEqual({ bound: 'checking' });
    expect(m.take()).toEqual(['sendProbe:9002', 'scheduleCheckTimeout:ms=50']);
    m.send({ type: 'LIVENESS_TIMEOUT' });
    expect(m.take()).toEqual(['cancelProbes', 'sendProbe:9002', 'scheduleCheckTimeout:ms=100']);
    m.send({ type: 'PROBE_ANSWERED' });
    expect(m.state()).toEqual({ bound: 'alive' });
    expect(m.take()).toEqual(['cancelProbes', 'reportAlive', 'scheduleCheck']);
    expect(m.context().checkProbes).toBe(0);
  });

  it('expires after livenessProbes unanswered probes and gives the port back', () => {
    const m = bound();
    m.send({ type: 'LIVENESS_DUE' });
    m.send({ type: 'LIVENESS_TIMEOUT' });
    m.take();
    m.send({ type: 'LIVENESS_TIMEOUT' });
    expect(m.state()).toBe('expired');
    expect(m.take()).toEqual(['cancelProbes', 'cancelDeadline', 'reportUnbound', 'returnPort:9002', 'reportExpired']);
  });

  it('a due check is ignored while verifying, and timeouts only count while checking', () => {
    const m = verifying();
    m.send({ type: 'LIVENESS_DUE' });
    m.send({ type: 'LIVENESS_TIMEOUT' });
    expect(m.state()).toEqual({ verifying: 'probing' });
    expect(m.take()).toEqual([]);
  });

  it('a failed report for a bound lease only makes it prove itself: answered, the lease stays', () => {
    const m = bound();
    m.send({ type: 'BIND_FAILED', port: 9002 });
    expect(m.state()).toEqual({ bound: 'checking' });
    expect(m.take()).toEqual(['sendProbe:9002', 'scheduleCheckTimeout:ms=50']);
    m.send({ type: 'BIND_FAILED', port: 9002 });
    expect(m.take()).toEqual([]);
    m.send({ type: 'PROBE_ANSWERED' });
    expect(m.state()).toEqual({ bound: 'alive' });
    expect(m.context().port).toBe(9002);
    expect(m.take()).toEqual(['cancelProbes', 'reportAlive', 'scheduleCheck']);
  });

  it('a failed report for a bound lease that then stays silent ends it as expired, not quarantined', () => {
    const m = bound();
    m.send({ type: 'BIND_FAILED', port: 9002 });
    m.send({ type: 'LIVENESS_TIMEOUT' });
    m.send({ type: 'LIVENESS_TIMEOUT' });
    expect(m.state()).toBe('expired');
    expect(m.take()).not.toContain('quarantinePort:9002');
  });

  it('release during a check gives the port back', () => {
    const m = bound();
    m.send({ type: 'LIVENESS_DUE' });
    m.take();
    m.send({ type: 'RELEASE' });
    expect(m.take()).toEqual(['cancelProbes', 'cancelDeadline', 'reportUnbound', 'returnPort:9002', 'reportReleased']);
  });
});

describe('port assignment machine: deadlines and eviction', () => {
  it('a request past its deadline lapses while waiting, or with its offer out (the port goes back)', () => {
    const waiting = start();
    waiting.take();
    waiting.send({ type: 'REQUEST_EXPIRED' });
    expect(waiting.state()).toBe('lapsed');
    expect(waiting.take()).toEqual(['withdrawRequest', 'reportLapsed']);
    const m = offered(9002);
    m.send({ type: 'REQUEST_EXPIRED' });
    expect(m.state()).toBe('lapsed');
    expect(m.take()).toEqual(['endTurn', 'returnPort:9002', 'reportLapsed']);
  });

  it('the request deadline leaves a verifying or bound instance alone', () => {
    const m = verifying(9002);
    m.send({ type: 'REQUEST_EXPIRED' });
    expect(m.state()).toEqual({ verifying: 'probing' });
  });

  it('eviction ends an instance never verified, even mid-verification, but never a restored lease', () => {
    const m = verifying(9002);
    m.send({ type: 'EVICTED' });
    expect(m.state()).toBe('lapsed');
    expect(m.take()).toEqual(['cancelProbes', 'returnPort:9002', 'reportLapsed']);
    const restored = start({}, 9004);
    restored.send({ type: 'EVICTED' });
    expect(restored.state()).toEqual({ verifying: 'probing' });
  });

  it('a restored lease past its absolute deadline expires; a fresh verification ignores it', () => {
    const restored = start({}, 9004);
    restored.take();
    restored.send({ type: 'RESTORE_EXPIRED' });
    expect(restored.state()).toBe('expired');
    expect(restored.take()).toEqual(['cancelProbes', 'returnPort:9004', 'reportExpired']);
    const fresh = verifying(9002);
    fresh.send({ type: 'RESTORE_EXPIRED' });
    expect(fresh.state()).toEqual({ verifying: 'probing' });
  });

  it('a restored lease is not moved off its port by a failed report: its probes decide', () => {
    const restored = start({}, 9004);
    restored.take();
    restored.send({ type: 'BIND_FAILED', port: 9004 });
    expect(restored.state()).toEqual({ verifying: 'probing' });
    expect(restored.take()).toEqual([]);
  });
});

describe('port assignment machine: a lease restored from the journal', () => {
  it('is verified on its port first, never queued for an offer', () => {
    const m = start({}, 9004);
    expect(m.state()).toEqual({ verifying: 'probing' });
    expect(m.take()).toEqual(['sendProbe:9004']);
    m.send({ type: 'PROBE_ANSWERED' });
    expect(m.state()).toEqual({ bound: 'alive' });
    expect(m.context().restored).toBe(false);
  });

  it('expires when it does not answer, and the port goes back', () => {
    const m = start({ probeAttempts: 1 }, 9004);
    m.take();
    m.clock.increment(50);
    expect(m.state()).toBe('expired');
    expect(m.take()).toEqual(['cancelProbes', 'noteProbeTimeout', 'returnPort:9004', 'reportExpired']);
  });

  it('ends as stolen when another instance answers on its port', () => {
    const m = start({}, 9004);
    m.take();
    m.send({ type: 'PORT_LOST', heldBy: 'T9' });
    expect(m.state()).toBe('stolen');
  });
});
