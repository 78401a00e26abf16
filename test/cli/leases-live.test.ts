import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { networkInterfaces } from 'node:os';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { requestPort, type SdkLease } from '../../src/sdk/request-port.js';
import type { Coordinator } from '../../src/main.js';
import { encodeMessage } from '../../src/osc/codec.js';
import { ADDRESS } from '../../src/osc/contract.js';
import { CLI, oscport as run } from '../helpers/cli.js';
import { RANGES, testCoordinator } from '../helpers/coordinator.js';
import { Peer, s } from '../helpers/peer.js';
import { freeUdpPort } from '../helpers/ports.js';

const oscport = (...args: string[]) => run(args);

let c: Coordinator;
let at: string[];
const leases: SdkLease[] = [];

beforeEach(async () => {
  c = await testCoordinator(RANGES.admin, { probeTimeoutMs: 200 });
  at = ['--coordinator', `127.0.0.1:${c.port}`];
  for (const tempId of ['cli-a', 'cli-b', 'cli-c']) {
    leases.push(await requestPort({ tempId, coordinator: { host: '127.0.0.1', port: c.port } }));
  }
  await expect.poll(() => c.stats().leases.bound).toBe(3);
});

afterEach(async () => {
  await Promise.all(leases.splice(0).map((l) => l.release()));
});

describe('the lease CLI against a live coordinator', () => {
  it('leases: a table, and --json with every lease and its fields', async () => {
    const table = await oscport('leases', ...at);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^TEMPID\s+PORT\s+STATE\s+TRACK\s+AGE\s+LAST SEEN\s+RTT/);
    for (const lease of leases) expect(table.stdout).toContain(`${lease.tempId}`);

    const json = await oscport('leases', '--json', ...at);
    const rows = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    expect(rows.map((r) => [r.tempId, r.port, r.state])).toEqual(leases.map((l) => [l.tempId, l.port, 'bound']));
    for (const row of rows) {
      expect(row).toMatchObject({ trackId: null });
      expect(row.ageMs).toBeGreaterThanOrEqual(0);
      expect(row.rttMs).toBeGreaterThan(0);
      expect(row.lastSeenMs).toBeGreaterThanOrEqual(0);
    }
  });

  it('leases --state filters, and an unknown state is a usage error', async () => {
    const pending = await Peer.bind();
    try {
      pending.send(c.port, ADDRESS.request_port, s('cli-pending'), { type: 'i', value: -1 });
      await pending.next(ADDRESS.port_assignment);
      const assigned = JSON.parse((await oscport('leases', '--json', '--state', 'assigned', ...at)).stdout) as Array<{ tempId: string }>;
      expect(assigned.map((r) => r.tempId)).toEqual(['cli-pending']);
      const bound = JSON.parse((await oscport('leases', '--json', '--state', 'bound', ...at)).stdout) as unknown[];
      expect(bound).toHaveLength(3);
      // Two instances at one endpoint: one has the offer, the other waits for its turn, holding no port.
      // (Which one waits can change: an unanswered offer at a shared endpoint passes the turn on.)
      pending.send(c.port, ADDRESS.request_port, s('cli-waiting'), { type: 'i', value: -1 });
      await expect.poll(() => c.stats().leases.requesting).toBe(1);
      const waiting = JSON.parse((await oscport('leases', '--json', '--state', 'requesting', ...at)).stdout) as Array<{
        tempId: string;
      }>;
      expect(waiting).toEqual([expect.objectContaining({ port: null, state: 'requesting' })]);
      const table = await oscport('leases', ...at);
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(/cli-(waiting|pending)\s+-\s+requesting/);
      expect((await oscport('leases', '--state', 'sleeping', ...at)).code).toBe(2);
    } finally {
      await pending.close();
    }
  });

  it('leases pages through more leases than fit one datagram', async () => {
    const many = await Promise.all(
      Array.from({ length: 70 }, (_, n) => requestPort({ tempId: `cli-many-${n}`, coordinator: { host: '127.0.0.1', port: c.port } })),
    );
    leases.push(...many);
    await expect.poll(() => c.stats().leases.bound).toBe(73);
    const rows = JSON.parse((await oscport('leases', '--json', ...at)).stdout) as Array<{ port: number }>;
    expect(rows).toHaveLength(73);
    expect(new Set(rows.map((r) => r.port)).size).toBe(73);
  });

  it('leases --watch redraws until interrupted', async () => {
    const watch = spawn(process.execPath, [CLI, 'leases', '--watch', '--json', ...at], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = createInterface({ input: watch.stdout! });
    const snapshots: unknown[] = [];
    for await (const line of lines) {
      snapshots.push(JSON.parse(line));
      if (snapshots.length === 2) break;
    }
    watch.kill('SIGINT');
    const [code] = await once(watch, 'exit');
    expect(code).toBe(0);
    expect(snapshots[1]).toHaveLength(3);
  });

  it('status: readable, and --json with uptime, pool, leases by state and counters', async () => {
    const text = await oscport('status', ...at);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/uptime/);
    const status = JSON.parse((await oscport('status', '--json', ...at)).stdout) as Record<string, any>;
    expect(status.pool).toEqual({ size: 100, free: 97, quarantined: 0 });
    expect(status.leases).toEqual({ requesting: 0, assigned: 0, verifying: 0, bound: 3 });
    expect(status.uptimeMs).toBeGreaterThan(0);
    expect(status.counters).toMatchObject({ assignments: 3, confirmations: 3, probeFailures: 0, expiries: 0, steals: 0, malformed: 0 });
  });

  it('release by tempID and by port', async () => {
    const [a, b] = leases;
    const byName = await oscport('release', a!.tempId, ...at);
    expect(byName).toMatchObject({ code: 0 });
    expect(byName.stdout).toContain(`released ${a!.tempId} (port ${a!.port})`);
    const byPort = await oscport('release', String(b!.port), ...at);
    expect(byPort.stdout).toContain(`released ${b!.tempId}`);
    await expect.poll(() => c.stats().leases.bound).toBe(1);
    const missing = await oscport('release', 'nobody', ...at);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no lease for nobody');
  });

  it('probe: the answer with its round trip, or the timeout with exit 1', async () => {
    const answered = await oscport('probe', String(leases[2]!.port), '--json', ...at);
    expect(answered.code).toBe(0);
    expect(JSON.parse(answered.stdout)).toMatchObject({ port: leases[2]!.port, answered: true, tempId: 'cli-c' });
    const silent = await oscport('probe', String(await freeUdpPort()), ...at);
    expect(silent.code).toBe(1);
    expect(silent.stdout).toMatch(/no answer within 200 ms/);
  });

  it('who: the local process and the lease on the port', async () => {
    const port = leases[0]!.port;
    const text = await oscport('who', String(port), ...at);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('cli-a');
    const json = JSON.parse((await oscport('who', String(port), '--json', ...at)).stdout) as Record<string, any>;
    expect(json).toMatchObject({ port, coordinator: 'answered', lease: { tempId: 'cli-a', state: 'bound' } });
    if (process.platform === 'linux') expect(json.holders.map((h: { pid: number }) => h.pid)).toContain(process.pid);
  });

  it('exit 1 with a clear message when no coordinator answers; exit 2 on usage errors', async () => {
    const nowhere = ['--coordinator', `127.0.0.1:${await freeUdpPort()}`];
    const none = await oscport('status', ...nowhere);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no coordinator answering on 127\.0\.0\.1:\d+/);
    expect((await oscport('probe', 'abc', ...at)).code).toBe(2);
    expect((await oscport('leases', '--coordinator', 'nonsense')).code).toBe(2);
  });
});

describe('admin access', () => {
  const external = Object.values(networkInterfaces())
    .flat()
    .find((address) => address?.family === 'IPv4' && !address.internal)?.address;

  it.skipIf(external === undefined)('refuses admin requests that do not come from loopback', async () => {
    const open = await testCoordinator(RANGES.admin, { host: '0.0.0.0' });
    const outsider = await Peer.bind(0, { host: external! });
    try {
      outsider.socket.send(
        encodeMessage({ address: '/coordinator/status', args: [{ type: 's', value: 'req-1' }] }),
        open.port,
        external!,
      );
      await expect.poll(() => open.stats().counters.adminRefused).toBe(1);
      expect(outsider.pending()).toEqual([]);
    } finally {
      await outsider.close();
    }
  });
});
