import dgram from 'node:dgram';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EventEmitter } from 'node:events';
import { AtlasBridge } from '../../src/atlas/bridge.js';
import { realClock, type Clock } from '../../src/clock.js';
import { SimulatedClock } from 'xstate';
import type { LeaseDirectory } from '../../src/leases/directory.js';
import type { Controllers } from '../../src/routing/controllers.js';
import type { AtlasSettings } from '../../src/settings/index.js';
import { freeUdpPort } from '../helpers/ports.js';
import { startAtlasSimulator, type AtlasSimulatorOptions } from '../../src/simulators/atlas/simulator.js';
import { bindExclusive, closeSocket } from '../../src/net/udp.js';
import { collectLogs } from '../helpers/logs.js';

/** Short waits, so a dead link, a reconnect or a rebind takes a fraction of a second. */
const FAST: AtlasSettings = {
  meterHost: '127.0.0.1',
  meterPort: 0,
  meterRebindMs: 100,
  connectTimeoutMs: 1000,
  keepaliveMs: 100,
  keepaliveTimeoutMs: 150,
  reconnectMs: 50,
  reconnectMaxMs: 200,
  linkStableMs: 30_000,
  maxUnansweredBytes: 65_536,
  processors: [],
  meters: [],
};

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Reading {
  processor: string;
  param: string;
  value: number;
}

/** `/atlas/meter ,ssf processor param value`, read back. */
function reading(bytes: Buffer): Reading {
  const processor = bytes.toString('utf8', 24, bytes.indexOf(0, 24));
  const paramStart = 24 + ((Buffer.byteLength(processor) + 4) & ~3);
  return { processor, param: bytes.toString('utf8', paramStart, bytes.indexOf(0, paramStart)), value: bytes.readFloatBE(bytes.length - 4) };
}

/** A bridge on loopback whose one controller records every update (each reaches every controller once). */
async function bridgeOnLoopback(settings: Partial<AtlasSettings> = {}, clock: Clock = realClock) {
  const readings: Reading[] = [];
  const { lines, logger } = collectLogs();
  const meterPort = settings.meterPort ?? (await freeUdpPort());
  const leases = Object.assign(new EventEmitter(), { resolve: () => undefined }) as unknown as LeaseDirectory;
  const controllers = { forward: (bytes: Buffer) => readings.push(reading(bytes)) } as unknown as Controllers;
  const bridge = new AtlasBridge({ settings: { ...FAST, ...settings, meterPort }, leases, controllers, send: () => {}, clock, logger });
  cleanups.push(() => bridge.close());
  const count = (processor: string, param?: string) =>
    readings.filter((r) => r.processor === processor && (param === undefined || r.param === param)).length;
  return { bridge, readings, count, logs: lines, meterPort };
}

async function simulator(host: string, meterPort: number, options: Partial<AtlasSimulatorOptions> = {}) {
  const sim = await startAtlasSimulator({ host, tcpPort: 0, meterPort, rateHz: 50, ...options });
  cleanups.push(() => sim.close());
  return sim;
}

const statusOf = (bridge: AtlasBridge) => bridge.status()!;
const processorStatus = (bridge: AtlasBridge, id: string) => statusOf(bridge).processors.find((p) => p.id === id)!;

describe('Atlas bridge against simulated processors', () => {
  it('subscribes and delivers meters in dB, and reports a refused param', async () => {
    const { bridge, readings, count, logs, meterPort } = await bridgeOnLoopback();
    const sim = await simulator('127.0.0.2', meterPort);
    await bridge.addProcessor({ id: 'bar', host: '127.0.0.2', tcpPort: sim.tcpPort });
    bridge.subscribe('plugin-9001', 'bar', 'SourceMeter_0');
    bridge.subscribe('plugin-9001', 'bar', 'InputMeter_0');

    await expect.poll(() => count('bar', 'SourceMeter_0')).toBeGreaterThan(5);
    for (const { value } of readings) {
      expect(value).toBeGreaterThanOrEqual(-80);
      expect(value).toBeLessThanOrEqual(0);
    }
    // The rate counts whole seconds: the first one ends a second after the first value.
    await expect
      .poll(() => processorStatus(bridge, 'bar').subscriptions.find((s) => s.param === 'SourceMeter_0')?.updatesPerSecond, { timeout: 3000 })
      .toBeGreaterThan(20);
    const status = processorStatus(bridge, 'bar');
    expect(status).toMatchObject({ host: '127.0.0.2', state: 'connected', connects: 1 });
    expect(status.subscriptions).toEqual([
      expect.objectContaining({ param: 'SourceMeter_0', consumers: 1, state: 'active' }),
      { param: 'InputMeter_0', consumers: 1, updatesPerSecond: 0, state: 'failed', error: { code: -32604, message: "param 'InputMeter_0' could not be found" } },
    ]);
    expect(logs.find((line) => line.msg === 'atlas: the device refused a subscription')).toMatchObject({ params: ['InputMeter_0'] });
    expect(statusOf(bridge).counters).toMatchObject({ unknownSources: 0, badLines: 0, unwantedUpdates: 0 });
    expect(statusOf(bridge).counters.updates).toBe(readings.length);
  });

  it('keeps two processors with the same meter names apart by source address, and drops strangers', async () => {
    const { bridge, count, meterPort } = await bridgeOnLoopback();
    const simA = await simulator('127.0.0.2', meterPort);
    const simB = await simulator('127.0.0.3', meterPort);
    await bridge.addProcessor({ id: 'a', host: '127.0.0.2', tcpPort: simA.tcpPort });
    await bridge.addProcessor({ id: 'b', host: '127.0.0.3', tcpPort: simB.tcpPort });
    for (const id of ['a', 'b']) bridge.subscribe('c1', id, 'SourceMeter_0');
    await expect.poll(() => count('a') > 5 && count('b') > 5).toBe(true);

    // Only A falls silent: B's meters keep arriving and none of them is filed under A.
    simA.setSilent(true);
    // B's meters sent after A fell silent arrive after A's last ones.
    const silencedAt = count('b');
    await expect.poll(() => count('b')).toBeGreaterThan(silencedAt + 2);
    const fromA = count('a');
    const fromB = count('b');
    await expect.poll(() => count('b')).toBeGreaterThan(fromB + 10);
    expect(count('a')).toBe(fromA);

    const stranger = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => stranger.bind(0, '127.0.0.4', resolve));
    stranger.send('{"jsonrpc":"2.0","method":"update","params":{"param":"SourceMeter_0","val":-1}}\n', meterPort, '127.0.0.1');
    await expect.poll(() => statusOf(bridge).counters.unknownSources).toBe(1);
    await closeSocket(stranger);
    expect(statusOf(bridge).counters.unwantedUpdates).toBe(0);
  });

  it('reconnects after the TCP connection drops and subscribes everything again', async () => {
    const { bridge, count, meterPort } = await bridgeOnLoopback();
    // More than one batch of `sub` (16 params each), on the first connection and again on the second.
    const params = Array.from({ length: 20 }, (_, n) => `ZoneMeter_${n}`);
    const sim = await simulator('127.0.0.2', meterPort, { meters: params });
    await bridge.addProcessor({ id: 'bar', host: '127.0.0.2', tcpPort: sim.tcpPort });
    for (const param of params) bridge.subscribe('c1', 'bar', param);
    await expect.poll(() => sim.subscriptions()).toEqual([...params].sort());
    await expect.poll(() => processorStatus(bridge, 'bar').subscriptions.every((s) => s.state === 'active')).toBe(true);

    sim.dropConnections();
    expect(sim.subscriptions()).toEqual([]);
    await expect.poll(() => processorStatus(bridge, 'bar').connects).toBe(2);
    await expect.poll(() => sim.subscriptions()).toEqual([...params].sort());
    const before = count('bar', 'ZoneMeter_1');
    await expect.poll(() => count('bar', 'ZoneMeter_1')).toBeGreaterThan(before + 3);
    expect(processorStatus(bridge, 'bar')).toMatchObject({ state: 'connected', lastDown: 'closed by the device' });
  });

  it('detects a silent device by its unanswered keep-alive, and recovers when it speaks again', async () => {
    const { bridge, count, logs, meterPort } = await bridgeOnLoopback();
    const sim = await simulator('127.0.0.2', meterPort);
    await bridge.addProcessor({ id: 'bar', host: '127.0.0.2', tcpPort: sim.tcpPort });
    bridge.subscribe('c1', 'bar', 'ZoneMeter_3');
    await expect.poll(() => count('bar')).toBeGreaterThan(0);

    sim.setSilent(true);
    await expect.poll(() => processorStatus(bridge, 'bar').lastDown).toBe('keep-alive unanswered');
    expect(logs.find((line) => line.msg === 'atlas: link down, reconnecting')).toMatchObject({ processor: 'bar', reason: 'keep-alive unanswered' });

    sim.setSilent(false);
    const before = count('bar');
    await expect.poll(() => count('bar')).toBeGreaterThan(before + 5);
    await expect.poll(() => processorStatus(bridge, 'bar').state).toBe('connected');
    expect(sim.subscriptions()).toEqual(['ZoneMeter_3']);
  });

  it('counts garbage and split lines on TCP and UDP, and keeps going', async () => {
    const { bridge, count, meterPort } = await bridgeOnLoopback();
    const sim = await simulator('127.0.0.2', meterPort);
    await bridge.addProcessor({ id: 'bar', host: '127.0.0.2', tcpPort: sim.tcpPort });
    bridge.subscribe('c1', 'bar', 'SourceMeter_0');
    await expect.poll(() => count('bar')).toBeGreaterThan(0);

    await sim.sendGarbage();
    // TCP: a torn object, a line of prose, a 70 KiB line; UDP: binary junk, an update without a value.
    // The keep-alive answer split over two TCP segments is whole again, so not counted.
    await expect.poll(() => statusOf(bridge).counters.badLines).toBe(5);
    const before = count('bar');
    await expect.poll(() => count('bar')).toBeGreaterThan(before + 5);
    expect(processorStatus(bridge, 'bar')).toMatchObject({ state: 'connected', connects: 1 });
  });

  it('shares one device subscription between consumers; the last one leaving unsubscribes on the device', async () => {
    const { bridge, meterPort } = await bridgeOnLoopback();
    const sim = await simulator('127.0.0.2', meterPort);
    await bridge.addProcessor({ id: 'bar', host: '127.0.0.2', tcpPort: sim.tcpPort });
    bridge.subscribe('c1', 'bar', 'SourceMeter_0');
    bridge.subscribe('c2', 'bar', 'SourceMeter_0');
    bridge.subscribe('c1', 'bar', 'SourceMeter_1');
    await expect.poll(() => sim.subscriptions()).toEqual(['SourceMeter_0', 'SourceMeter_1']);
    expect(processorStatus(bridge, 'bar').subscriptions.map((s) => [s.param, s.consumers])).toEqual([
      ['SourceMeter_0', 2],
      ['SourceMeter_1', 1],
    ]);

    bridge.unsubscribe('c1', 'bar', 'SourceMeter_0');
    // c1's lease ends: what only it held goes; SourceMeter_0 stays for c2.
    bridge.dropConsumer('c1');
    await expect.poll(() => sim.subscriptions()).toEqual(['SourceMeter_0']);
    expect(processorStatus(bridge, 'bar').subscriptions.map((s) => [s.param, s.consumers])).toEqual([['SourceMeter_0', 1]]);

    bridge.unsubscribe('c2', 'bar', 'SourceMeter_0');
    await expect.poll(() => sim.subscriptions()).toEqual([]);
    expect(processorStatus(bridge, 'bar').subscriptions).toEqual([]);
  });

  it('when the meter port is taken, says who holds it, keeps the TCP side working, and binds once it is free', async () => {
    const holder = await bindExclusive('127.0.0.1', 0);
    const port = holder.address().port;
    const { bridge, count, logs } = await bridgeOnLoopback({ meterPort: port });
    // The meter socket is bound with the first processor.
    expect(bridge.status()).toBeNull();
    const sim = await simulator('127.0.0.2', port);
    await bridge.addProcessor({ id: 'bar', host: '127.0.0.2', tcpPort: sim.tcpPort });
    const meterSocket = statusOf(bridge).meterSocket;
    expect(meterSocket).toMatchObject({ bound: false, port, holders: [expect.objectContaining({ pid: process.pid })] });
    expect(meterSocket.error).toContain(`is already in use by PID ${process.pid}`);
    expect(logs.find((line) => line.msg.startsWith('atlas: meters are off'))).toMatchObject({ port });

    // Gains come back on TCP: the session works without the meter socket.
    bridge.subscribe('c1', 'bar', 'ZoneGain_0');
    bridge.subscribe('c1', 'bar', 'ZoneMeter_0');
    await expect.poll(() => count('bar', 'ZoneGain_0')).toBe(1);
    expect(processorStatus(bridge, 'bar').state).toBe('connected');
    expect(count('bar', 'ZoneMeter_0')).toBe(0);

    await closeSocket(holder);
    await expect.poll(() => statusOf(bridge).meterSocket.bound).toBe(true);
    await expect.poll(() => count('bar', 'ZoneMeter_0')).toBeGreaterThan(0);
    // Said once, not at every retry.
    expect(logs.filter((line) => line.msg.startsWith('atlas: meters are off'))).toHaveLength(1);
  });

  it('refuses duplicate processors, hosts that are not IPv4 addresses, and unknown processors', async () => {
    const { bridge } = await bridgeOnLoopback();
    await bridge.addProcessor({ id: 'bar', host: '127.0.0.2', tcpPort: 1 });
    await expect(bridge.addProcessor({ id: 'bar', host: '127.0.0.3', tcpPort: 1 })).rejects.toThrow('already exists');
    await expect(bridge.addProcessor({ id: 'lobby', host: '127.0.0.2', tcpPort: 1 })).rejects.toThrow('already processor "bar"');
    await expect(bridge.addProcessor({ id: 'patio', host: 'atlas.local', tcpPort: 1 })).rejects.toThrow('not an IPv4 address');
    await expect(bridge.addProcessor({ id: 'patio', host: '127.0.0.4', tcpPort: 70_000 })).rejects.toThrow('bad TCP port 70000');
    expect(() => bridge.subscribe('c1', 'nowhere', 'SourceMeter_0')).toThrow('no Atlas processor "nowhere"');
    await bridge.removeProcessor('bar');
    expect(statusOf(bridge).processors).toEqual([]);
    await bridge.addProcessor({ id: 'lobby', host: '127.0.0.2', tcpPort: 1 });
  });
});

describe('guards against a device, or something at its address', () => {
  /** UDP from the processor's own address, as the device sends. */
  async function fromDevice(host: string) {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, host, resolve));
    cleanups.push(() => closeSocket(socket));
    return (text: string, port: number) => new Promise<void>((resolve) => socket.send(text, port, '127.0.0.1', () => resolve()));
  }

  const update = (param: string, value: string) => `{"jsonrpc":"2.0","method":"update","params":{"param":"${param}","val":${value}}}\n`;

  it('a meter value past its range is clamped, one no float32 holds is dropped: nothing non-finite goes on', async () => {
    const { bridge, readings, meterPort } = await bridgeOnLoopback();
    await bridge.addProcessor({ id: 'bar', host: '127.0.0.5', tcpPort: 1 });
    bridge.subscribe('c1', 'bar', 'ZoneMeter_0');
    bridge.subscribe('c1', 'bar', 'ZoneGain_0');
    const send = await fromDevice('127.0.0.5');
    await send(update('ZoneMeter_0', '1e39') + update('ZoneMeter_0', '-1e308') + update('ZoneMeter_0', '12') + update('ZoneGain_0', '1e39') + update('ZoneMeter_0', '-42.5'), meterPort);
    await expect.poll(() => readings.length).toBe(4);
    expect(readings.map((r) => r.value)).toEqual([0, -80, 0, -42.5]);
    expect(statusOf(bridge).counters).toMatchObject({ outOfRange: 4, updates: 4 });
  });

  it('a packed datagram is read to 64 objects, and a processor gives 5,000 updates a second at most: the rest is dropped and counted', async () => {
    // Time stands still: every datagram lands in the same second, however long the sending takes.
    const { bridge, count, meterPort } = await bridgeOnLoopback({}, new SimulatedClock());
    await bridge.addProcessor({ id: 'bar', host: '127.0.0.6', tcpPort: 1 });
    bridge.subscribe('c1', 'bar', 'ZoneMeter_0');
    const send = await fromDevice('127.0.0.6');
    // As many objects as a datagram holds (the adversarial run packed 1,226 shorter ones).
    await send(update('ZoneMeter_0', '-10').repeat(800), meterPort);
    await expect.poll(() => statusOf(bridge).counters.droppedLines).toBe(800 - 64);
    expect(count('bar')).toBe(64);
    // 100 datagrams of 64 updates in one second, ten at a time so that none is lost at the socket: 5,000 are taken.
    const packed = update('ZoneMeter_0', '-20').repeat(64);
    for (let tens = 1; tens <= 10; tens++) {
      for (let n = 0; n < 10; n++) await send(packed, meterPort);
      await expect.poll(() => statusOf(bridge).counters.datagrams).toBe(1 + tens * 10);
    }
    expect(statusOf(bridge).counters).toMatchObject({ updates: 5000, droppedUpdates: 64 + 6400 - 5000 });
  });

  /** A TCP server at the device's address; its connections are ended with it. */
  async function device(host: string, onConnection: (socket: net.Socket) => void): Promise<number> {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      onConnection(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, host, resolve));
    cleanups.push(() => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });
    return (server.address() as net.AddressInfo).port;
  }

  it('a device that answers and then resets is reconnected on a growing backoff, and says "connected" at a bounded rate', async () => {
    const tcpPort = await device('127.0.0.7', (socket) => {
      socket.once('data', () => {
        socket.write('{"jsonrpc":"2.0","method":"getResp","params":[{"param":"KeepAlive","str":"OK"}]}\n');
        setImmediate(() => socket.resetAndDestroy());
      });
    });
    const { bridge, logs } = await bridgeOnLoopback({ reconnectMs: 20, reconnectMaxMs: 400 });
    await bridge.addProcessor({ id: 'flaky', host: '127.0.0.7', tcpPort });
    await expect.poll(() => processorStatus(bridge, 'flaky').connects, { timeout: 5000 }).toBeGreaterThanOrEqual(6);
    // 20 ms doubling to 400: six connects take at least 20 + 40 + 80 + 160 + 320 ms, where a reset backoff would take 5 x 20.
    expect(logs.filter((line) => line.msg === 'atlas: connected')).toHaveLength(1);
  });

  it('a device that reads nothing on TCP (its keep-alives answered over UDP) has its link dropped past maxUnansweredBytes', async () => {
    const tcpPort = await device('127.0.0.8', (socket) => socket.pause());
    const { bridge, meterPort } = await bridgeOnLoopback({ keepaliveMs: 20, keepaliveTimeoutMs: 1000, maxUnansweredBytes: 1024 });
    await bridge.addProcessor({ id: 'deaf', host: '127.0.0.8', tcpPort });
    const send = await fromDevice('127.0.0.8');
    const answers = setInterval(() => void send('{"jsonrpc":"2.0","method":"getResp","params":[{"param":"KeepAlive","str":"OK"}]}\n', meterPort), 10);
    cleanups.push(() => clearInterval(answers));
    await expect.poll(() => processorStatus(bridge, 'deaf').lastDown, { timeout: 5000 }).toMatch(/^the device reads nothing: \d+ bytes sent with no answer$/);
  });
});
