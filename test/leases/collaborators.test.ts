import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { leaseMachine, requestLifetimeMs } from '../../machines/lease.js';
import { createCounters } from '../../src/counters.js';
import { leaseCollaborators } from '../../src/leases/collaborators.js';
import { leaseEffects, refuse } from '../../src/leases/effects.js';
import type { LeaseStore } from '../../src/leases/persistence/keeper.js';
import { LeaseRegistry } from '../../src/leases/registry.js';
import { checkDurationMs, preferredPort, restoredLifetimeMs } from '../../src/leases/rules.js';
import { silentLogger } from '../../src/log.js';
import { decodeDatagram } from '../../src/osc/codec.js';
import { createRateLimitedLog } from '../../src/rate-limited-log.js';
import { DEFAULT_SETTINGS, type CoordinatorSettings } from '../../src/settings/index.js';

interface Sent {
  address: string;
  values: unknown[];
  to: string;
}

const LOOPBACK = { address: '127.0.0.1', port: 40000 };
const SETTINGS: CoordinatorSettings = {
  ...DEFAULT_SETTINGS,
  poolLow: 9000,
  poolHigh: 9009,
  reserved: [],
  assignTimeoutMs: 100,
  assignTimeoutMaxMs: 800,
  assignResends: 2,
  probeTimeoutMs: 50,
  probeAttempts: 2,
  livenessIntervalMs: 1000,
  reverifyIntervalMs: 5000,
  livenessProbes: 2,
};

/** The lease core as src/main.ts builds it, with a fake edge: what it sends is recorded, time is simulated. */
function build(settings: Partial<CoordinatorSettings> = {}, heldElsewhere: number[] = [], edges: { store?: LeaseStore; failSend?: () => boolean } = {}) {
  const clock = new SimulatedClock();
  const sent: Sent[] = [];
  let nonces = 0;
  const send = (bytes: Uint8Array, host: string, port: number) => {
    if (edges.failSend?.()) throw new Error('the socket is gone');
    const decoded = decodeDatagram(bytes);
    if (!decoded.ok) throw new Error('sent a malformed datagram');
    for (const m of decoded.messages) sent.push({ address: m.address, values: m.args.map((a) => a.value), to: `${host}:${port}` });
  };
  const counters = createCounters();
  const core = leaseCollaborators({
    settings: { ...SETTINGS, ...settings },
    ownPort: 9999,
    send,
    portCheck: async (ports) => new Set(ports.filter((port) => heldElsewhere.includes(port))),
    store: edges.store,
    clock,
    wallNow: () => 1_800_000_000_000 + clock.now(),
    createNonce: () => `nonce-${++nonces}`,
    counters,
    log: createRateLimitedLog(silentLogger, 1000, clock),
    logger: silentLogger,
  });
  const machine = leaseMachine.provide({ actions: leaseEffects(core) });
  const leases = new LeaseRegistry({ ...core, machine, refuse: (endpoint, tempId, code, detail) => refuse(send, endpoint, tempId, code, detail) });
  // The batch port check answers asynchronously: let its promise settle.
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  const take = () => sent.splice(0);
  const request = async (tempId: string, responsePort = 50000) => {
    leases.request({ tempId, preferredPort: -1, responsePort }, LOOPBACK);
    await settle();
  };
  const confirm = (tempId: string, port: number, status: 'bound' | 'failed' = 'bound') => leases.confirm({ tempId, port, status }, LOOPBACK);
  const answer = (nonce: string, tempId: string) => core.probes.answer({ nonce, tempId, rms: 0 }, LOOPBACK);
  return { clock, leases, core, counters, take, request, confirm, answer, settle };
}

describe('lease core with fake edges: the handshake', () => {
  it('request, assignment, confirmation, probe, answer: bound, and the books balance', async () => {
    const c = build();
    await c.request('p1');
    expect(c.take()).toEqual([{ address: '/aiplayer/port_assignment', values: ['p1', 9000, 'assigned'], to: '127.0.0.1:50000' }]);
    c.confirm('p1', 9000);
    expect(c.take()).toEqual([{ address: '/aiplayer/query_rms', values: ['nonce-1'], to: '127.0.0.1:9000' }]);
    expect(c.answer('nonce-1', 'p1')).toBe(true);
    expect(c.leases.view('p1')).toMatchObject({ state: 'bound', port: 9000 });
    expect(c.leases.checkInvariants()).toEqual([]);
    expect(c.answer('nonce-1', 'p1')).toBe(false);
  });

  it('one assignment in flight per response endpoint: the second waits for the first to be confirmed', async () => {
    const c = build();
    await c.request('a');
    await c.request('b');
    expect(c.take().map((m) => m.values)).toEqual([['a', 9000, 'assigned']]);
    c.confirm('a', 9000);
    // The turn passes as the offer ends, before a's probe goes out.
    expect(c.take().map((m) => [m.address, m.values[0]])).toEqual([
      ['/aiplayer/port_assignment', 'b'],
      ['/aiplayer/query_rms', 'nonce-1'],
    ]);
  });

  it('a crossed assignment: b takes the offer meant for a; a waits for its turn again, with no failure counted', async () => {
    const c = build();
    await c.request('a');
    await c.request('b');
    c.take();
    c.confirm('b', 9000);
    expect(c.leases.get('b')).toMatchObject({ state: 'verifying', port: 9000 });
    expect(c.leases.get('a')).toMatchObject({ port: 9001 });
    expect(c.counters).toMatchObject({ crossed: 1, failed: 0 });
    expect(c.take().map((m) => m.values)).toEqual([['a', 9001, 'assigned'], ['nonce-1']]);
    expect(c.leases.checkInvariants()).toEqual([]);
  });

  it('a port another process holds is skipped and set aside; the next one is offered', async () => {
    const c = build({}, [9000]);
    await c.request('p1');
    expect(c.take().map((m) => m.values)).toEqual([['p1', 9001, 'assigned']]);
    expect(c.counters.portsHeldElsewhere).toBe(1);
    expect(c.leases.pool.stateOf(9000)).toBe('quarantined');
  });

  it('an empty pool answers pool_exhausted with the error status, then the reason', async () => {
    const c = build({ poolLow: 9000, poolHigh: 9000 });
    await c.request('a');
    c.take();
    await c.request('b', 50001);
    expect(c.take().map((m) => m.values)).toEqual([
      ['b', -1, 'error'],
      ['b', 'pool_exhausted', 'every port in the pool is taken'],
    ]);
  });
});

describe('lease core with fake edges: who may claim a port [PROTOCOL §3, §4]', () => {
  async function bound(c: ReturnType<typeof build>, tempId: string, responsePort: number) {
    await c.request(tempId, responsePort);
    const port = c.take()[0]!.values[1] as number;
    c.confirm(tempId, port);
    c.answer(c.take()[0]!.values[0] as string, tempId);
    return port;
  }

  it('a known lease naming another lease port changes nothing', async () => {
    const c = build();
    const victim = await bound(c, 'victim', 50000);
    await bound(c, 'other', 50001);
    c.confirm('other', victim, 'failed');
    c.confirm('other', victim);
    expect(c.counters.confirmationsIgnored).toBe(2);
    expect(c.leases.holderOf(victim)).toBe('victim');
    expect(c.take()).toEqual([]);
  });

  it('an unknown tempID naming a held port only challenges it: the probe answered by the holder keeps it there', async () => {
    const c = build();
    const port = await bound(c, 'holder', 50000);
    c.confirm('newcomer', port);
    const [probe] = c.take();
    expect(probe).toMatchObject({ address: '/aiplayer/query_rms', to: `127.0.0.1:${port}` });
    c.answer(probe!.values[0] as string, 'holder');
    expect(c.leases.holderOf(port)).toBe('holder');
    expect(c.leases.get('holder')?.state).toBe('bound');
    expect(c.leases.get('newcomer')).toBeUndefined();
    expect(c.leases.checkInvariants()).toEqual([]);
  });

  it('an unknown tempID naming a free port is adopted and verified; a failed one from nowhere is ignored', async () => {
    const c = build();
    c.confirm('lost-request', 9005);
    expect(c.leases.get('lost-request')).toMatchObject({ state: 'verifying', port: 9005 });
    c.confirm('nobody', 9006, 'failed');
    expect(c.leases.get('nobody')).toBeUndefined();
    expect(c.leases.pool.stateOf(9006)).toBe('free');
  });
});

describe('lease core with fake edges: time on a SimulatedClock', () => {
  it('an unanswered assignment is sent again after 100, then 200 ms, and lapses after 400 more: the port goes back', async () => {
    const c = build();
    await c.request('slow');
    c.take();
    c.clock.increment(99);
    expect(c.take()).toEqual([]);
    c.clock.increment(1);
    expect(c.take().map((m) => m.values)).toEqual([['slow', 9000, 'assigned']]);
    c.clock.increment(200);
    expect(c.take()).toHaveLength(1);
    c.clock.increment(400);
    expect(c.leases.get('slow')).toBeUndefined();
    expect(c.leases.pool.free).toBe(10);
  });

  it('a bound lease is probed after its liveness interval of silence, and expires after its unanswered probes', async () => {
    const c = build();
    await c.request('quiet');
    c.confirm('quiet', 9000);
    c.answer(c.take()[1]!.values[0] as string, 'quiet');
    c.clock.increment(999);
    expect(c.take()).toEqual([]);
    c.clock.increment(1);
    expect(c.take().map((m) => m.address)).toEqual(['/aiplayer/query_rms']);
    c.clock.increment(50);
    expect(c.take().map((m) => m.address)).toEqual(['/aiplayer/query_rms']);
    c.clock.increment(100);
    expect(c.leases.get('quiet')).toBeUndefined();
    expect(c.counters.expiries).toBe(1);
  });

  it('traffic moves the next check later without a probe', async () => {
    const c = build();
    await c.request('chatty');
    c.confirm('chatty', 9000);
    c.answer(c.take()[1]!.values[0] as string, 'chatty');
    c.clock.increment(900);
    c.leases.keepAlive('chatty');
    c.clock.increment(900);
    expect(c.take()).toEqual([]);
    c.clock.increment(100);
    expect(c.take().map((m) => m.address)).toEqual(['/aiplayer/query_rms']);
  });

  it('a request waits at most its resend schedule, from its request, even behind a slow queue', async () => {
    const c = build({ assignResends: 1 });
    await c.request('first');
    await c.request('second');
    expect(requestLifetimeMs({ ...SETTINGS, assignResends: 1 })).toBe(300);
    c.clock.increment(300);
    expect(c.leases.get('second')).toBeUndefined();
    expect(c.counters.lapsed).toBe(2);
  });
});

describe('lease core with fake edges: no failure forgets a lease', () => {
  const bind = async (c: ReturnType<typeof build>, tempId: string) => {
    await c.request(tempId);
    const [offer] = c.take();
    c.confirm(tempId, offer!.values[1] as number);
    const [probe] = c.take();
    c.answer(probe!.values[0] as string, tempId);
  };

  it('a journal that refuses every record: the lease is bound and stays, the pool balances, the failure is counted', async () => {
    const store: LeaseStore = {
      put: () => {
        throw new Error('refusing to journal an invalid lease');
      },
      drop: () => {
        throw new Error('disk gone');
      },
    };
    const c = build({}, [], { store });
    await bind(c, 'p1');
    expect(c.leases.get('p1')?.state).toBe('bound');
    // Its liveness passes write it down again: each refused, none ending it.
    for (let n = 0; n < 3; n++) {
      c.clock.increment(1000);
      const [probe] = c.take();
      c.answer(probe!.values[0] as string, 'p1');
    }
    expect(c.leases.get('p1')?.state).toBe('bound');
    expect(c.counters.journalFailures).toBeGreaterThanOrEqual(4);
    expect(c.leases.checkInvariants()).toEqual([]);
    expect(c.leases.release('p1')).toBe(true);
    expect(c.leases.pool.free).toBe(c.leases.pool.size);
  });

  it('an effect that throws (the socket gone): the lease goes on, and the failure is counted', async () => {
    let failing = false;
    const c = build({}, [], { failSend: () => failing });
    await bind(c, 'p1');
    failing = true;
    c.clock.increment(1000);
    expect(c.counters.effectFailures).toBe(1);
    failing = false;
    // The unsent probe times out like a lost one: the next goes out, and is answered.
    c.clock.increment(50);
    const [probe] = c.take();
    c.answer(probe!.values[0] as string, 'p1');
    expect(c.leases.get('p1')?.state).toBe('bound');
    expect(c.leases.checkInvariants()).toEqual([]);
  });
});

describe('lease rules', () => {
  it('a request lives through its whole resend schedule, each wait doubling up to the maximum', () => {
    expect(requestLifetimeMs({ assignTimeoutMs: 1000, assignTimeoutMaxMs: 16_000, assignResends: 5 })).toBe(1000 + 2000 + 4000 + 8000 + 16_000 + 16_000);
  });

  it('a liveness check lasts its probes, each wait doubling', () => {
    expect(checkDurationMs({ probeTimeoutMs: 1000, livenessProbes: 3 })).toBe(7000);
  });

  it('a restored lease lives until a liveness window after its last sign of life, never less than one check', () => {
    const settings = { probeTimeoutMs: 100, livenessProbes: 3, livenessIntervalMs: 2000 };
    expect(restoredLifetimeMs(settings, 10_000, 10_500)).toBe(2000 + 700 - 500);
    expect(restoredLifetimeMs(settings, 10_000, 60_000)).toBe(700);
  });

  it('the port asked for comes first, then the one held last', () => {
    expect(preferredPort(9005, 9007)).toBe(9005);
    expect(preferredPort(-1, 9007)).toBe(9007);
    expect(preferredPort(-1, undefined)).toBe(-1);
  });
});
