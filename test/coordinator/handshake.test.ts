import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { ADDRESS } from '../../src/osc/contract.js';
import { RANGES, testCoordinator } from '../helpers/coordinator.js';
import { f, i, Peer, s, tags, values } from '../helpers/peer.js';

const RANGE = RANGES.handshake;
const peers: Peer[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close()));
});

async function peer(port = 0): Promise<Peer> {
  const p = await Peer.bind(port);
  peers.push(p);
  return p;
}

/** A plugin's two sockets: `sender` talks to the coordinator, `response` receives the assignment. */
async function plugin() {
  return { sender: await peer(), response: await peer() };
}

/** Binds `port`, confirms it, and answers the probe the way the deployed plugin does. */
async function bindConfirmAndAnswer(coordinatorPort: number, sender: Peer, tempId: string, port: number) {
  const receiver = await peer(port);
  sender.send(coordinatorPort, ADDRESS.port_confirmed, s(tempId), i(port), s('bound'));
  const probe = await receiver.next(ADDRESS.query_rms);
  sender.send(coordinatorPort, ADDRESS.rms_response, s(probe.message.args[0]!.value as string), s(tempId), f(0.1));
  return { receiver, probe };
}

describe('handshake over real UDP', () => {
  it('the deployed plugin form: ,sii request, exactly three-argument assignment, confirm, probe, bound', async () => {
    const c = await testCoordinator(RANGE);
    const { sender, response } = await plugin();
    sender.send(c.port, ADDRESS.request_port, s('AIplayer_1'), i(-1), i(response.port));

    const assignment = await response.next(ADDRESS.port_assignment);
    expect(tags(assignment)).toBe('sis');
    const [tempId, port, status] = values(assignment);
    expect([tempId, status]).toEqual(['AIplayer_1', 'assigned']);
    expect(port).toBeGreaterThanOrEqual(RANGE[0]);
    expect(port).toBeLessThanOrEqual(RANGE[1]);
    expect(assignment.from.port).toBe(c.port);

    const bound = new Promise((resolve) => c.leases.once('bound', resolve));
    const { probe } = await bindConfirmAndAnswer(c.port, sender, 'AIplayer_1', port as number);
    expect(tags(probe)).toBe('s');
    expect((probe.message.args[0]!.value as string).length).toBeGreaterThanOrEqual(16);
    expect(await bound).toMatchObject({ tempId: 'AIplayer_1', port });
    expect(c.leases.view('AIplayer_1')).toMatchObject({ state: 'bound', port });
    expect(response.pending()).toEqual([]);
  });

  it('the two-argument form replies to the source port', async () => {
    const c = await testCoordinator(RANGE);
    const sdk = await peer();
    sdk.send(c.port, ADDRESS.request_port, s('sdk-1'), i(-1));
    const assignment = await sdk.next(ADDRESS.port_assignment);
    expect(values(assignment)[0]).toBe('sdk-1');
    await bindConfirmAndAnswer(c.port, sdk, 'sdk-1', values(assignment)[1] as number);
    await expect.poll(() => c.leases.view('sdk-1')?.state).toBe('bound');
  });

  it('a responsePort of 0 means the source port', async () => {
    const c = await testCoordinator(RANGE);
    const sdk = await peer();
    sdk.send(c.port, ADDRESS.request_port, s('sdk-0'), i(-1), i(0));
    expect(values(await sdk.next(ADDRESS.port_assignment))[0]).toBe('sdk-0');
  });

  it('honours a free preferred port', async () => {
    const c = await testCoordinator(RANGE);
    const sdk = await peer();
    sdk.send(c.port, ADDRESS.request_port, s('pref'), i(RANGE[0] + 42));
    expect(values(await sdk.next(ADDRESS.port_assignment))[1]).toBe(RANGE[0] + 42);
  });

  it('retransmitted requests get the same port, before and after binding', async () => {
    const c = await testCoordinator(RANGE);
    const sdk = await peer();
    for (let n = 0; n < 3; n++) sdk.send(c.port, ADDRESS.request_port, s('retx'), i(-1));
    const ports = [];
    for (let n = 0; n < 3; n++) ports.push(values(await sdk.next(ADDRESS.port_assignment))[1]);
    expect(new Set(ports).size).toBe(1);
    await bindConfirmAndAnswer(c.port, sdk, 'retx', ports[0] as number);
    await expect.poll(() => c.leases.view('retx')?.state).toBe('bound');
    sdk.send(c.port, ADDRESS.request_port, s('retx'), i(-1));
    expect(values(await sdk.next(ADDRESS.port_assignment))).toEqual(['retx', ports[0], 'assigned']);
    expect(c.stats().counters.repeatedRequests).toBe(3);
  });

  it('re-sends an unconfirmed assignment itself, then lets the offer lapse and the port return', async () => {
    const c = await testCoordinator(RANGE, { assignTimeoutMs: 20, assignTimeoutMaxMs: 40, assignResends: 2 });
    const { sender, response } = await plugin();
    const lapsed = new Promise((resolve) => c.leases.once('lapsed', resolve));
    sender.send(c.port, ADDRESS.request_port, s('silent'), i(-1), i(response.port));
    const sent = [];
    for (let n = 0; n < 3; n++) sent.push(values(await response.next(ADDRESS.port_assignment))[1]);
    expect(new Set(sent).size).toBe(1);
    await lapsed;
    expect(c.leases.view('silent')).toBeUndefined();
    expect(c.stats().pool.free).toBe(c.stats().pool.size);
  });

  it('failed: the port is quarantined and another one is offered', async () => {
    const c = await testCoordinator(RANGE);
    const { sender, response } = await plugin();
    sender.send(c.port, ADDRESS.request_port, s('unlucky'), i(-1), i(response.port));
    const first = values(await response.next(ADDRESS.port_assignment))[1] as number;
    sender.send(c.port, ADDRESS.port_confirmed, s('unlucky'), i(first), s('failed'));
    const second = values(await response.next(ADDRESS.port_assignment))[1] as number;
    expect(second).not.toBe(first);
    expect(c.stats().pool.quarantined).toBe(1);
    await bindConfirmAndAnswer(c.port, sender, 'unlucky', second);
    await expect.poll(() => c.leases.view('unlucky')).toMatchObject({ state: 'bound', port: second });
  });

  it('gives up with retries_exhausted after the configured number of tries', async () => {
    const c = await testCoordinator(RANGE, { maxTries: 3 });
    const { sender, response } = await plugin();
    sender.send(c.port, ADDRESS.request_port, s('doomed'), i(-1), i(response.port));
    const offered = [];
    for (let n = 0; n < 3; n++) {
      const port = values(await response.next(ADDRESS.port_assignment))[1] as number;
      offered.push(port);
      sender.send(c.port, ADDRESS.port_confirmed, s('doomed'), i(port), s('failed'));
    }
    expect(new Set(offered).size).toBe(3);
    const error = await response.next(ADDRESS.port_assignment);
    expect(values(error)).toEqual(['doomed', -1, 'error']);
    const reason = await response.next(ADDRESS.port_error);
    expect(tags(reason)).toBe('sss');
    expect(values(reason).slice(0, 2)).toEqual(['doomed', 'retries_exhausted']);
  });

  it('no probe answer: the binding failed, the port is quarantined and another is offered', async () => {
    const c = await testCoordinator(RANGE, { probeTimeoutMs: 20, probeAttempts: 2 });
    const { sender, response } = await plugin();
    sender.send(c.port, ADDRESS.request_port, s('mute'), i(-1), i(response.port));
    const first = values(await response.next(ADDRESS.port_assignment))[1] as number;
    const deaf = await peer(first);
    sender.send(c.port, ADDRESS.port_confirmed, s('mute'), i(first), s('bound'));
    const nonces = [values(await deaf.next(ADDRESS.query_rms))[0], values(await deaf.next(ADDRESS.query_rms))[0]];
    expect(nonces[0]).not.toBe(nonces[1]);
    const second = values(await response.next(ADDRESS.port_assignment))[1] as number;
    expect(second).not.toBe(first);
    expect(c.stats().pool.quarantined).toBe(1);
    // A late answer to a probe of a binding already given up is not accepted.
    sender.send(c.port, ADDRESS.rms_response, s(nonces[0] as string), s('mute'), f(0));
    await bindConfirmAndAnswer(c.port, sender, 'mute', second);
    await expect.poll(() => c.leases.view('mute')).toMatchObject({ state: 'bound', port: second });
  });

  it('a probe nonce is single-use and a guessed one is not a probe answer', async () => {
    const c = await testCoordinator(RANGE);
    const { sender, response } = await plugin();
    sender.send(c.port, ADDRESS.request_port, s('once'), i(-1), i(response.port));
    const port = values(await response.next(ADDRESS.port_assignment))[1] as number;
    const { probe } = await bindConfirmAndAnswer(c.port, sender, 'once', port);
    await expect.poll(() => c.leases.view('once')?.state).toBe('bound');
    sender.send(c.port, ADDRESS.rms_response, s(probe.message.args[0]!.value as string), s('once'), f(0));
    sender.send(c.port, ADDRESS.rms_response, s('guessed-nonce'), s('once'), f(0));
    // The reused nonce is ours, spent: dropped, never taken for ChattyChannels' own; the guessed one is nobody's.
    await expect.poll(() => [c.stats().counters.lateAnswers, c.stats().counters.unmatchedAnswers]).toEqual([1, 1]);
    expect(c.stats().counters.probeAnswers).toBe(1);
  });

  it('release frees the port at once', async () => {
    const c = await testCoordinator(RANGE);
    const { sender, response } = await plugin();
    sender.send(c.port, ADDRESS.request_port, s('leaving'), i(-1), i(response.port));
    const port = values(await response.next(ADDRESS.port_assignment))[1] as number;
    await bindConfirmAndAnswer(c.port, sender, 'leaving', port);
    await expect.poll(() => c.leases.view('leaving')?.state).toBe('bound');
    expect(c.stats().pool.free).toBe(c.stats().pool.size - 1);
    sender.send(c.port, ADDRESS.release, s('leaving'));
    await expect.poll(() => c.leases.view('leaving')).toBeUndefined();
    expect(c.stats().pool.free).toBe(c.stats().pool.size);
    expect(c.leases.holderOf(port)).toBeUndefined();
  });

  it('skips a pool port that another process holds', async () => {
    const c = await testCoordinator([RANGE[0] + 90, RANGE[0] + 91]);
    const squatter = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((resolve) => squatter.bind(RANGE[0] + 90, '0.0.0.0', resolve));
    try {
      const sdk = await peer();
      sdk.send(c.port, ADDRESS.request_port, s('skip'), i(-1));
      expect(values(await sdk.next(ADDRESS.port_assignment))[1]).toBe(RANGE[0] + 91);
      expect(c.stats().counters.portsHeldElsewhere).toBe(1);
    } finally {
      squatter.close();
    }
  });

  it('a bad request gets invalid_request, in the three-argument form, where the sender listens', async () => {
    const c = await testCoordinator(RANGE);
    const { sender, response } = await plugin();
    sender.send(c.port, ADDRESS.request_port, s('bad\u0007id'), i(-1), i(response.port));
    expect(values(await response.next(ADDRESS.port_assignment))).toEqual(['', -1, 'error']);
    expect(values(await response.next(ADDRESS.port_error)).slice(0, 2)).toEqual(['', 'invalid_request']);
    sender.send(c.port, ADDRESS.request_port, s('typed'), f(9002));
    expect(values(await sender.next(ADDRESS.port_assignment))).toEqual(['typed', -1, 'error']);
    const reason = values(await sender.next(ADDRESS.port_error));
    expect(reason.slice(0, 2)).toEqual(['typed', 'invalid_request']);
    expect(reason[2]).toContain(',sf');
    expect(c.stats().counters.invalid).toBe(2);
  });

  it('an unknown instance confirming a port is verified there; if silent, it is forgotten and the port set aside', async () => {
    const c = await testCoordinator(RANGE, { probeTimeoutMs: 20, probeAttempts: 1 });
    const stranger = await peer();
    const port = RANGE[0] + 70;
    const deaf = await peer(port);
    stranger.send(c.port, ADDRESS.port_confirmed, s('ghost'), i(port), s('bound'));
    await deaf.next(ADDRESS.query_rms);
    await expect.poll(() => c.leases.view('ghost')).toBeUndefined();
    expect(c.leases.size).toBe(0);
    expect(c.leases.pool.stateOf(port)).toBe('quarantined');
  });

  it('ignores messages it does not know, and confirmations for ports outside the pool', async () => {
    const c = await testCoordinator(RANGE);
    const sdk = await peer();
    sdk.send(c.port, '/nobody/knows', s('x'), f(0));
    sdk.send(c.port, ADDRESS.port_confirmed, s('x'), i(80), s('bound'));
    sdk.send(c.port, ADDRESS.request_port, s('after'), i(-1));
    await sdk.next(ADDRESS.port_assignment);
    expect(c.stats().counters).toMatchObject({ unknownAddress: 1, invalid: 1 });
    expect(c.leases.view('x')).toBeUndefined();
  });
});
