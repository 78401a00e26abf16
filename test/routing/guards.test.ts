import { networkInterfaces } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { encodeMessage } from '../../src/osc/codec.js';
import { oscString } from '../../src/osc/templates.js';
import { ADDRESS } from '../../src/osc/contract.js';
import { RANGES, testCoordinator } from '../helpers/coordinator.js';
import { ManualPlugin } from '../helpers/manual-plugin.js';
import { f, i, Peer, s, values } from '../helpers/peer.js';
import { testDataDir } from '../helpers/temp-dir.js';

/** Defects an adversarial run found in routing (issue 15): each test failed before its fix. */

const RANGE = RANGES.guards;
const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function controller(coordinatorPort: number): Promise<Peer> {
  const peer = await Peer.bind();
  closers.push(() => peer.close());
  peer.send(coordinatorPort, '/coordinator/subscribe');
  await peer.next('/coordinator/subscribed');
  return peer;
}

/** A deployed-style plugin, verified on its port (its probe answered). */
async function plugin(tempId: string, coordinatorPort: number): Promise<ManualPlugin> {
  const p = await ManualPlugin.verified(tempId, coordinatorPort);
  closers.push(() => p.close());
  return p;
}

/** `/coordinator/send ,ssss target /aiplayer/track_uuid_assignment tempID trackID`, the trackID as raw bytes. */
function nameTrack(target: string, tempId: string, trackId: Buffer): Buffer {
  const padded = Buffer.concat([trackId, Buffer.alloc(4 - (trackId.length % 4))]);
  return Buffer.concat([oscString('/coordinator/send'), oscString(',ssss'), oscString(target), oscString('/aiplayer/track_uuid_assignment'), oscString(tempId), padded]);
}

function bundle(...messages: Uint8Array[]): Buffer {
  const parts = messages.flatMap((m) => {
    const size = Buffer.alloc(4);
    size.writeInt32BE(m.length);
    return [size, Buffer.from(m)];
  });
  return Buffer.concat([Buffer.from('#bundle\0'), Buffer.alloc(8), ...parts]);
}

/** Resolves once the coordinator has handled what `peer` sent before: its status reply comes after. */
async function handled(peer: Peer, port: number): Promise<void> {
  peer.send(port, '/coordinator/status', s('after'));
  await peer.next('/coordinator/reply');
}

describe('leases destroyed through a controller', () => {
  it.each([
    ['empty', Buffer.alloc(0), 'trackID is empty'],
    ['over 128 characters', Buffer.from('T'.repeat(129)), 'trackID longer than 128 characters'],
    ['a control character', Buffer.from('TR\u00071'), 'trackID has non-printable characters'],
    ['invalid UTF-8', Buffer.from([0x54, 0x52, 0xff, 0x31]), 'trackID is not valid UTF-8'],
  ])('a trackID that is %s is refused: never learnt, never delivered, and the lease lives on', async (_, trackId, reason) => {
    const c = await testCoordinator(RANGE, { livenessIntervalMs: 50, probeTimeoutMs: 200 });
    const p = await plugin('named-1', c.port);
    const arrived = p.arrivals();
    const chatty = await controller(c.port);
    await chatty.sendRaw(c.port, nameTrack('named-1', 'named-1', trackId));
    const error = await chatty.next('/coordinator/error');
    expect(values(error)).toEqual(['bad_arguments', `/aiplayer/track_uuid_assignment: ${reason}`, '/coordinator/send']);
    expect(c.leases.view('named-1')?.trackId).toBeNull();
    // Liveness passes come and go (each would have written the bad trackID down): the lease stays.
    const probes = p.probes;
    await expect.poll(() => p.probes).toBeGreaterThan(probes + 3);
    expect(c.leases.view('named-1')).toMatchObject({ state: 'bound', trackId: null });
    expect(arrived).toEqual([]);
    expect(c.stats().counters).toMatchObject({ journalFailures: 0, effectFailures: 0, machineFailures: 0 });
  });

  it('a trackID belongs to one lease: the latest to take it; the one before loses it, told and written down', async () => {
    const dataDir = testDataDir('guards');
    const c = await testCoordinator(RANGE, { dataDir });
    const [first, second] = [await plugin('first', c.port), await plugin('second', c.port)];
    const chatty = await controller(c.port);
    chatty.send(c.port, '/coordinator/send', s('first'), s('/aiplayer/track_uuid_assignment'), s('first'), s('TR1'));
    expect(values(await chatty.next('/coordinator/track'))).toEqual(['first', 'TR1']);
    chatty.send(c.port, '/coordinator/send', s('second'), s('/aiplayer/track_uuid_assignment'), s('second'), s('TR1'));
    expect(values(await chatty.next('/coordinator/track'))).toEqual(['first', '']);
    expect(values(await chatty.next('/coordinator/track'))).toEqual(['second', 'TR1']);
    expect(c.leases.view('first')?.trackId).toBeNull();
    expect(c.leases.find('TR1')?.tempId).toBe('second');

    // After a restart, the journal says the same.
    const port = c.port;
    await c.close();
    const again = await testCoordinator(RANGE, { dataDir, port });
    expect(again.leases.view('first')?.trackId).toBeNull();
    expect(again.leases.view('second')?.trackId).toBe('TR1');
    // The second gone, TR1 names nobody: not the first, either.
    second.sender.send(port, ADDRESS.release, s('second'));
    await expect.poll(() => again.leases.view('second')).toBeUndefined();
    const other = await Peer.bind();
    closers.push(() => other.close());
    other.send(port, '/coordinator/send', s('TR1'), s('/aiplayer/stop_tone'));
    expect(values(await other.next('/coordinator/error'))).toEqual(['unknown_target', 'no plugin is known as TR1', '/coordinator/send']);
    expect(first.port).toBeGreaterThan(0);
  });

  it.each([ADDRESS.port_assignment, ADDRESS.port_error])('%s is the coordinator\'s alone: refused, and the plugin stays where it is', async (address) => {
    const c = await testCoordinator(RANGE);
    const p = await plugin('stays-1', c.port);
    const arrived = p.arrivals();
    const chatty = await controller(c.port);
    chatty.send(c.port, '/coordinator/send', s('stays-1'), s(address), s('stays-1'), i(RANGE[1]), s('assigned'));
    const [code, detail] = values(await chatty.next('/coordinator/error'));
    expect(code).toBe('forbidden');
    expect(detail).toContain(`${address} is the coordinator's alone`);
    await handled(chatty, c.port);
    expect(arrived).toEqual([]);
    expect(c.leases.view('stays-1')).toMatchObject({ state: 'bound', port: p.port });
  });
});

describe('traffic aimed at a stranger [PROTOCOL §11]', () => {
  it('a registration naming a listen port streams nothing there until the port proves it listens; one challenge a second', async () => {
    const c = await testCoordinator(RANGE);
    const p = await plugin('talker', c.port);
    const attacker = await Peer.bind();
    const victim = await Peer.bind();
    closers.push(() => attacker.close(), () => victim.close());
    const victimBytes: Buffer[] = [];
    victim.socket.on('message', (data) => victimBytes.push(data));
    for (let n = 0; n < 5; n++) attacker.send(c.port, '/coordinator/subscribe', i(victim.port));
    await handled(attacker, c.port);
    for (let n = 0; n < 50; n++) p.telemetry();
    await handled(attacker, c.port);
    await handled(p.sender, c.port);
    // One challenge of 52 bytes, and nothing of the plugin's.
    expect(victimBytes.map((data) => data.length)).toEqual([52]);
    expect(values(await victim.next('/coordinator/subscribed'))).toEqual([30_000, expect.stringMatching(/^[A-Za-z0-9_-]{16}$/)]);
    expect(c.stats().controllers).toEqual([]);
    expect(c.stats().counters.challengesRefused).toBe(4);
  });

  it('a registration ends only by its own source, or its token: a stranger\'s unsubscribe is refused, and its meters stay', async () => {
    const c = await testCoordinator(RANGE);
    const sendOnly = await Peer.bind();
    const listener = await Peer.bind();
    const stranger = await Peer.bind();
    closers.push(() => sendOnly.close(), () => listener.close(), () => stranger.close());
    sendOnly.send(c.port, '/coordinator/subscribe', i(listener.port));
    const [, token] = values(await listener.next('/coordinator/subscribed'));
    sendOnly.send(c.port, '/coordinator/subscribe', i(listener.port), s(token as string));
    await listener.next('/coordinator/subscribed');
    expect(c.stats().controllers).toEqual([`127.0.0.1:${listener.port}`]);

    stranger.send(c.port, '/coordinator/unsubscribe', i(listener.port));
    expect(values(await stranger.next('/coordinator/error'))).toEqual([
      'forbidden',
      `only the source that registered port ${listener.port}, or its token, ends its registration`,
      '/coordinator/unsubscribe',
    ]);
    stranger.send(c.port, '/coordinator/unsubscribe', i(listener.port), s('not-the-token'));
    expect(values(await stranger.next('/coordinator/error'))[0]).toBe('forbidden');
    expect(c.stats().controllers).toEqual([`127.0.0.1:${listener.port}`]);

    stranger.send(c.port, '/coordinator/unsubscribe', i(listener.port), s(token as string));
    await stranger.next('/coordinator/unsubscribed');
    expect(c.stats().controllers).toEqual([]);
  });
});

describe('floods that lock out newcomers [PROTOCOL §13, §14]', () => {
  it('a controller has a budget of plugin datagrams a second: past it, busy, and the others are served', async () => {
    const clock = new SimulatedClock();
    const c = await testCoordinator(RANGE, { clock, sendBudget: 100 });
    const plugins = [await plugin('b-1', c.port), await plugin('b-2', c.port), await plugin('b-3', c.port)];
    const arrived = plugins.map((p) => p.arrivals());
    const flooder = await Peer.bind();
    const polite = await Peer.bind();
    closers.push(() => flooder.close(), () => polite.close());
    const everyone = encodeMessage({ address: '/coordinator/send', args: [s('*'), s('/aiplayer/stop_tone')] });
    await flooder.sendRaw(c.port, bundle(...Array.from({ length: 64 }, () => everyone)));
    await handled(flooder, c.port);
    // 33 sends of 3 datagrams fit the 100; each of the other 31 is refused.
    const refusals = flooder.pending().filter((r) => r.message.address === '/coordinator/error');
    expect(refusals).toHaveLength(31);
    expect(values(refusals[0]!)).toEqual(['busy', "3 plugin datagrams would pass this sender's budget of 100 a second", '/coordinator/send']);
    await expect.poll(() => arrived.map((raw) => raw.length)).toEqual([33, 33, 33]);
    polite.send(c.port, '/coordinator/send', s('b-1'), s('/aiplayer/stop_tone'));
    await handled(polite, c.port);
    expect(polite.pending().filter((r) => r.message.address === '/coordinator/error')).toEqual([]);
    // A second later the flooder's budget is whole again.
    clock.increment(1000);
    flooder.send(c.port, '/coordinator/send', s('*'), s('/aiplayer/stop_tone'));
    await handled(flooder, c.port);
    expect(flooder.pending().filter((r) => r.message.address === '/coordinator/error')).toHaveLength(31);
  });

  it('all senders together have a budget too: many sockets cannot take the coordinator from the plugins', async () => {
    const clock = new SimulatedClock();
    const c = await testCoordinator(RANGE, { clock, sendBudget: 100, sendBudgetTotal: 150, maxGathersTotal: 1 });
    const plugins = [await plugin('t-1', c.port), await plugin('t-2', c.port), await plugin('t-3', c.port)];
    const arrived = plugins.map((p) => p.arrivals());
    const flooders = [await Peer.bind(), await Peer.bind()];
    closers.push(...flooders.map((peer) => () => peer.close()));
    const everyone = encodeMessage({ address: '/coordinator/send', args: [s('*'), s('/aiplayer/stop_tone')] });
    for (const flooder of flooders) {
      await flooder.sendRaw(c.port, bundle(...Array.from({ length: 64 }, () => everyone)));
      await handled(flooder, c.port);
    }
    // The first takes 33 sends of its own 100; the second finds 51 datagrams left of the shared 150: 17 sends.
    const [first, second] = flooders.map((peer) => peer.pending().filter((r) => r.message.address === '/coordinator/error'));
    expect([first!.length, second!.length]).toEqual([31, 47]);
    expect(values(second!.at(-1)!)).toEqual(['busy', '3 plugin datagrams would pass the budget of 150 a second that all senders share', '/coordinator/send']);
    await expect.poll(() => arrived.map((raw) => raw.length)).toEqual([50, 50, 50]);
    // Gathers, a second later: one in flight from anyone, and another sender waits for it to end.
    clock.increment(1000);
    const gatherers = [await Peer.bind(), await Peer.bind()];
    closers.push(...gatherers.map((peer) => () => peer.close()));
    plugins[0]!.answering = false;
    gatherers[0]!.send(c.port, '/coordinator/query_rms', s('first'), i(500));
    await expect.poll(() => plugins[0]!.probes).toBeGreaterThan(1);
    gatherers[1]!.send(c.port, '/coordinator/query_rms', s('second'), i(500));
    expect(values(await gatherers[1]!.next('/coordinator/error'))).toEqual(['busy', '1 gathers from all senders are waiting already, the most at once', '/coordinator/query_rms']);
    clock.increment(500);
    await gatherers[0]!.next('/coordinator/rms_missing');
    const probed = plugins[0]!.probes;
    gatherers[1]!.send(c.port, '/coordinator/query_rms', s('second'), i(500));
    await expect.poll(() => plugins[0]!.probes).toBeGreaterThan(probed);
    clock.increment(500);
    expect(values(await gatherers[1]!.next('/coordinator/rms_missing'))[0]).toBe('second');
  });

  it('gathers in flight are capped per controller, and a queryID already waiting is refused', async () => {
    const clock = new SimulatedClock();
    const c = await testCoordinator(RANGE, { clock, maxGathers: 2 });
    const quiet = await plugin('g-1', c.port);
    quiet.answering = false;
    const ctl = await Peer.bind();
    closers.push(() => ctl.close());
    ctl.send(c.port, '/coordinator/query_rms', s('q1'), i(5000));
    ctl.send(c.port, '/coordinator/query_rms', s('q1'), i(5000));
    expect(values(await ctl.next('/coordinator/error'))).toEqual(['busy', 'queryID q1 is already waiting for its answers', '/coordinator/query_rms']);
    ctl.send(c.port, '/coordinator/query_rms', s('q2'), i(5000));
    ctl.send(c.port, '/coordinator/query_rms', s('q3'), i(5000));
    expect(values(await ctl.next('/coordinator/error'))).toEqual(['busy', '2 gathers are waiting already, the most at once', '/coordinator/query_rms']);
    // Their time up, they answer, and room is made.
    clock.increment(5000);
    expect(values(await ctl.next('/coordinator/rms_missing'))[0]).toBe('q1');
    expect(values(await ctl.next('/coordinator/rms_missing'))[0]).toBe('q2');
    ctl.send(c.port, '/coordinator/query_rms', s('q3'), i(5000));
    await handled(ctl, c.port);
    expect(ctl.pending().filter((r) => r.message.address === '/coordinator/error')).toEqual([]);
  });

  it('an answer given twice, or with another plugin\'s nonce, counts once under the lease the nonce went to, and is never forwarded', async () => {
    const c = await testCoordinator(RANGE);
    const chatty = await controller(c.port);
    const [first, second] = [await plugin('twice-1', c.port), await plugin('twice-2', c.port)];
    second.answering = false;
    // The first answers every probe twice: once its own way, once again with the same nonce and in the second's name.
    const queries: string[] = [];
    first.onProbe = (nonce) => {
      queries.push(nonce);
      first.sender.send(c.port, ADDRESS.rms_response, s(nonce), s('twice-2'), f(0.5));
    };
    const lateBefore = c.stats().counters.lateAnswers;
    chatty.send(c.port, '/coordinator/query_rms', s('q9'), i(300));
    const answers = values(await chatty.next('/coordinator/rms'));
    expect(answers).toEqual(['q9', 1, 2, 'twice-1', '', first.port, expect.closeTo(0.1, 5)]);
    expect(values(await chatty.next('/coordinator/rms_missing'))).toEqual(['q9', 2, 2, 'twice-2', '', second.port]);
    await handled(chatty, c.port);
    expect(chatty.pending().filter((r) => r.message.address === ADDRESS.rms_response)).toEqual([]);
    expect(c.stats().counters.lateAnswers - lateBefore).toBe(queries.length);
  });
});

describe('amplification [PROTOCOL §14]', () => {
  it.skipIf(offHostAddress() === undefined)('from off the host, a gather is answered only to a registered controller: a forged source gets a short refusal', async () => {
    const address = offHostAddress()!;
    const c = await testCoordinator(RANGE, { host: '0.0.0.0', controllersAllow: [`${address}/32`] });
    await plugin('gathered', c.port);
    const remote = await Peer.bind(0, { host: address });
    closers.push(() => remote.close());
    const raw: Buffer[] = [];
    remote.socket.on('message', (data) => raw.push(data));
    const ask = encodeMessage({ address: '/coordinator/query_rms', args: [s('q1'), i(300)] });
    await new Promise<void>((resolve) => remote.socket.send(ask, c.port, address, () => resolve()));
    const [code, detail] = values(await remote.next('/coordinator/error'));
    expect([code, detail]).toEqual(['forbidden', 'off the host, only a registered controller may gather']);
    expect(raw[0]!.length).toBeLessThan(4 * ask.length);
    // Registered (it listens where it sends from), it is answered.
    await new Promise<void>((resolve) => remote.socket.send(encodeMessage({ address: '/coordinator/subscribe', args: [] }), c.port, address, () => resolve()));
    await remote.next('/coordinator/subscribed');
    await new Promise<void>((resolve) => remote.socket.send(ask, c.port, address, () => resolve()));
    expect(values(await remote.next('/coordinator/rms'))[0]).toBe('q1');
  });
});

/** An IPv4 address of this host that is not loopback, if it has one. */
function offHostAddress(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((candidate) => candidate?.family === 'IPv4' && !candidate.internal)?.address;
}
