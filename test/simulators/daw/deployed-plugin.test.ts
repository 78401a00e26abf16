import dgram from 'node:dgram';
import { once } from 'node:events';
import osc from 'osc/src/osc.js';
import { afterEach, describe, expect, it } from 'vitest';
import { DeployedPlugin, type DeployedPluginOptions } from '../../../src/simulators/daw/deployed-plugin.js';
import { createProgress } from '../../../src/simulators/daw/progress.js';
import { formatSummary, percentile, runSimulation } from '../../../src/simulators/daw/run.js';

const HOST = '127.0.0.1';
const WAIT_MS = 5000;

interface Arg {
  type: string;
  value: unknown;
}

interface Received {
  address: string;
  tags: string;
  values: unknown[];
  /** Source port of the datagram. */
  from: number;
  raw: Buffer;
}

const s = (value: string): Arg => ({ type: 's', value });
const i = (value: number): Arg => ({ type: 'i', value });
const f = (value: number): Arg => ({ type: 'f', value });

/** A raw dgram socket with osc.js's type-faithful codec, so tests see the exact type tags a plugin sent. */
class FakeCoordinator {
  private readonly inbox: Received[] = [];
  private readonly waiters: Array<{ address: string; resolve: (message: Received) => void }> = [];
  onMessage: ((message: Received) => void) | undefined;

  private constructor(private readonly socket: dgram.Socket) {
    socket.on('message', (raw, rinfo) => {
      const decoded = osc.readMessage(raw, { metadata: true }, { idx: 0 });
      const message: Received = {
        address: decoded.address,
        tags: decoded.args.map((arg) => arg.type).join(''),
        values: decoded.args.map((arg) => arg.value),
        from: rinfo.port,
        raw,
      };
      this.onMessage?.(message);
      const waiter = this.waiters.findIndex((w) => w.address === message.address);
      if (waiter >= 0) this.waiters.splice(waiter, 1)[0]!.resolve(message);
      else this.inbox.push(message);
    });
  }

  static async create(): Promise<FakeCoordinator> {
    const socket = dgram.createSocket('udp4');
    socket.bind(0, HOST);
    await once(socket, 'listening');
    return new FakeCoordinator(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  next(address: string): Promise<Received> {
    const queued = this.inbox.findIndex((message) => message.address === address);
    if (queued >= 0) return Promise.resolve(this.inbox.splice(queued, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter = {
        address,
        resolve: (message: Received) => {
          clearTimeout(timer);
          resolve(message);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no ${address} within ${WAIT_MS} ms`));
      }, WAIT_MS);
      this.waiters.push(waiter);
    });
  }

  queued(address: string): Received[] {
    return this.inbox.filter((message) => message.address === address);
  }

  send(port: number, address: string, ...args: Arg[]): void {
    this.socket.send(osc.writeMessage({ address, args }, { metadata: true }), port, HOST);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** Distinct free UDP ports: all held at once while reading them, then released. */
async function freePorts(count: number): Promise<number[]> {
  const sockets = await Promise.all(
    Array.from({ length: count }, async () => {
      const socket = dgram.createSocket('udp4');
      socket.bind(0, '0.0.0.0');
      await once(socket, 'listening');
      return socket;
    }),
  );
  const ports = sockets.map((socket) => socket.address().port);
  await Promise.all(sockets.map((socket) => new Promise<void>((resolve) => socket.close(() => resolve()))));
  return ports;
}

async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

function tryBind(port: number, reuseAddr: boolean): Promise<dgram.Socket | undefined> {
  const socket = dgram.createSocket({ type: 'udp4', reuseAddr });
  return new Promise((resolve) => {
    socket.once('error', () => socket.close(() => resolve(undefined)));
    socket.bind(port, '0.0.0.0', () => resolve(socket));
  });
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function coordinator(): Promise<FakeCoordinator> {
  const fake = await FakeCoordinator.create();
  cleanups.push(() => fake.close());
  return fake;
}

async function startPlugin(
  fake: FakeCoordinator,
  options: Partial<DeployedPluginOptions> & { tempId: string; responsePort: number },
): Promise<DeployedPlugin> {
  const plugin = new DeployedPlugin({
    coordinator: { host: HOST, port: fake.port },
    juceBug: true,
    bindDelayMs: 0,
    ...options,
  });
  cleanups.push(() => plugin.close());
  await plugin.start();
  return plugin;
}

describe('DeployedPlugin', () => {
  it.each([
    { juceBug: true, rms: 0 },
    { juceBug: false, rms: 2 },
  ])('completes the handshake with exact wire types (juceBug=$juceBug, rms=$rms)', async ({ juceBug, rms }) => {
    const fake = await coordinator();
    const [responsePort, assigned] = (await freePorts(2)) as [number, number];
    const plugin = await startPlugin(fake, { tempId: 'track-1', responsePort, juceBug, rms });
    expect(plugin.responsePortBound).toBe(responsePort);

    plugin.sendRequest();
    const request = await fake.next('/aiplayer/request_port');
    expect(request.tags).toBe('sii');
    expect(request.values).toEqual(['track-1', -1, responsePort]);
    expect(plugin.requestSentAt).toBeTypeOf('number');

    fake.send(responsePort, '/aiplayer/port_assignment', s('track-1'), i(assigned), s('assigned'));
    const confirmation = await fake.next('/aiplayer/port_confirmed');
    expect(confirmation.tags).toBe('sis');
    expect(confirmation.values).toEqual(['track-1', assigned, 'bound']);
    expect(plugin.port).toBe(assigned);
    expect(plugin.verified).toBe(false);

    const verified = plugin.whenVerified();
    fake.send(assigned, '/aiplayer/query_rms', s('nonce-42'));
    const answer = await fake.next('/aiplayer/rms_response');
    expect(answer.tags).toBe('ssf');
    expect(answer.values).toEqual(['nonce-42', 'track-1', rms]);
    // A whole-number rms still travels as a float32: type tag `f` and IEEE bytes, never an int.
    expect(answer.raw.includes(Buffer.from(',ssf\0'))).toBe(true);
    expect(answer.raw.readFloatBE(answer.raw.length - 4)).toBe(rms);
    expect(answer.from).not.toBe(assigned);
    expect(answer.from).toBe(request.from);

    await expect(verified).resolves.toBe(assigned);
    expect(plugin.verified).toBe(true);
    expect(plugin.verifiedAt).toBeGreaterThanOrEqual(plugin.requestSentAt!);
  });

  it('answers query_rms on its response port before it has a port (REFERENCE §1), without counting as verified', async () => {
    const fake = await coordinator();
    const [shared] = (await freePorts(1)) as [number];
    await startPlugin(fake, { tempId: 'older', responsePort: shared });
    const newest = await startPlugin(fake, { tempId: 'newest', responsePort: shared });
    fake.send(shared, '/aiplayer/query_rms', s('sweep-1'));
    const answer = await fake.next('/aiplayer/rms_response');
    // Only the newest socket on a shared port hears it, and it names itself.
    expect(answer.values).toEqual(['sweep-1', 'newest', 0]);
    expect(newest.verified).toBe(false);
  });

  it('lets only the newest of instances sharing a port hear assignments sent to it at once', async () => {
    const fake = await coordinator();
    const [shared, ...ports] = (await freePorts(6)) as [number, number, number, number, number, number];
    const oldest = await startPlugin(fake, { tempId: 'oldest', responsePort: shared });
    const middle = await startPlugin(fake, { tempId: 'middle', responsePort: shared });
    const newest = await startPlugin(fake, { tempId: 'newest', responsePort: shared });
    for (const plugin of [oldest, middle, newest]) expect(plugin.responsePortBound).toBe(shared);

    fake.send(shared, '/aiplayer/port_assignment', s('oldest'), i(ports[0]!), s('assigned'));
    fake.send(shared, '/aiplayer/port_assignment', s('middle'), i(ports[1]!), s('assigned'));
    fake.send(shared, '/aiplayer/port_assignment', s('newest'), i(ports[2]!), s('assigned'));
    expect((await fake.next('/aiplayer/port_confirmed')).values).toEqual(['newest', ports[0], 'bound']);

    // Had an older instance taken one of the three, its response receiver would be closed and it could
    // not take a later one. Each taking the next assignment shows the other two datagrams were lost.
    fake.send(shared, '/aiplayer/port_assignment', s('any'), i(ports[3]!), s('assigned'));
    expect((await fake.next('/aiplayer/port_confirmed')).values).toEqual(['middle', ports[3], 'bound']);
    fake.send(shared, '/aiplayer/port_assignment', s('any'), i(ports[4]!), s('assigned'));
    expect((await fake.next('/aiplayer/port_confirmed')).values).toEqual(['oldest', ports[4], 'bound']);

    expect(fake.queued('/aiplayer/port_confirmed')).toEqual([]);
    expect([newest.port, middle.port, oldest.port]).toEqual([ports[0], ports[3], ports[4]]);
  });

  it('ignores an assignment that is not exactly ,sis', async () => {
    const fake = await coordinator();
    const [responsePort, wrongCount, wrongType, good] = (await freePorts(4)) as [number, number, number, number];
    const plugin = await startPlugin(fake, { tempId: 'track-2', responsePort });

    fake.send(responsePort, '/aiplayer/port_assignment', s('track-2'), i(wrongCount), s('assigned'), s('extra'));
    fake.send(responsePort, '/aiplayer/port_assignment', s('track-2'), f(wrongType), s('assigned'));
    fake.send(responsePort, '/aiplayer/port_assignment', s('track-2'), i(good), s('assigned'));

    // Taking either bad one would have closed the response receiver before the good one arrived.
    expect((await fake.next('/aiplayer/port_confirmed')).values).toEqual(['track-2', good, 'bound']);
    expect(plugin.port).toBe(good);
  });

  it('takes an assignment naming another tempID and confirms with its own', async () => {
    const fake = await coordinator();
    const [responsePort, assigned] = (await freePorts(2)) as [number, number];
    const plugin = await startPlugin(fake, { tempId: 'mine', responsePort });

    fake.send(responsePort, '/aiplayer/port_assignment', s('someone-else'), i(assigned), s('assigned'));
    const confirmation = await fake.next('/aiplayer/port_confirmed');
    expect(confirmation.values).toEqual(['mine', assigned, 'bound']);
    expect(plugin.port).toBe(assigned);
  });

  it('remembers an "error" status and keeps listening', async () => {
    const fake = await coordinator();
    const [responsePort, assigned] = (await freePorts(2)) as [number, number];
    const plugin = await startPlugin(fake, { tempId: 'track-3', responsePort });

    const errorStatus = once(plugin, 'error-status');
    fake.send(responsePort, '/aiplayer/port_assignment', s('track-3'), i(-1), s('error'));
    expect(await errorStatus).toEqual(['error']);
    expect(plugin.errorStatus).toBe('error');
    expect(plugin.port).toBeUndefined();

    fake.send(responsePort, '/aiplayer/port_assignment', s('track-3'), i(assigned), s('assigned'));
    expect((await fake.next('/aiplayer/port_confirmed')).values).toEqual(['track-3', assigned, 'bound']);
  });

  it('confirms "failed" when the assigned port is held exclusively', async () => {
    const fake = await coordinator();
    const [responsePort, held] = (await freePorts(2)) as [number, number];
    const holder = await tryBind(held, false);
    cleanups.push(() => new Promise((resolve) => holder!.close(() => resolve())));
    const plugin = await startPlugin(fake, { tempId: 'track-4', responsePort });

    const bindFailed = once(plugin, 'bind-failed');
    fake.send(responsePort, '/aiplayer/port_assignment', s('track-4'), i(held), s('assigned'));
    expect((await fake.next('/aiplayer/port_confirmed')).values).toEqual(['track-4', held, 'failed']);
    expect(await bindFailed).toEqual([held]);
    expect(plugin.bindFailed).toBe(true);
    expect(plugin.port).toBeUndefined();
  });

  it('without the bug, scans past a response port a JUCE instance already holds', async () => {
    const fake = await coordinator();
    let base: number | undefined;
    for (let attempt = 0; attempt < 20 && base === undefined; attempt++) {
      const next = await freePort();
      const blocker = await tryBind(next - 100, true);
      if (!blocker) continue;
      cleanups.push(() => new Promise((resolve) => blocker.close(() => resolve())));
      base = next - 100;
    }
    expect(base).toBeDefined();

    const plugin = await startPlugin(fake, { tempId: 'fixed', responsePort: base!, juceBug: false });
    expect(plugin.responsePortBound).toBe(base! + 100);
  });

  it('close() is idempotent and rejects a pending whenVerified()', async () => {
    const fake = await coordinator();
    const plugin = await startPlugin(fake, { tempId: 'track-5', responsePort: await freePort() });
    const verified = plugin.whenVerified();
    await Promise.all([plugin.close(), plugin.close()]);
    await expect(verified).rejects.toThrow(/closed before it was verified/);
  });
});

describe('percentile', () => {
  const tenValues = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

  it('uses the nearest rank', () => {
    expect(percentile([], 50)).toBeNull();
    expect(percentile([7], 0)).toBe(7);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile(tenValues, 0)).toBe(1);
    expect(percentile(tenValues, 50)).toBe(5);
    expect(percentile(tenValues, 51)).toBe(6);
    expect(percentile(tenValues, 99)).toBe(10);
    expect(percentile(tenValues, 100)).toBe(10);
    expect(percentile([1, 2, 3, 4], 25)).toBe(1);
    expect(percentile([1, 2, 3, 4], 75)).toBe(3);
  });

  it('is exact for whole percentiles where p/100 * n is not', () => {
    const hundred = Array.from({ length: 100 }, (_, index) => index + 1);
    expect(percentile(hundred, 57)).toBe(57);
    expect(percentile(hundred, 29)).toBe(29);
  });

  it('rejects p outside 0..100', () => {
    expect(() => percentile(tenValues, -1)).toThrow(RangeError);
    expect(() => percentile(tenValues, 101)).toThrow(RangeError);
    expect(() => percentile(tenValues, Number.NaN)).toThrow(RangeError);
  });
});

describe('createProgress', () => {
  it('draws nothing when the stream is not a terminal', () => {
    const chunks: string[] = [];
    const progress = createProgress(64, { isTTY: false, write: (chunk: string) => chunks.push(chunk) });
    progress.update(12, 0);
    progress.finish();
    expect(chunks).toEqual([]);
  });

  it('redraws in place at most every 100 ms and draws the final state on finish', () => {
    const chunks: string[] = [];
    const progress = createProgress(64, { isTTY: true, write: (chunk: string) => chunks.push(chunk) });
    progress.update(12, 0);
    progress.update(13, 1);
    progress.finish();
    expect(chunks).toEqual([
      '\r[####----------------]  12/64 bound  0 failed',
      '\r[####----------------]  13/64 bound  1 failed',
      '\n',
    ]);
  });
});

describe('runSimulation', () => {
  /** Serves one request at a time per response port, as instances sharing a port require, then probes. */
  async function servingCoordinator(pool: number[]): Promise<FakeCoordinator> {
    const fake = await coordinator();
    const waiting = new Map<number, string[]>();
    const busy = new Set<number>();
    const responsePortOf = new Map<string, number>();
    const serve = (responsePort: number) => {
      const tempId = waiting.get(responsePort)?.shift();
      if (tempId === undefined) return;
      busy.add(responsePort);
      fake.send(responsePort, '/aiplayer/port_assignment', s(tempId), i(pool.shift()!), s('assigned'));
    };
    fake.onMessage = (message) => {
      if (message.address === '/aiplayer/request_port') {
        const [tempId, , responsePort] = message.values as [string, number, number];
        responsePortOf.set(tempId, responsePort);
        waiting.set(responsePort, [...(waiting.get(responsePort) ?? []), tempId]);
        if (!busy.has(responsePort)) serve(responsePort);
      } else if (message.address === '/aiplayer/port_confirmed') {
        const [tempId, port] = message.values as [string, number];
        const responsePort = responsePortOf.get(tempId)!;
        busy.delete(responsePort);
        fake.send(port, '/aiplayer/query_rms', s(`probe-${port}`));
        serve(responsePort);
      }
    };
    return fake;
  }

  it('binds and verifies every instance, buggy ones included', async () => {
    const fake = await servingCoordinator(await freePorts(6));
    const progress: Array<[number, number, number]> = [];
    const summary = await runSimulation({
      plugins: 6,
      coordinator: { host: HOST, port: fake.port },
      juceBugRate: 0.5,
      responsePort: await freePort(),
      bindDelayMs: 0,
      timeoutMs: WAIT_MS,
      onProgress: (verified, failed, total) => progress.push([verified, failed, total]),
    });
    expect(summary).toMatchObject({ plugins: 6, buggy: 3, bound: 6, failed: 0, distinctPorts: true });
    expect(summary.timeToAllBoundMs).toBeTypeOf('number');
    expect(summary.handshakeP50Ms!).toBeLessThanOrEqual(summary.handshakeP99Ms!);
    expect(progress.at(-1)).toEqual([6, 0, 6]);
    expect(formatSummary(summary)).toMatch(/^bound +6$/m);
  });

  it('releases every instance that asked on its way out, after holding them, as plugins that exit cleanly', async () => {
    const fake = await servingCoordinator(await freePorts(4));
    const tempIds = Array.from({ length: 4 }, (_, n) => `sim-${process.pid}-${n}`);
    let heldBound = 0;
    const summary = await runSimulation({
      plugins: 4,
      coordinator: { host: HOST, port: fake.port },
      juceBugRate: 0.5,
      responsePort: await freePort(),
      bindDelayMs: 0,
      timeoutMs: WAIT_MS,
      hold: async (held) => {
        heldBound = held.bound;
        expect(fake.queued('/aiplayer/release')).toEqual([]);
      },
    });
    expect(summary.bound).toBe(4);
    expect(heldBound).toBe(4);
    const released = await Promise.all(tempIds.map(() => fake.next('/aiplayer/release')));
    expect(released.map((message) => [message.tags, message.values[0]]).sort()).toEqual(tempIds.map((tempId) => ['s', tempId]));
  });

  it('reports every instance failed when nothing answers before the timeout', async () => {
    const silent = await coordinator();
    const summary = await runSimulation({
      plugins: 3,
      coordinator: { host: HOST, port: silent.port },
      juceBugRate: 1,
      responsePort: await freePort(),
      timeoutMs: 100,
    });
    expect(summary).toMatchObject({ plugins: 3, buggy: 3, bound: 0, failed: 3, timeToAllBoundMs: null });
    // They asked, so they release: a coordinator that heard them late must not keep their leases.
    expect((await Promise.all([0, 1, 2].map(() => silent.next('/aiplayer/release')))).map((m) => m.values[0]).sort()).toEqual(
      [0, 1, 2].map((n) => `sim-${process.pid}-${n}`),
    );
    expect(summary.handshakeP50Ms).toBeNull();
    expect(formatSummary(summary)).toMatch(/^handshake p50 +n\/a$/m);
  });
});
