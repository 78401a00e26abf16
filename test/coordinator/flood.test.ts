import { afterEach, describe, expect, it } from 'vitest';
import { requestPort, type SdkLease } from '../../src/sdk/request-port.js';
import { encodeMessage } from '../../src/osc/codec.js';
import { ADDRESS } from '../../src/osc/contract.js';
import { RANGES, testCoordinator } from '../helpers/coordinator.js';
import { collectLogs } from '../helpers/logs.js';
import { i, Peer, s, values } from '../helpers/peer.js';

const RANGE = RANGES.flood;
const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function peer(): Promise<Peer> {
  const p = await Peer.bind();
  closers.push(() => p.close());
  return p;
}

async function lease(tempId: string, port: number, timeoutMs = 5000): Promise<SdkLease> {
  const l = await requestPort({ tempId, coordinator: { host: '127.0.0.1', port }, timeoutMs });
  closers.push(() => l.release());
  return l;
}

/** Sends `count` requests with junk tempIDs, all naming `responsePort`, in bursts the socket buffer absorbs. */
async function flood(from: Peer, to: number, count: number, responsePort: number, prefix = 'junk'): Promise<void> {
  for (let start = 0; start < count; start += 500) {
    const burst = Array.from({ length: Math.min(500, count - start) }, (_, n) =>
      from.sendRaw(to, encodeMessage({ address: ADDRESS.request_port, args: [s(`${prefix}-${start + n}`), i(-1), i(responsePort)] })),
    );
    await Promise.all(burst);
  }
}

// A short resend schedule (50 + 100 + 200 ms): the flood's deadline comes soon.
const SHORT = { assignTimeoutMs: 50, assignResends: 2, probeTimeoutMs: 50 };

describe('floods of requests', () => {
  it('5,000 junk requests at one endpoint: the endpoint is capped with busy, a newcomer elsewhere is verified, the junk lapses', async () => {
    const { lines, logger } = collectLogs('info');
    // Each request waits at most 1 s + 2 s: long enough that none lapses before the flood is in.
    const c = await testCoordinator(RANGE, { assignTimeoutMs: 1000, assignResends: 1, logger });
    const attacker = await peer();
    const sink = await peer();
    await flood(attacker, c.port, 5000, sink.port);
    await expect.poll(() => c.stats().counters.requests, { timeout: 5000 }).toBe(5000);
    expect(c.stats().counters.busy).toBe(5000 - 512);
    expect(c.leases.size).toBe(512);
    // Those beyond the cap are told so, with the new code.
    const refusal = await sink.next(ADDRESS.port_error);
    expect(values(refusal)[1]).toBe('busy');

    // A plugin with its own endpoint is served at once, within the SDK's 2 s.
    const newcomer = await lease('newcomer', c.port, 2000);
    expect(newcomer.port).toBeGreaterThanOrEqual(RANGE[0]);

    // Every junk instance lapses on its own deadline (3 s after its request), not when its turn comes.
    await expect.poll(() => c.leases.size, { timeout: 6000 }).toBe(1);
    expect(c.stats().counters.lapsed).toBe(512);
    // One line per kind per second, with counts: a flood never becomes a flood of log lines.
    expect(lines.filter((line) => /busy/.test(line.msg)).length).toBeLessThanOrEqual(4);
    expect(lines.length).toBeLessThan(40);
  });

  it('a full instance table evicts the oldest instance never verified before it refuses a newcomer', async () => {
    const c = await testCoordinator(RANGE, { maxInstances: 40, assignTimeoutMs: 5000 });
    const attacker = await peer();
    // Forty waiting instances at forty endpoints, each holding an offer it will never confirm.
    const sinks = await Promise.all(Array.from({ length: 40 }, () => peer()));
    await Promise.all(sinks.map((sink, n) => attacker.sendRaw(c.port, encodeMessage({ address: ADDRESS.request_port, args: [s(`stale-${n}`), i(-1), i(sink.port)] }))));
    await expect.poll(() => c.leases.size).toBe(40);
    await expect.poll(() => c.stats().leases.assigned).toBe(40);

    await lease('newcomer', c.port, 2000);
    expect(c.stats().counters.evicted).toBe(1);
    expect(c.leases.view('stale-0')).toBeUndefined();
    expect(c.leases.size).toBe(40);
    expect(c.stats().pool.free).toBe(c.stats().pool.size - 40);
  });

  it('pool_exhausted means no port is free; a table full of verified leases answers busy', async () => {
    const small = await testCoordinator([RANGE[0], RANGE[0] + 1]);
    await lease('a', small.port);
    await lease('b', small.port);
    const late = await peer();
    late.send(small.port, ADDRESS.request_port, s('late'), i(-1), i(late.port));
    expect(values(await late.next(ADDRESS.port_error)).slice(0, 2)).toEqual(['late', 'pool_exhausted']);

    const full = await testCoordinator([RANGE[0] + 10, RANGE[0] + 20], { maxInstances: 2 });
    await lease('c', full.port);
    await lease('d', full.port);
    await expect.poll(() => full.stats().leases.bound).toBe(2);
    late.send(full.port, ADDRESS.request_port, s('late'), i(-1), i(late.port));
    const [tempId, code, detail] = values(await late.next(ADDRESS.port_error));
    expect([tempId, code]).toEqual(['late', 'busy']);
    expect(detail).toMatch(/all verified/);
    expect(full.stats().pool.free).toBe(9);
  });
});

const FUZZ_DATAGRAMS = Number(process.env.OSCPORT_FUZZ_DATAGRAMS ?? 50_000);

describe('log volume', () => {
  it('a fuzz of mixed junk produces a bounded log: one line per kind per second, with the counts', { timeout: 20_000 + FUZZ_DATAGRAMS / 5 }, async () => {
    const { lines, logger } = collectLogs('info');
    const c = await testCoordinator(RANGE, { ...SHORT, logger, maxWaitingPerEndpoint: 8, maxInstances: 64 });
    const attacker = await peer();
    const kinds = [
      (n: number) => encodeMessage({ address: ADDRESS.request_port, args: [s(`junk-${n}`), i(-1), i(attacker.port)] }),
      (n: number) => encodeMessage({ address: ADDRESS.port_confirmed, args: [s(`junk-${n}`), i(1 + (n % 60000)), s('bound')] }),
      (n: number) => encodeMessage({ address: ADDRESS.port_confirmed, args: [s(`junk-${n}`), i(RANGE[0] + (n % 100)), s('failed')] }),
      (n: number) => encodeMessage({ address: ADDRESS.release, args: [s(`junk-${n}`), s('extra')] }),
      (n: number) => Buffer.from(`not osc ${n}`),
    ];
    for (let start = 0; start < FUZZ_DATAGRAMS; start += 1000) {
      await Promise.all(Array.from({ length: 1000 }, (_, n) => attacker.sendRaw(c.port, kinds[(start + n) % kinds.length]!(start + n))));
      await expect.poll(() => c.stats().counters.datagrams, { timeout: 5000 }).toBe(start + 1000);
    }
    await c.close();
    const bytes = lines.reduce((total, line) => total + JSON.stringify(line).length + 1, 0);
    // Bounded by time, not by the datagrams: 50,000 make ~10 KB; OSCPORT_FUZZ_DATAGRAMS=1000000 must stay under 150 KB.
    expect(bytes).toBeLessThan(50_000 + FUZZ_DATAGRAMS / 10);
    expect(lines.some((line) => typeof line.suppressed === 'number' && line.suppressed > 100)).toBe(true);
  });
});
