import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { requestPort } from '../../src/sdk/request-port.js';
import { encodeMessage } from '../../src/osc/codec.js';
import { ADDRESS } from '../../src/osc/contract.js';
import { RANGES, testCoordinator } from '../helpers/coordinator.js';
import { ManualPlugin } from '../helpers/manual-plugin.js';
import { i, Peer, s, values } from '../helpers/peer.js';

const RANGE = RANGES.forgery;
const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function peer(host = '127.0.0.1'): Promise<Peer> {
  const p = await Peer.bind(0, { host });
  closers.push(() => p.close());
  return p;
}

/** A deployed-style plugin, verified on its port. */
async function boundVictim(coordinatorPort: number, c: Awaited<ReturnType<typeof testCoordinator>>) {
  const victim = await ManualPlugin.create('victim', coordinatorPort);
  closers.push(() => victim.close());
  const bound = once(c.leases, 'bound');
  const port = await victim.handshake();
  await bound;
  return { victim, port };
}

// Long liveness intervals: only the forged messages can cause a probe here.
const QUIET = { livenessIntervalMs: 60_000, reverifyIntervalMs: 60_000, probeTimeoutMs: 50, livenessProbes: 2 };

describe('forged or stale port_confirmed', () => {
  it('a forged "failed" for a bound lease makes the port prove itself: its owner answers, and the lease stays', async () => {
    const c = await testCoordinator(RANGE, QUIET);
    const { victim, port } = await boundVictim(c.port, c);
    const probesBefore = victim.probes;
    const attacker = await peer();
    attacker.send(c.port, ADDRESS.port_confirmed, s('victim'), i(port), s('failed'));
    await expect.poll(() => victim.probes).toBe(probesBefore + 1);
    await expect.poll(() => c.leases.view('victim')?.lastSeenMs).toBeLessThan(1000);
    expect(c.leases.view('victim')).toMatchObject({ state: 'bound', port });
    expect(c.stats().pool.quarantined).toBe(0);
    expect(c.stats().counters.quarantined).toBe(0);
  });

  it('a "failed" for a bound lease whose port no longer answers ends it as expired, without quarantine', async () => {
    const c = await testCoordinator(RANGE, QUIET);
    const { victim, port } = await boundVictim(c.port, c);
    victim.answering = false;
    const expired = once(c.leases, 'expired');
    (await peer()).send(c.port, ADDRESS.port_confirmed, s('victim'), i(port), s('failed'));
    await expired;
    expect(c.leases.holderOf(port)).toBeUndefined();
    expect(c.stats().pool).toMatchObject({ free: c.stats().pool.size, quarantined: 0 });
  });

  it('"failed" or "bound" naming a port never offered to that tempID changes nothing, and the pool balances after release', async () => {
    const c = await testCoordinator(RANGE, QUIET);
    const { victim, port } = await boundVictim(c.port, c);
    const other = port === RANGE[0] ? RANGE[0] + 1 : RANGE[0];
    const attacker = await peer();
    attacker.send(c.port, ADDRESS.port_confirmed, s('victim'), i(other), s('failed'));
    attacker.send(c.port, ADDRESS.port_confirmed, s('victim'), i(other), s('bound'));
    await expect.poll(() => c.stats().counters.confirmationsIgnored).toBe(2);
    expect(c.leases.view('victim')).toMatchObject({ state: 'bound', port });
    expect(c.leases.pool.stateOf(other)).toBe('free');
    expect(c.stats().pool.free).toBe(c.stats().pool.size - 1);
    expect(c.leases.checkInvariants()).toEqual([]);

    victim.sender.send(c.port, ADDRESS.release, s('victim'));
    await expect.poll(() => c.leases.view('victim')).toBeUndefined();
    expect(c.stats().pool).toMatchObject({ free: c.stats().pool.size, quarantined: 0 });
  });

  it('a "failed" for a port offered long ago (free again) does not take it back', async () => {
    const c = await testCoordinator(RANGE, { ...QUIET, assignTimeoutMs: 30, assignResends: 0 });
    const waiter = await peer();
    waiter.send(c.port, ADDRESS.request_port, s('slow'), i(-1), i(waiter.port));
    const offered = values(await waiter.next(ADDRESS.port_assignment))[1] as number;
    await expect.poll(() => c.leases.view('slow')).toBeUndefined();
    expect(c.leases.pool.stateOf(offered)).toBe('free');
    waiter.send(c.port, ADDRESS.port_confirmed, s('slow'), i(offered), s('failed'));
    await expect.poll(() => c.stats().counters.confirmationsIgnored).toBe(1);
    expect(c.leases.pool.stateOf(offered)).toBe('free');
    expect(c.leases.size).toBe(0);
  });

  it('release and confirmations are accepted only from the host the request came from', async () => {
    const c = await testCoordinator(RANGE, QUIET);
    const { victim, port } = await boundVictim(c.port, c);
    const remote = await peer('127.0.0.2');
    remote.send(c.port, ADDRESS.release, s('victim'));
    remote.send(c.port, ADDRESS.port_confirmed, s('victim'), i(port), s('failed'));
    await expect.poll(() => c.stats().counters.releasesRefused).toBe(1);
    await expect.poll(() => c.stats().counters.confirmationsIgnored).toBe(1);
    expect(c.leases.view('victim')).toMatchObject({ state: 'bound', port });

    victim.sender.send(c.port, ADDRESS.release, s('victim'));
    await expect.poll(() => c.leases.view('victim')).toBeUndefined();
  });
});

describe('identity strings', () => {
  /** A request whose tempID holds bytes that are not UTF-8 (0xff 0xfe where "ZZ" was). */
  function requestWithBadUtf8(tempId: string, responsePort: number): Buffer {
    const bytes = Buffer.from(encodeMessage({ address: ADDRESS.request_port, args: [s(tempId), i(-1), i(responsePort)] }));
    const at = bytes.indexOf('ZZ');
    bytes[at] = 0xff;
    bytes[at + 1] = 0xfe;
    return bytes;
  }

  it('a tempID that is not valid UTF-8 is refused with invalid_request, never echoed with U+FFFD', async () => {
    const c = await testCoordinator(RANGE);
    const sender = await peer();
    await sender.sendRaw(c.port, requestWithBadUtf8('plugZZ-1', sender.port));
    expect(values(await sender.next(ADDRESS.port_assignment))).toEqual(['', -1, 'error']);
    expect(values(await sender.next(ADDRESS.port_error)).slice(1)).toEqual(['invalid_request', 'tempID is not valid UTF-8']);
    await sender.sendRaw(c.port, requestWithBadUtf8('plugZZ-2', sender.port));
    await sender.next(ADDRESS.port_error);
    expect(c.leases.size).toBe(0);
  });

  it('lengths are counted in characters (code points): 128 emoji are a valid tempID, 129 are not', async () => {
    const c = await testCoordinator(RANGE);
    const lease = await requestPort({ tempId: '🎹'.repeat(128), coordinator: { host: '127.0.0.1', port: c.port } });
    closers.push(() => lease.release());
    await expect.poll(() => c.leases.view('🎹'.repeat(128))?.state).toBe('bound');
    const sender = await peer();
    sender.send(c.port, ADDRESS.request_port, s('🎹'.repeat(129)), i(-1), i(sender.port));
    expect(values(await sender.next(ADDRESS.port_error)).slice(1)).toEqual(['invalid_request', 'tempID longer than 128 characters']);
  });

  it('an admin request ID of 64 emoji is answered; a trackID that is not UTF-8 is not learnt', async () => {
    const c = await testCoordinator(RANGE);
    const admin = await peer();
    admin.send(c.port, '/coordinator/status', s('🎛'.repeat(64)));
    expect(values(await admin.next('/coordinator/reply'))[0]).toBe('🎛'.repeat(64));

    const { port } = await boundVictim(c.port, c);
    const bytes = Buffer.from(encodeMessage({ address: '/aiplayer/uuid_assignment_confirmed', args: [s('victim'), s('TRZZ'), s('confirmed')] }));
    const at = bytes.indexOf('ZZ');
    bytes[at] = 0xc3;
    bytes[at + 1] = 0x28;
    await admin.sendRaw(c.port, bytes);
    await expect.poll(() => c.stats().counters.invalid).toBe(1);
    expect(c.leases.view('victim')).toMatchObject({ port, trackId: null });
  });
});
