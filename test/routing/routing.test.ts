import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { encodeMessage, type OscArg } from '../../src/osc/codec.js';
import { ADDRESS } from '../../src/osc/contract.js';
import { RANGES, testCoordinator } from '../helpers/coordinator.js';
import { ManualPlugin } from '../helpers/manual-plugin.js';
import { f, i, Peer, s, tags, values } from '../helpers/peer.js';

const RANGE = RANGES.routing;
const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** A controller: a socket on loopback that also keeps every datagram's raw bytes, in order. */
async function controller(coordinatorPort: number) {
  const peer = await Peer.bind();
  closers.push(() => peer.close());
  peer.socket.setRecvBufferSize(4 * 1024 * 1024);
  const raw: Buffer[] = [];
  peer.socket.on('message', (data) => raw.push(data));
  peer.send(coordinatorPort, '/coordinator/subscribe');
  expect(values(await peer.next('/coordinator/subscribed'))).toEqual([30_000]);
  raw.length = 0;
  return { peer, raw };
}

/** A deployed-style plugin, verified on its port (its probe answered). */
async function plugin(tempId: string, coordinatorPort: number): Promise<ManualPlugin> {
  const p = await ManualPlugin.verified(tempId, coordinatorPort);
  closers.push(() => p.close());
  return p;
}

const bundle = (...messages: Uint8Array[]) =>
  Buffer.concat([
    Buffer.from('#bundle\0'),
    Buffer.alloc(8),
    ...messages.flatMap((m) => {
      const size = Buffer.alloc(4);
      size.writeInt32BE(m.length);
      return [size, Buffer.from(m)];
    }),
  ]);

describe('controllers: plugin traffic back, byte for byte [PROTOCOL §11, §12]', () => {
  it('receive telemetry and rms exactly as sent, and a bundle element as its own bytes', async () => {
    const c = await testCoordinator(RANGE);
    const { raw } = await controller(c.port);
    const p = await plugin('tele-1', c.port);
    await expect.poll(() => c.leases.view('tele-1')?.state).toBe('bound');
    raw.length = 0;
    const telemetry = encodeMessage({ address: '/aiplayer/telemetry', args: [s('tele-1'), f(0.5), f(0.1), f(0.2), f(0.3), f(0.4)] });
    const rms = encodeMessage({ address: '/aiplayer/rms', args: [s('TR1'), f(0.25)] });
    const chat = encodeMessage({ address: '/aiplayer/chat/request', args: [i(3), s('make it louder')] });
    await p.sender.sendRaw(c.port, telemetry);
    await p.sender.sendRaw(c.port, bundle(rms, chat));
    await expect.poll(() => raw.length).toBe(3);
    expect(raw[0]).toEqual(Buffer.from(telemetry));
    expect(raw[1]).toEqual(Buffer.from(rms));
    expect(raw[2]).toEqual(Buffer.from(chat));
  });

  it('receive answers to ChattyChannels own query_rms, but never the answers to the coordinator probes', async () => {
    const c = await testCoordinator(RANGE, { livenessIntervalMs: 50, probeTimeoutMs: 200 });
    const { raw, peer } = await controller(c.port);
    const p = await plugin('cal-1', c.port);
    // Liveness probes keep coming (every 50 ms of silence) and are answered: none of those answers is forwarded.
    await expect.poll(() => p.probes, { timeout: 3000 }).toBeGreaterThan(3);
    expect(raw.every((data) => !data.includes(Buffer.from('/aiplayer/rms_response')))).toBe(true);
    const theirs = encodeMessage({ address: ADDRESS.rms_response, args: [s('chatty-query-7'), s('cal-1'), f(0.125)] });
    await p.sender.sendRaw(c.port, theirs);
    await expect.poll(() => raw.some((data) => data.equals(Buffer.from(theirs)))).toBe(true);
    expect(c.stats().counters.unmatchedAnswers).toBe(1);
    expect(peer.pending().filter((r) => r.message.address === ADDRESS.rms_response)).toHaveLength(1);
  });

  it('hear every lease change: bound, then released', async () => {
    const c = await testCoordinator(RANGE);
    const { peer } = await controller(c.port);
    const p = await plugin('ev-1', c.port);
    for (;;) {
      const event = values(await peer.next('/coordinator/lease'));
      if (event[2] === 'bound') {
        expect(event).toEqual(['ev-1', p.port, 'bound']);
        break;
      }
    }
    p.sender.send(c.port, ADDRESS.release, s('ev-1'));
    expect(values(await peer.next('/coordinator/lease'))).toEqual(['ev-1', p.port, 'released']);
  });

  it('a burst of 1000 plugin messages all reach two controllers', async () => {
    const c = await testCoordinator(RANGE);
    const first = await controller(c.port);
    const second = await controller(c.port);
    const sender = await Peer.bind();
    closers.push(() => sender.close());
    const burst = Array.from({ length: 1000 }, (_, n) => encodeMessage({ address: '/aiplayer/telemetry', args: [s('burst'), f(n), f(0), f(0), f(0), f(0)] }));
    await Promise.all(burst.map((datagram) => sender.sendRaw(c.port, datagram)));
    await expect.poll(() => [first.raw.length, second.raw.length], { timeout: 5000 }).toEqual([1000, 1000]);
    expect(first.raw.map((data) => data.readFloatBE(data.length - 20))).toEqual(burst.map((_, n) => n));
  });

  it('a controller that does not renew within its interval stops receiving; unsubscribe ends it at once', async () => {
    const clock = new SimulatedClock();
    const c = await testCoordinator(RANGE, { clock, controllerTtlMs: 5000 });
    const sender = await Peer.bind();
    closers.push(() => sender.close());
    const ctl = await Peer.bind();
    closers.push(() => ctl.close());
    ctl.send(c.port, '/coordinator/subscribe');
    expect(values(await ctl.next('/coordinator/subscribed'))).toEqual([5000]);
    clock.increment(4999);
    sender.send(c.port, '/aiplayer/telemetry', s('x'), f(1), f(0), f(0), f(0), f(0));
    await ctl.next('/aiplayer/telemetry');
    clock.increment(1);
    expect(c.stats().controllers).toEqual([]);
    ctl.send(c.port, '/coordinator/subscribe');
    await ctl.next('/coordinator/subscribed');
    ctl.send(c.port, '/coordinator/unsubscribe');
    await ctl.next('/coordinator/unsubscribed');
    expect(c.stats().controllers).toEqual([]);
  });

  it('a controller may name the port it listens on, once that port proves it listens; the cap on controllers is kept', async () => {
    const c = await testCoordinator(RANGE, { maxControllers: 1 });
    const sendOnly = await Peer.bind();
    const listener = await Peer.bind();
    const late = await Peer.bind();
    closers.push(() => sendOnly.close(), () => listener.close(), () => late.close());
    sendOnly.send(c.port, '/coordinator/subscribe', i(listener.port));
    const [ttl, token] = values(await listener.next('/coordinator/subscribed'));
    expect(ttl).toBe(30_000);
    expect(c.stats().controllers).toEqual([]);
    sendOnly.send(c.port, '/coordinator/subscribe', i(listener.port), s(token as string));
    expect(values(await listener.next('/coordinator/subscribed'))).toEqual([30_000, token]);
    expect(c.stats().controllers).toEqual([`127.0.0.1:${listener.port}`]);
    late.send(c.port, '/coordinator/subscribe');
    expect(values(await late.next('/coordinator/error'))).toEqual(['too_many_controllers', '1 controllers are registered already', '/coordinator/subscribe']);
  });
});

describe('sending to plugins [PROTOCOL §13]', () => {
  it('by tempID, by trackID (learnt from a track_uuid_assignment sent through it) and to every bound plugin', async () => {
    const c = await testCoordinator(RANGE);
    const ctl = await Peer.bind();
    closers.push(() => ctl.close());
    const a = await plugin('send-a', c.port);
    const b = await plugin('send-b', c.port);
    await expect.poll(() => c.stats().leases.bound).toBe(2);
    const atA = a.arrivals();
    const atB = b.arrivals();

    ctl.send(c.port, '/coordinator/send', s('send-a'), s('/aiplayer/start_tone'), f(440), f(-12));
    await expect.poll(() => atA.length).toBe(1);
    expect(atA[0]).toEqual(Buffer.from(encodeMessage({ address: '/aiplayer/start_tone', args: [f(440), f(-12)] })));

    ctl.send(c.port, '/coordinator/send', s('send-b'), s('/aiplayer/track_uuid_assignment'), s('send-b'), s('TR7'));
    await expect.poll(() => c.leases.view('send-b')?.trackId).toBe('TR7');
    ctl.send(c.port, '/coordinator/send', s('TR7'), s('/aiplayer/stop_tone'));
    await expect.poll(() => atB.length).toBe(2);
    expect(atB[1]).toEqual(Buffer.from(encodeMessage({ address: '/aiplayer/stop_tone', args: [] })));

    ctl.send(c.port, '/coordinator/send', s('*'), s('/aiplayer/set_parameter'), s('gain'), f(0.5));
    await expect.poll(() => [atA.length, atB.length]).toEqual([2, 3]);
    expect(c.stats().counters.sentToPlugins).toBe(5);
    expect(ctl.pending()).toEqual([]);
  });

  it('keeps every type exactly: an f 2.0 arrives as f 2.0, an i as an i, a blob as the same bytes', async () => {
    const c = await testCoordinator(RANGE);
    const ctl = await Peer.bind();
    closers.push(() => ctl.close());
    const p = await plugin('types', c.port);
    await expect.poll(() => c.leases.view('types')?.state).toBe('bound');
    const at = p.arrivals();
    const blob = new Uint8Array([0, 1, 2, 255, 254]);
    const args: OscArg[] = [f(2), i(2), s('two'), { type: 'b', value: blob }];
    ctl.send(c.port, '/coordinator/send', s('types'), s('/aiplayer/anything'), ...args);
    await expect.poll(() => at.length).toBe(1);
    expect(at[0]).toEqual(Buffer.from(encodeMessage({ address: '/aiplayer/anything', args })));
  });

  it.each([
    ['d', { type: 'd', value: 2 }],
    ['h', { type: 'h', value: { high: 0, low: 2, unsigned: false } }],
    ['T', { type: 'T', value: true }],
  ])('refuses a %s argument with an error, and sends nothing', async (tag, arg) => {
    const c = await testCoordinator(RANGE);
    const ctl = await Peer.bind();
    closers.push(() => ctl.close());
    const p = await plugin(`refuse-${tag}`, c.port);
    await expect.poll(() => c.leases.view(`refuse-${tag}`)?.state).toBe('bound');
    const at = p.arrivals();
    ctl.send(c.port, '/coordinator/send', s(`refuse-${tag}`), s('/aiplayer/x'), arg as OscArg);
    const error = await ctl.next('/coordinator/error');
    expect(tags(error)).toBe('sss');
    expect(values(error)).toEqual(['bad_arguments', `type "${tag}" cannot reach a JUCE plugin: only i, f, s and b`, '/coordinator/send']);
    expect(at).toEqual([]);
  });

  it('an unknown target, or one not bound yet, is an error back to the sender', async () => {
    const c = await testCoordinator(RANGE);
    const ctl = await Peer.bind();
    const waiting = await Peer.bind();
    closers.push(() => ctl.close(), () => waiting.close());
    ctl.send(c.port, '/coordinator/send', s('nobody'), s('/aiplayer/stop_tone'));
    expect(values(await ctl.next('/coordinator/error'))).toEqual(['unknown_target', 'no plugin is known as nobody', '/coordinator/send']);
    waiting.send(c.port, ADDRESS.request_port, s('not-yet'), i(-1), i(waiting.port));
    await waiting.next(ADDRESS.port_assignment);
    ctl.send(c.port, '/coordinator/send', s('not-yet'), s('/aiplayer/stop_tone'));
    expect(values(await ctl.next('/coordinator/error'))[0]).toBe('not_bound');
    ctl.send(c.port, '/coordinator/nonsense');
    expect(values(await ctl.next('/coordinator/error'))[0]).toBe('unknown_address');
  });

  it('handles a controller bundle element by element', async () => {
    const c = await testCoordinator(RANGE);
    const ctl = await Peer.bind();
    closers.push(() => ctl.close());
    const p = await plugin('bundled', c.port);
    await expect.poll(() => c.leases.view('bundled')?.state).toBe('bound');
    const at = p.arrivals();
    await ctl.sendRaw(
      c.port,
      bundle(
        encodeMessage({ address: '/coordinator/send', args: [s('bundled'), s('/aiplayer/start_tone'), f(220), f(-6)] }),
        encodeMessage({ address: '/coordinator/send', args: [s('ghost'), s('/aiplayer/stop_tone')] }),
        encodeMessage({ address: '/coordinator/send', args: [s('bundled'), s('/aiplayer/stop_tone')] }),
      ),
    );
    await expect.poll(() => at.length).toBe(2);
    expect(values(await ctl.next('/coordinator/error'))[0]).toBe('unknown_target');
  });
});

describe('calibration gather [PROTOCOL §14]', () => {
  it('answers as soon as every bound plugin has, long before its timeout', async () => {
    const c = await testCoordinator(RANGE);
    const ctl = await Peer.bind();
    closers.push(() => ctl.close());
    const plugins = await Promise.all(['g1', 'g2', 'g3'].map((id) => plugin(id, c.port)));
    await expect.poll(() => c.stats().leases.bound).toBe(3);
    const started = performance.now();
    ctl.send(c.port, '/coordinator/query_rms', s('q1'), i(10_000));
    const reply = await ctl.next('/coordinator/rms', 2000);
    expect(performance.now() - started).toBeLessThan(2000);
    const [queryId, part, parts, ...entries] = values(reply);
    expect([queryId, part, parts]).toEqual(['q1', 1, 1]);
    const byPort = plugins.map((p) => [p.tempId, '', p.port, expect.closeTo(0.1, 5)]).sort((x, y) => (x[2] as number) - (y[2] as number));
    expect(entries).toEqual(byPort.flat());
    expect(ctl.pending()).toEqual([]);
  });

  it('returns at the timeout, naming the plugins that did not answer', async () => {
    const c = await testCoordinator(RANGE);
    const ctl = await Peer.bind();
    closers.push(() => ctl.close());
    const talking = await plugin('talks', c.port);
    const silent = await plugin('silent', c.port);
    await expect.poll(() => c.stats().leases.bound).toBe(2);
    silent.answering = false;
    ctl.send(c.port, '/coordinator/query_rms', s('q2'), i(300));
    const answers = values(await ctl.next('/coordinator/rms'));
    const missing = values(await ctl.next('/coordinator/rms_missing'));
    expect(answers).toEqual(['q2', 1, 2, 'talks', '', talking.port, expect.closeTo(0.1, 5)]);
    expect(missing).toEqual(['q2', 2, 2, 'silent', '', silent.port]);
  });

  it('splits a large answer over datagrams of at most 31 arguments', async () => {
    const c = await testCoordinator(RANGE);
    const ctl = await Peer.bind();
    closers.push(() => ctl.close());
    await Promise.all(Array.from({ length: 20 }, (_, n) => plugin(`many-${n}`, c.port)));
    await expect.poll(() => c.stats().leases.bound).toBe(20);
    ctl.send(c.port, '/coordinator/query_rms', s('q3'), i(5000));
    const first = values(await ctl.next('/coordinator/rms'));
    const parts = first[2] as number;
    expect(parts).toBe(3);
    const rest = await Promise.all([ctl.next('/coordinator/rms'), ctl.next('/coordinator/rms')]);
    const entries = [first, ...rest.map(values)].flatMap((args) => args.slice(3));
    expect(entries).toHaveLength(20 * 4);
    for (const reply of rest) expect(reply.message.args.length).toBeLessThanOrEqual(31);
  });
});
