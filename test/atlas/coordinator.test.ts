import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { startAtlasSimulator, type AtlasSimulator } from '../../src/simulators/atlas/simulator.js';
import { CoordinatorClient } from '../../src/cli/coordinator-client.js';
import type { Coordinator, CoordinatorOptions } from '../../src/main.js';
import { ADDRESS } from '../../src/osc/contract.js';
import { RANGES, testCoordinator } from '../helpers/coordinator.js';
import { ManualPlugin } from '../helpers/manual-plugin.js';
import { i, Peer, s, values } from '../helpers/peer.js';
import { freeUdpPort } from '../helpers/ports.js';

const RANGE = RANGES.atlas;
const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).reverse().map((close) => close()));
});

/** Short reconnect and keep-alive timings, as settings: the rules are the same as at the defaults. */
const FAST_ATLAS = { reconnectMs: 50, reconnectMaxMs: 200, keepaliveMs: 1000, keepaliveTimeoutMs: 300 };

async function simulator(host: string, meterPort: number): Promise<AtlasSimulator> {
  const sim = await startAtlasSimulator({ host, tcpPort: 0, meterPort, rateHz: 50, meters: ['ZoneMeter_0', 'ZoneMeter_1', 'SourceMeter_0'] });
  closers.push(() => sim.close());
  return sim;
}

async function coordinatorWithAtlas(meterPort: number, processors: Array<{ id: string; host: string; tcpPort: number }>, more: CoordinatorOptions = {}) {
  return testCoordinator(RANGE, { ...more, atlas: { meterPort, meterHost: '127.0.0.1', processors, ...FAST_ATLAS, ...more.atlas } });
}

async function plugin(tempId: string, c: Coordinator): Promise<ManualPlugin> {
  const p = await ManualPlugin.create(tempId, c.port);
  closers.push(() => p.close());
  await p.handshake();
  await expect.poll(() => c.leases.view(tempId)?.state).toBe('bound');
  return p;
}

/** `/atlas/meter` messages arriving on a plugin's leased port, as [processorId, param, value]. */
function metersAt(p: ManualPlugin): Array<[string, string, number]> {
  const meters: Array<[string, string, number]> = [];
  (p as unknown as { receiver: dgram.Socket }).receiver.on('message', (data) => {
    if (!data.subarray(0, 12).equals(Buffer.from('/atlas/meter'))) return;
    const processor = data.toString("utf8", 24, data.indexOf(0, 24));
    const paramStart = 24 + ((Buffer.byteLength(processor) + 4) & ~3);
    const param = data.toString('utf8', paramStart, data.indexOf(0, paramStart));
    meters.push([processor, param, data.readFloatBE(data.length - 4)]);
  });
  return meters;
}

async function controller(c: Coordinator): Promise<Peer> {
  const peer = await Peer.bind();
  closers.push(() => peer.close());
  peer.send(c.port, '/coordinator/subscribe');
  await peer.next('/coordinator/subscribed');
  return peer;
}

describe('the Atlas bridge in the coordinator [PROTOCOL §15]', () => {
  it('a plugin subscribed by tempID gets /atlas/meter on its verified port, and so does every controller', async () => {
    const meterPort = await freeUdpPort();
    const bar = await simulator('127.0.0.2', meterPort);
    const c = await coordinatorWithAtlas(meterPort, [{ id: 'bar', host: '127.0.0.2', tcpPort: bar.tcpPort }]);
    const p = await plugin('meter-1', c);
    const at = metersAt(p);
    const ctl = await controller(c);
    ctl.send(c.port, '/atlas/subscribe', s('meter-1'), s('bar'), s('ZoneMeter_0'));
    await expect.poll(() => at.length, { timeout: 5000 }).toBeGreaterThan(3);
    expect(at.every(([processor, param, value]) => processor === 'bar' && param === 'ZoneMeter_0' && value <= 0 && value >= -80)).toBe(true);
    const forwarded = await ctl.next('/atlas/meter');
    expect(values(forwarded).slice(0, 2)).toEqual(['bar', 'ZoneMeter_0']);
    expect(forwarded.message.args[2]!.type).toBe('f');
    expect(bar.subscriptions()).toEqual(['ZoneMeter_0']);
    expect(c.atlas.status()?.processors[0]).toMatchObject({ id: 'bar', state: 'connected', subscriptions: [{ param: 'ZoneMeter_0', consumers: 1 }] });
  });

  it('two processors on different addresses with the same meter names are kept apart, through one meter socket', async () => {
    const meterPort = await freeUdpPort();
    const bar = await simulator('127.0.0.2', meterPort);
    const patio = await simulator('127.0.0.3', meterPort);
    const c = await coordinatorWithAtlas(meterPort, [
      { id: 'bar', host: '127.0.0.2', tcpPort: bar.tcpPort },
      { id: 'patio', host: '127.0.0.3', tcpPort: patio.tcpPort },
    ]);
    const p = await plugin('meter-2', c);
    const at = metersAt(p);
    const ctl = await controller(c);
    patio.setSilent(true);
    ctl.send(c.port, '/atlas/subscribe', s('meter-2'), s('bar'), s('ZoneMeter_0'));
    ctl.send(c.port, '/atlas/subscribe', s('meter-2'), s('patio'), s('ZoneMeter_0'));
    await expect.poll(() => at.length, { timeout: 5000 }).toBeGreaterThan(5);
    expect(new Set(at.map(([processor]) => processor))).toEqual(new Set(['bar']));
    bar.setSilent(true);
    patio.setSilent(false);
    at.length = 0;
    await expect.poll(() => at.filter(([processor]) => processor === 'patio').length, { timeout: 5000 }).toBeGreaterThan(5);
    expect(c.stats().atlas?.meterSocket).toMatchObject({ bound: true, port: meterPort });
  });

  it('a standing mapping to a trackID follows the track; a lease ending takes its own subscriptions with it', async () => {
    const meterPort = await freeUdpPort();
    const bar = await simulator('127.0.0.2', meterPort);
    const c = await coordinatorWithAtlas(meterPort, [{ id: 'bar', host: '127.0.0.2', tcpPort: bar.tcpPort }], {
      atlas: { meters: [{ processor: 'bar', param: 'ZoneMeter_1', to: 'TR1' }] },
    });
    await expect.poll(() => bar.subscriptions(), { timeout: 5000 }).toEqual(['ZoneMeter_1']);
    const p = await plugin('meter-3', c);
    const at = metersAt(p);
    const ctl = await controller(c);
    ctl.send(c.port, '/coordinator/send', s('meter-3'), s('/aiplayer/track_uuid_assignment'), s('meter-3'), s('TR1'));
    await expect.poll(() => at.filter(([, param]) => param === 'ZoneMeter_1').length, { timeout: 5000 }).toBeGreaterThan(2);

    ctl.send(c.port, '/atlas/subscribe', s('meter-3'), s('bar'), s('SourceMeter_0'));
    await expect.poll(() => bar.subscriptions().sort()).toEqual(['SourceMeter_0', 'ZoneMeter_1']);
    p.sender.send(c.port, ADDRESS.release, s('meter-3'));
    // The last consumer of SourceMeter_0 left with the lease: unsubscribed on the device. TR1's mapping stays.
    await expect.poll(() => bar.subscriptions(), { timeout: 5000 }).toEqual(['ZoneMeter_1']);
  });

  it('the last consumer leaving unsubscribes on the device; an unknown processor is an error', async () => {
    const meterPort = await freeUdpPort();
    const bar = await simulator('127.0.0.2', meterPort);
    const c = await coordinatorWithAtlas(meterPort, [{ id: 'bar', host: '127.0.0.2', tcpPort: bar.tcpPort }]);
    const ctl = await controller(c);
    ctl.send(c.port, '/atlas/subscribe', s('controller'), s('bar'), s('ZoneMeter_0'));
    await ctl.next('/atlas/meter', 5000);
    ctl.send(c.port, '/atlas/unsubscribe', s('controller'), s('bar'), s('ZoneMeter_0'));
    await expect.poll(() => bar.subscriptions(), { timeout: 5000 }).toEqual([]);
    ctl.send(c.port, '/atlas/subscribe', s('controller'), s('nowhere'), s('ZoneMeter_0'));
    expect(values(await ctl.next('/coordinator/error'))).toEqual(['unknown_processor', 'no Atlas processor "nowhere"', '/atlas/subscribe']);
  });

  it('processors are added and removed at run time, loopback only, answered as the admin queries are', async () => {
    const meterPort = await freeUdpPort();
    const bar = await simulator('127.0.0.2', meterPort);
    const c = await coordinatorWithAtlas(meterPort, []);
    expect(c.stats().atlas).toBeNull();
    const client = await CoordinatorClient.open({ host: '127.0.0.1', port: c.port });
    closers.push(() => client.close());
    expect(await client.request('atlas/add', s('bar'), s('127.0.0.2'), i(bar.tcpPort))).toEqual({ ok: true, processor: { id: 'bar', host: '127.0.0.2', tcpPort: bar.tcpPort } });
    await expect.poll(() => c.atlas.status()?.processors[0]?.state, { timeout: 5000 }).toBe('connected');
    await expect(client.request('atlas/add', s('again'), s('127.0.0.2'), i(bar.tcpPort))).rejects.toThrow('host 127.0.0.2 is already processor "bar"');
    await expect(client.request('atlas/add', s('named'), s('atlas.local'), i(5321))).rejects.toThrow('is not an IPv4 address');
    expect(await client.request('atlas/remove', s('bar'))).toEqual({ ok: true, removed: { id: 'bar' } });
    await expect.poll(() => bar.connections()).toBe(0);
    await expect(client.request('atlas/remove', s('bar'))).rejects.toThrow('no Atlas processor "bar"');
  });

  it('a meter port already taken is said, with who holds it, and everything else keeps running', async () => {
    const squatter = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => squatter.bind(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => squatter.close(() => resolve(undefined))));
    const meterPort = squatter.address().port;
    const bar = await simulator('127.0.0.2', meterPort);
    const c = await coordinatorWithAtlas(meterPort, [{ id: 'bar', host: '127.0.0.2', tcpPort: bar.tcpPort }]);
    expect(c.stats().atlas?.meterSocket).toMatchObject({ bound: false, port: meterPort });
    expect(c.stats().atlas?.meterSocket.holders).toEqual([expect.objectContaining({ pid: process.pid })]);
    await expect.poll(() => c.atlas.status()?.processors[0]?.state, { timeout: 5000 }).toBe('connected');
    await plugin('still-served', c);
  });
});

describe('guards on the Atlas bridge [PROTOCOL §15]', () => {
  it('a consumer is a verified plugin or a registered controller: a name that is neither holds no subscription', async () => {
    const meterPort = await freeUdpPort();
    const bar = await simulator('127.0.0.2', meterPort);
    const c = await coordinatorWithAtlas(meterPort, [{ id: 'bar', host: '127.0.0.2', tcpPort: bar.tcpPort }]);
    const stranger = await Peer.bind();
    closers.push(() => stranger.close());
    stranger.send(c.port, '/atlas/subscribe', s('ghost-1'), s('bar'), s('ZoneMeter_0'));
    expect(values(await stranger.next('/coordinator/error'))).toEqual(['unknown_target', 'no verified plugin is known as ghost-1', '/atlas/subscribe']);
    stranger.send(c.port, '/atlas/subscribe', s('controller'), s('bar'), s('ZoneMeter_0'));
    expect(values(await stranger.next('/coordinator/error'))[0]).toBe('unknown_target');
    expect(c.atlas.status()?.processors[0]?.subscriptions).toEqual([]);
    expect(bar.subscriptions()).toEqual([]);
  });

  it('a consumer wants 64 meters at most: the 65th is refused, and the device is never asked for it', async () => {
    const meterPort = await freeUdpPort();
    const bar = await simulator('127.0.0.2', meterPort);
    const c = await coordinatorWithAtlas(meterPort, [{ id: 'bar', host: '127.0.0.2', tcpPort: bar.tcpPort }]);
    const ctl = await controller(c);
    for (let n = 0; n < 65; n++) ctl.send(c.port, '/atlas/subscribe', s('controller'), s('bar'), s(`ZoneMeter_${n}`));
    expect(values(await ctl.next('/coordinator/error'))).toEqual(['too_many_subscriptions', 'a consumer may want 64 meters at most', '/atlas/subscribe']);
    expect(c.atlas.status()?.processors[0]?.subscriptions).toHaveLength(64);
    expect(c.atlas.status()?.processors[0]?.subscriptions.some((sub) => sub.param === 'ZoneMeter_64')).toBe(false);
  });

  it('processors are capped: the 33rd is refused', async () => {
    const c = await coordinatorWithAtlas(await freeUdpPort(), []);
    const client = await CoordinatorClient.open({ host: '127.0.0.1', port: c.port });
    closers.push(() => client.close());
    for (let n = 0; n < 32; n++) await client.request('atlas/add', s(`p${n}`), s(`127.0.1.${n + 1}`), i(1));
    await expect(client.request('atlas/add', s('p32'), s('127.0.1.33'), i(1))).rejects.toThrow('there are 32 processors already, the most at once');
  });
});

describe('answers that outgrow a datagram [PROTOCOL §10]', () => {
  it('status carries the bridge in counts, under 8 KiB with 800 subscriptions; the lists come a page at a time, each row once', async () => {
    const c = await coordinatorWithAtlas(await freeUdpPort(), []);
    for (let n = 0; n < 4; n++) await c.atlas.addProcessor({ id: `p${n}`, host: `127.0.2.${n + 1}`, tcpPort: 1 });
    for (let consumer = 0; consumer < 16; consumer++) {
      for (let m = 0; m < 50; m++) {
        const param = `ZoneMeter_${consumer * 50 + m}`;
        expect(c.atlas.subscribe(`controller:127.0.0.1:${40000 + consumer}`, `p${(consumer * 50 + m) % 4}`, param)).toBeUndefined();
      }
    }
    const asker = await Peer.bind();
    closers.push(() => asker.close());
    const raw: Buffer[] = [];
    asker.socket.on('message', (data) => raw.push(data));
    asker.send(c.port, '/coordinator/status', s('st'));
    const reply = await asker.next('/coordinator/reply');
    expect(raw[0]!.length).toBeLessThan(8 * 1024);
    expect(JSON.parse(values(reply)[1] as string).status.atlas).toMatchObject({ processors: 4, connected: 0, subscriptions: 800 });

    const client = await CoordinatorClient.open({ host: '127.0.0.1', port: c.port });
    closers.push(() => client.close());
    const atlas = (await client.atlas())!;
    expect(atlas.processors.map((p) => [p.id, p.subscriptions.length])).toEqual([
      ['p0', 200],
      ['p1', 200],
      ['p2', 200],
      ['p3', 200],
    ]);
    const params = atlas.processors.flatMap((p) => p.subscriptions.map((sub) => sub.param));
    expect(new Set(params).size).toBe(800);
  });
});
