import dgram from 'node:dgram';
import { Writable } from 'node:stream';
import { Command, CommanderError } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { registerAdminCommands, type AdminIo } from '../../src/cli/lease-commands.js';
import { CoordinatorClient, type LeaseView } from '../../src/cli/coordinator-client.js';
import { decodeDatagram, encodeMessage } from '../../src/osc/codec.js';
import { Peer, s } from '../helpers/peer.js';
import { freeUdpPort } from '../helpers/ports.js';

type Respond = (body: Record<string, unknown>, requestId?: string) => void;
type Handler = (args: unknown[], respond: Respond) => void;

interface Request {
  address: string;
  requestId: string;
  args: unknown[];
  /** performance.now() when it arrived. */
  at: number;
}

/** Answers the admin protocol from canned data; every request it receives is kept, dropped ones too. */
class FakeCoordinator {
  readonly requests: Request[] = [];
  private dropped = 0;
  private readonly waiters: Array<{ met: () => boolean; resolve: () => void }> = [];

  private constructor(
    private readonly socket: dgram.Socket,
    private readonly handlers: Record<string, Handler>,
    private readonly drop: number,
  ) {
    socket.on('message', (data, from) => {
      const decoded = decodeDatagram(data);
      if (!decoded.ok) return;
      for (const message of decoded.messages) {
        const [requestId, ...args] = message.args.map((a) => a.value);
        this.requests.push({ address: message.address, requestId: requestId as string, args, at: performance.now() });
        for (const waiter of this.waiters.filter((w) => w.met())) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
        if (this.dropped < this.drop) {
          this.dropped++;
          continue;
        }
        const handler = this.handlers[message.address.replace('/coordinator/', '')];
        handler?.(args, (body, id = requestId as string) => {
          const reply = encodeMessage({
            address: '/coordinator/reply',
            args: [
              { type: 's', value: id },
              { type: 's', value: JSON.stringify(body) },
            ],
          });
          socket.send(reply, from.port, from.address);
        });
      }
    });
  }

  static async start(handlers: Record<string, Handler>, options: { drop?: number } = {}): Promise<FakeCoordinator> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const fake = new FakeCoordinator(socket, handlers, options.drop ?? 0);
    fakes.push(fake);
    return fake;
  }

  get address(): string {
    return `127.0.0.1:${this.socket.address().port}`;
  }

  /** Resolves once what it has received meets `met`. */
  received(met: (requests: readonly Request[]) => boolean): Promise<void> {
    if (met(this.requests)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ met: () => met(this.requests), resolve }));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

const STATES = ['requesting', 'assigned', 'verifying', 'bound'] as const;

/** 120 leases on ports 9002-9121, ordered by port as the coordinator sends them. */
const LEASES: LeaseView[] = Array.from({ length: 120 }, (_, n) => {
  const bound = n % 4 === 3;
  return {
    tempId: `plugin-${String(n).padStart(3, '0')}`,
    port: 9002 + n,
    state: STATES[n % 4]!,
    trackId: n % 2 === 0 ? null : `TR${n}`,
    ageMs: n * 1500,
    lastSeenMs: bound ? n * 10 : null,
    rttMs: bound ? 0.25 + n / 100 : null,
    endpoint: '127.0.0.1:50000',
  };
});

const MAX_PAGE = 50;

/** `/coordinator/leases ,siss id limit state after` as specified, pages capped at `pageCap` (the coordinator may send fewer than asked). */
function leasesHandler(pageCap = MAX_PAGE): Handler {
  return ([limit, state, after], respond) => {
    const matching = state === '' ? LEASES : LEASES.filter((lease) => lease.state === state);
    const start = after === '' ? 0 : matching.findIndex((lease) => `${lease.port}/${lease.tempId}` === after) + 1;
    const page = matching.slice(start, start + Math.min(limit as number, MAX_PAGE, pageCap));
    const last = page.at(-1);
    const next = last && start + page.length < matching.length ? `${last.port}/${last.tempId}` : '';
    respond({ ok: true, total: matching.length, leases: page, next });
  };
}

const STATUS = {
  uptimeMs: 3_725_000,
  ports: { listening: [9001], unavailable: [{ port: 8999, reason: 'in use by PID 4242 (ChattyChannels)' }] },
  pool: { size: 1000, free: 970, quarantined: 2 },
  leases: { requesting: 30, assigned: 30, verifying: 30, bound: 30 },
  counters: { assignments: 140, confirmations: 120, probeFailures: 3, expiries: 4, steals: 1, malformed: 7, resends: 9 },
  dataDir: '/var/lib/oscport',
  controllers: ['127.0.0.1:40000'],
  atlas: null,
};

const findLease = (target: string) => LEASES.find((lease) => lease.tempId === target || String(lease.port) === target);

const HANDLERS: Record<string, Handler> = {
  status: (_args, respond) => respond({ ok: true, status: STATUS }),
  leases: leasesHandler(),
  lease: ([target], respond) => {
    const lease = findLease(target as string);
    respond(lease ? { ok: true, lease } : { ok: false, error: `no lease for ${target as string}` });
  },
  release: ([target], respond) => {
    const lease = findLease(target as string);
    respond(
      lease
        ? { ok: true, released: { tempId: lease.tempId, port: lease.port } }
        : { ok: false, error: `no lease for ${target as string}` },
    );
  },
  probe: ([port], respond) => {
    const lease = findLease(String(port));
    // The real probe takes a while; the client must wait for it.
    setTimeout(
      () =>
        respond(
          lease?.state === 'bound'
            ? { ok: true, port, answered: true, tempId: lease.tempId, rttMs: 0.8 }
            : { ok: true, port, answered: false, timeoutMs: 250 },
        ),
      150,
    );
  },
};

const fakes: FakeCoordinator[] = [];

class Collector extends Writable {
  text = '';
  constructor(readonly isTTY = false) {
    super();
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    this.emit('text');
    done();
  }

  /** Resolves once it holds `count` lines. */
  lines(count: number): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.text.split('\n').length - 1 < count) return;
        this.off('text', check);
        resolve();
      };
      this.on('text', check);
      check();
    });
  }
}

interface Run {
  stdout: string;
  stderr: string;
  exitCode: number | string | undefined;
  error: unknown;
  elapsedMs: number;
}

/** Runs `oscport …args` in-process, as cli.ts would with these commands registered. */
async function oscport(args: string[], options: Partial<Omit<AdminIo, 'stderr'>> & { tty?: boolean; stderr?: Collector } = {}): Promise<Run> {
  const stdout = new Collector(options.tty);
  const stderr = options.stderr ?? new Collector();
  const program = new Command('oscport').exitOverride();
  registerAdminCommands(program, { timeoutMs: 100, probeTimeoutMs: 1000, ...options, stdout, stderr });
  const started = Date.now();
  let error: unknown;
  try {
    await program.parseAsync(['node', 'oscport', ...args]);
  } catch (err) {
    error = err;
  }
  return { stdout: stdout.text, stderr: stderr.text, exitCode: process.exitCode, error, elapsedMs: Date.now() - started };
}

function expectUsageError(run: Run, pattern: RegExp): void {
  expect(run.error).toBeInstanceOf(CommanderError);
  expect((run.error as CommanderError).code).not.toBe('commander.executeSubCommandAsync');
  expect(run.stderr).toMatch(pattern);
  expect(run.stdout).toBe('');
}

beforeEach(() => {
  process.exitCode = undefined;
});

afterEach(async () => {
  process.exitCode = undefined;
  await Promise.all(fakes.splice(0).map((fake) => fake.close()));
});

describe('oscport leases', () => {
  it('pages through all 120 leases, 50 at a time, and prints them in order', async () => {
    const fake = await FakeCoordinator.start(HANDLERS);
    const run = await oscport(['leases', '-c', fake.address]);
    expect(run.error).toBeUndefined();
    expect(run.exitCode).toBeUndefined();
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TEMPID\s+PORT\s+STATE\s+TRACK\s+AGE\s+LAST SEEN\s+RTT$/);
    expect(lines.slice(1).map((line) => line.split(/\s+/)[0])).toEqual(LEASES.map((lease) => lease.tempId));
    expect(fake.requests.map((r) => r.args)).toEqual([
      [50, '', ''],
      [50, '', `${LEASES[49]!.port}/${LEASES[49]!.tempId}`],
      [50, '', `${LEASES[99]!.port}/${LEASES[99]!.tempId}`],
    ]);
    expect(new Set(fake.requests.map((r) => r.requestId)).size).toBe(3);
  });

  it('--json prints every lease as a JSON array, even when pages come back short', async () => {
    const fake = await FakeCoordinator.start({ leases: leasesHandler(7) });
    const run = await oscport(['leases', '--json', '--coordinator', fake.address]);
    expect(run.error).toBeUndefined();
    expect(JSON.parse(run.stdout)).toEqual(LEASES);
    expect(fake.requests).toHaveLength(18);
  });

  it('stops at an empty page even if it was promised a next one', async () => {
    const fake = await FakeCoordinator.start({
      leases: ([, , after], respond) => {
        const start = after === '' ? 0 : Number((after as string).split('/')[0]) - 9002 + 1;
        respond({ ok: true, total: 500, leases: LEASES.slice(start, start + 50), next: 'more/please' });
      },
    });
    const run = await oscport(['leases', '--json', '-c', fake.address]);
    expect(JSON.parse(run.stdout)).toHaveLength(50);
    expect(fake.requests).toHaveLength(2);
  });

  it('--state is passed to the coordinator', async () => {
    const fake = await FakeCoordinator.start(HANDLERS);
    const run = await oscport(['leases', '--state', 'bound', '--json', '-c', fake.address]);
    const leases = JSON.parse(run.stdout) as LeaseView[];
    expect(leases).toHaveLength(30);
    expect(leases.every((lease) => lease.state === 'bound')).toBe(true);
    expect(fake.requests.map((r) => r.args[1])).toEqual(['bound']);
  });

  it('rejects an unknown --state or a bad --coordinator as usage errors, before sending anything', async () => {
    const fake = await FakeCoordinator.start(HANDLERS);
    expectUsageError(await oscport(['leases', '--state', 'held', '-c', fake.address]), /--state.*held.*requesting, assigned, verifying, bound/);
    expectUsageError(await oscport(['leases', '-c', 'localhost']), /--coordinator.*"localhost" is not HOST:PORT/);
    expectUsageError(await oscport(['leases', '-c', '127.0.0.1:70000']), /--coordinator.*70000 is outside 1-65535/);
    expect(fake.requests).toEqual([]);
  });

  it('--watch redraws until interrupted, snapshots separated by a blank line when not on a TTY', async () => {
    const fake = await FakeCoordinator.start({ leases: (_args, respond) => respond({ ok: true, total: 2, leases: LEASES.slice(0, 2), next: '' }) });
    const interrupt = new AbortController();
    const pending = oscport(['leases', '--watch', '-c', fake.address], { watchIntervalMs: 30, interrupt: interrupt.signal });
    // A fourth request ID proves three draws (IDs, not datagrams: a slow reply makes the client send the same request again).
    await fake.received((requests) => new Set(requests.map((r) => r.requestId)).size >= 4);
    interrupt.abort();
    const run = await pending;
    expect(run.error).toBeUndefined();
    expect(run.exitCode).toBeUndefined();
    const snapshots = run.stdout.trimEnd().split('\n\n');
    expect(snapshots.length).toBeGreaterThanOrEqual(3);
    for (const snapshot of snapshots) expect(snapshot).toBe(snapshots[0]);
    expect(snapshots[0]!.split('\n')).toHaveLength(3);
    expect(run.stdout).not.toContain('\x1b');
  });

  it('--watch clears the screen before each draw on a TTY, and --json prints one array per line', async () => {
    const fake = await FakeCoordinator.start({ leases: (_args, respond) => respond({ ok: true, total: 1, leases: LEASES.slice(0, 1), next: '' }) });
    const watchFor = async (args: string[], tty: boolean) => {
      const interrupt = new AbortController();
      const before = fake.requests.length;
      const pending = oscport(['leases', '--watch', ...args, '-c', fake.address], { watchIntervalMs: 20, interrupt: interrupt.signal, tty });
      // Each request goes out only after the previous draw: a fourth request ID proves three were drawn
      // (IDs, not datagrams: a slow reply makes the client send the same request again).
      await fake.received((requests) => new Set(requests.slice(before).map((r) => r.requestId)).size >= 4);
      interrupt.abort();
      return pending;
    };
    const table = await watchFor([], true);
    const draws = table.stdout.split('\x1b[H\x1b[2J');
    expect(draws[0]).toBe('');
    expect(draws.length).toBeGreaterThanOrEqual(4);
    expect(draws[1]).toMatch(/^TEMPID.*\nplugin-000 .*\n$/);

    const json = await watchFor(['--json'], true);
    expect(json.stdout).not.toContain('\x1b');
    const lines = json.stdout.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const line of lines) expect(JSON.parse(line)).toEqual(LEASES.slice(0, 1));
  });

  it('--watch keeps going while the coordinator is away, reporting it each time', async () => {
    const interrupt = new AbortController();
    const closedPort = await freeUdpPort();
    const stderr = new Collector();
    const pending = oscport(['leases', '--watch', '-c', `127.0.0.1:${closedPort}`], { timeoutMs: 10, watchIntervalMs: 10, interrupt: interrupt.signal, stderr });
    await stderr.lines(3);
    interrupt.abort();
    const run = await pending;
    expect(run.exitCode).toBeUndefined();
    expect(run.stderr.split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(2);
    expect(run.stderr).toMatch(/^(oscport: no coordinator answering on 127\.0\.0\.1:\d+\n)+$/);
  });
});

describe('oscport status', () => {
  it('prints a summary, or the status as JSON', async () => {
    const fake = await FakeCoordinator.start(HANDLERS);
    const text = await oscport(['status', '-c', fake.address]);
    expect(text.stdout).toContain('uptime    1h02m');
    expect(text.stdout).toContain('pool      1000 ports: 970 free, 2 quarantined');
    expect(text.stdout).toContain('ports     UDP 9001\n          8999 unavailable: in use by PID 4242 (ChattyChannels)\n');
    expect(text.stdout).toContain('resends');
    const json = await oscport(['status', '--json', '-c', fake.address]);
    expect(JSON.parse(json.stdout)).toEqual(STATUS);
  });
});

describe('oscport release', () => {
  it('releases by tempID or port, and fails with the coordinator\'s error otherwise', async () => {
    const fake = await FakeCoordinator.start(HANDLERS);
    expect((await oscport(['release', 'plugin-003', '-c', fake.address])).stdout).toBe('released plugin-003 (port 9005)\n');
    expect((await oscport(['release', '9010', '-c', fake.address])).stdout).toBe('released plugin-008 (port 9010)\n');
    expect(fake.requests.map((r) => r.args)).toEqual([['plugin-003'], ['9010']]);
    expect(process.exitCode).toBeUndefined();

    const missing = await oscport(['release', 'foo', '-c', fake.address]);
    expect(missing).toMatchObject({ stdout: '', stderr: 'oscport: no lease for foo\n', exitCode: 1, error: undefined });
  });
});

describe('oscport probe', () => {
  it('reports the instance that answered, waiting for the slow reply', async () => {
    const fake = await FakeCoordinator.start(HANDLERS);
    // 100 ms timeout: the 150 ms probe would be re-sent and lost if probes did not wait longer.
    const run = await oscport(['probe', '9005', '-c', fake.address], { timeoutMs: 100, probeTimeoutMs: 1000 });
    expect(run).toMatchObject({ stdout: 'port 9005: answered by plugin-003 in 0.8 ms\n', stderr: '', exitCode: undefined });
    expect(fake.requests.filter((r) => r.address === '/coordinator/probe').map((r) => r.args)).toEqual([[9005]]);
  });

  it('exits 1 when nothing answered the probe; --json prints the reply', async () => {
    const fake = await FakeCoordinator.start(HANDLERS);
    const text = await oscport(['probe', '9002', '-c', fake.address]);
    expect(text).toMatchObject({ stdout: 'port 9002: no answer within 250 ms\n', exitCode: 1 });
    process.exitCode = undefined;
    const json = await oscport(['probe', '9005', '--json', '-c', fake.address]);
    expect(JSON.parse(json.stdout)).toEqual({ ok: true, port: 9005, answered: true, tempId: 'plugin-003', rttMs: 0.8 });
    expect(json.exitCode).toBeUndefined();
  });

  it('--json says "ok": false when nothing answered, as the exit code does', async () => {
    const fake = await FakeCoordinator.start(HANDLERS);
    const json = await oscport(['probe', '9002', '--json', '-c', fake.address]);
    expect(JSON.parse(json.stdout)).toEqual({ ok: false, port: 9002, answered: false, timeoutMs: 250 });
    expect(json.exitCode).toBe(1);
  });

  it('rejects a port that is not one as a usage error', async () => {
    for (const port of ['0', '65536', 'abc', '-1']) expectUsageError(await oscport(['probe', '--', port]), /port/);
  });

  it('fails fast when no coordinator answers, without waiting out the probe timeout', async () => {
    const closedPort = await freeUdpPort();
    const run = await oscport(['probe', '9005', '-c', `127.0.0.1:${closedPort}`], { timeoutMs: 100, probeTimeoutMs: 5000 });
    expect(run).toMatchObject({ stderr: `oscport: no coordinator answering on 127.0.0.1:${closedPort}\n`, exitCode: 1 });
    expect(run.elapsedMs).toBeLessThan(1000);
  });
});

describe('oscport who', () => {
  let held: dgram.Socket | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (held ? held.close(() => resolve()) : resolve()));
    held = undefined;
  });

  async function holdPort(): Promise<number> {
    held = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => held!.bind(0, '127.0.0.1', resolve));
    return held.address().port;
  }

  it('names the local process holding the port and the lease on it', async () => {
    const port = await holdPort();
    const lease = { ...LEASES[3]!, port };
    const fake = await FakeCoordinator.start({
      lease: ([target], respond) => respond(target === String(port) ? { ok: true, lease } : { ok: false, error: `no lease for ${target as string}` }),
    });
    const run = await oscport(['who', String(port), '-c', fake.address]);
    expect(run.exitCode).toBeUndefined();
    expect(run.stdout).toContain(`UDP port ${port} is held by:\n  PID ${process.pid}  `);
    expect(run.stdout).toContain(`coordinator: port ${port} is leased to plugin-003 (bound)\n`);

    const json = JSON.parse((await oscport(['who', String(port), '--json', '-c', fake.address])).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ port, held: true, lease, leaseStale: false, coordinator: 'answered' });
    expect(json.holders).toContainEqual(expect.objectContaining({ pid: process.pid }));
  });

  it('calls a bound lease on a port nothing holds stale, instead of contradicting itself', async () => {
    const port = await freeUdpPort();
    const lease = { ...LEASES[3]!, port };
    const fake = await FakeCoordinator.start({ lease: (_args, respond) => respond({ ok: true, lease }) });
    const run = await oscport(['who', String(port), '-c', fake.address]);
    expect(run.stdout).toBe(
      `no local process holds UDP port ${port}\n` +
        `coordinator: port ${port} is leased to plugin-003, but the lease is stale: its plugin is gone or never bound the port; ` +
        'it expires after its liveness checks\n',
    );
    expect(run.exitCode).toBeUndefined();
    const json = JSON.parse((await oscport(['who', String(port), '--json', '-c', fake.address])).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ port, holders: [], held: false, lease, leaseStale: true });
  });

  it('says when the coordinator has no lease on the port', async () => {
    const fake = await FakeCoordinator.start(HANDLERS);
    const port = await freeUdpPort();
    const run = await oscport(['who', String(port), '-c', fake.address]);
    expect(run.stdout).toBe(`no local process holds UDP port ${port}\ncoordinator: no lease for ${port}\n`);
    expect(run.exitCode).toBeUndefined();
  });

  it('still answers locally, exit 0, when no coordinator answers', async () => {
    const port = await holdPort();
    const closedPort = await freeUdpPort();
    const run = await oscport(['who', String(port), '-c', `127.0.0.1:${closedPort}`]);
    expect(run.exitCode).toBeUndefined();
    expect(run.stdout).toContain(`PID ${process.pid}`);
    expect(run.stdout).toContain(`coordinator: no coordinator answering on 127.0.0.1:${closedPort}\n`);
    const json = JSON.parse((await oscport(['who', String(port), '--json', '-c', `127.0.0.1:${closedPort}`])).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ port, lease: null, coordinator: 'unavailable' });
  });
});

describe('talking to the coordinator', () => {
  it('tells at once that nobody holds the port, without waiting out the tries', async () => {
    const closedPort = await freeUdpPort();
    // A second between tries: waiting them out would take 7 s.
    const run = await oscport(['status', '-c', `127.0.0.1:${closedPort}`], { timeoutMs: 1000 });
    expect(run).toMatchObject({ stdout: '', stderr: `oscport: no coordinator answering on 127.0.0.1:${closedPort}\n`, exitCode: 1, error: undefined });
    expect(run.elapsedMs).toBeLessThan(500);
  });

  it('sends the same request three times to a coordinator that never answers, each wait twice the last, then exits 1', async () => {
    const fake = await FakeCoordinator.start({});
    const clock = new SimulatedClock();
    const statuses = () => fake.requests.filter((r) => r.address === '/coordinator/status');
    const sent = (count: number) => fake.received(() => statuses().length >= count);
    /** What the client sent so far: a send during `increment` leaves at once, so it reaches the fake before a marker sent after. */
    const sentSoFar = async () => {
      const marker = await Peer.bind();
      marker.send(Number(fake.address.split(':')[1]), '/coordinator/marker', s('marker'));
      await fake.received((requests) => requests.some((r) => r.address === '/coordinator/marker'));
      fake.requests.splice(fake.requests.findIndex((r) => r.address === '/coordinator/marker'), 1);
      await marker.close();
      return statuses().length;
    };
    let finished = false;
    const pending = oscport(['status', '-c', fake.address], { timeoutMs: 100, clock }).finally(() => (finished = true));
    await sent(1);
    // 100 ms, then 200, then 400: each time one more send, and none sooner.
    for (const [wait, count] of [[100, 2], [200, 3]] as const) {
      clock.increment(wait - 1);
      expect(await sentSoFar()).toBe(count - 1);
      clock.increment(1);
      await sent(count);
    }
    clock.increment(399);
    expect(await sentSoFar()).toBe(3);
    expect(finished).toBe(false);
    clock.increment(1);
    const run = await pending;
    expect(run).toMatchObject({ stdout: '', stderr: `oscport: no coordinator answering on ${fake.address}\n`, exitCode: 1, error: undefined });
    expect(statuses()).toHaveLength(3);
    expect(new Set(fake.requests.map((r) => r.requestId)).size).toBe(1);
    expect(fake.requests[0]!.requestId).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
  });

  it('re-sends a request that was lost, with the same requestId', async () => {
    const fake = await FakeCoordinator.start(HANDLERS, { drop: 1 });
    const run = await oscport(['release', 'plugin-000', '-c', fake.address], { timeoutMs: 100 });
    expect(run).toMatchObject({ stdout: 'released plugin-000 (port 9002)\n', exitCode: undefined });
    expect(fake.requests).toHaveLength(2);
    expect(fake.requests[1]!.requestId).toBe(fake.requests[0]!.requestId);
  });

  it('ignores a reply carrying another requestId', async () => {
    const fake = await FakeCoordinator.start({
      release: (_args, respond) => {
        respond({ ok: true, released: { tempId: 'impostor', port: 9999 } }, 'someone-else');
        setTimeout(() => respond({ ok: true, released: { tempId: 'plugin-000', port: 9002 } }), 20);
      },
    });
    const run = await oscport(['release', 'plugin-000', '-c', fake.address], { timeoutMs: 500 });
    expect(run.stdout).toBe('released plugin-000 (port 9002)\n');
    expect(fake.requests).toHaveLength(1);
  });

  it('rejects a malformed reply with a clear message, exit 1', async () => {
    const fake = await FakeCoordinator.start({ status: (_args, respond) => respond({ ok: true, status: { uptimeMs: 'long' } }) });
    const run = await oscport(['status', '-c', fake.address]);
    expect(run).toMatchObject({ stderr: 'oscport: malformed reply to /coordinator/status: "uptimeMs" is not a duration\n', exitCode: 1 });
  });

  it('CoordinatorClient.request resolves with the reply and rejects ok:false with the coordinator\'s text', async () => {
    const fake = await FakeCoordinator.start(HANDLERS);
    const [host, port] = fake.address.split(':');
    const client = await CoordinatorClient.open({ host: host!, port: Number(port) }, { timeoutMs: 100 });
    try {
      await expect(client.request('status')).resolves.toEqual({ ok: true, status: STATUS });
      await expect(client.request('lease', { type: 's', value: 'nope' })).rejects.toMatchObject({ name: 'AdminError', message: 'no lease for nope' });
    } finally {
      await client.close();
    }
  });
});
