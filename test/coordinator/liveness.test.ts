import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { requestPort, type SdkLease } from '../../src/sdk/request-port.js';
import { RANGES, testCoordinator } from '../helpers/coordinator.js';
import { collectLogs } from '../helpers/logs.js';
import { ManualPlugin } from '../helpers/manual-plugin.js';

const RANGE = RANGES.liveness;
const plugins: ManualPlugin[] = [];
const leases: SdkLease[] = [];
afterEach(async () => {
  await Promise.all([...plugins.splice(0).map((p) => p.close()), ...leases.splice(0).map((l) => l.release())]);
});

async function plugin(tempId: string, coordinatorPort: number): Promise<ManualPlugin> {
  const p = await ManualPlugin.create(tempId, coordinatorPort);
  plugins.push(p);
  return p;
}


// Short intervals so a test takes a few hundred milliseconds; the rules are the same at the defaults.
const FAST = { livenessIntervalMs: 80, reverifyIntervalMs: 10_000, probeTimeoutMs: 30, livenessProbes: 2 };

describe('liveness of bound leases', () => {
  it('a silent instance is probed, and expires after the configured missed probes; its port returns', async () => {
    const c = await testCoordinator(RANGE, FAST);
    const p = await plugin('quiet', c.port);
    const bound = once(c.leases, 'bound');
    const port = await p.handshake();
    await bound;
    expect(c.stats().pool.free).toBe(c.stats().pool.size - 1);

    p.answering = false;
    const expired = once(c.leases, 'expired');
    await expired;
    expect(p.probes).toBe(1 + FAST.livenessProbes);
    expect(c.leases.view('quiet')).toBeUndefined();
    expect(c.leases.holderOf(port)).toBeUndefined();
    expect(c.stats().pool.free).toBe(c.stats().pool.size);
    expect(c.stats().counters).toMatchObject({ expiries: 1, probeFailures: FAST.livenessProbes });
  });

  it('an instance that answers stays bound through every check', async () => {
    const c = await testCoordinator(RANGE, FAST);
    const p = await plugin('steady', c.port);
    await p.handshake();
    await once(c.leases, 'bound');
    await expect.poll(() => p.probes, { timeout: 2000 }).toBeGreaterThanOrEqual(4);
    expect(c.leases.view('steady')?.state).toBe('bound');
    expect(c.leases.view('steady')?.rttMs).toBeGreaterThan(0);
  });

  it('traffic naming the instance keeps it alive without probes, until it falls silent', async () => {
    const c = await testCoordinator(RANGE, FAST);
    const p = await plugin('chatty', c.port);
    await p.handshake();
    await once(c.leases, 'bound');
    p.answering = false;
    const chatter = setInterval(() => p.telemetry(), 20);
    try {
      await expect.poll(() => c.stats().counters.pluginTraffic, { timeout: 2000 }).toBeGreaterThanOrEqual(20);
      expect(p.probes).toBe(1);
    } finally {
      clearInterval(chatter);
    }
    await once(c.leases, 'expired');
  });

  it('a port stolen by a newer instance is caught: the lease ends as stolen, the port is the thief\'s', async () => {
    const { lines, logger } = collectLogs();
    const c = await testCoordinator(RANGE, { ...FAST, logger });
    const victim = await plugin('victim', c.port);
    const port = await victim.handshake();
    await once(c.leases, 'bound');

    const thief = await plugin('thief', c.port);
    const stolen = once(c.leases, 'stolen');
    await thief.bind(port);
    await stolen;
    expect(c.leases.view('victim')).toBeUndefined();
    expect(c.leases.view('thief')).toMatchObject({ state: 'bound', port });
    expect(c.stats().counters.steals).toBe(1);
    const line = lines.find((l) => /stolen/.test(l.msg));
    expect(line).toMatchObject({ port, tempId: 'victim', stolenBy: 'thief' });
  });

  it('a chatty instance whose port was taken by a socket that does not answer expires at re-verification', async () => {
    const c = await testCoordinator(RANGE, { ...FAST, livenessIntervalMs: 10_000, reverifyIntervalMs: 150 });
    const victim = await plugin('talker', c.port);
    const port = await victim.handshake();
    await once(c.leases, 'bound');
    const squatter = await plugin('squatter', c.port);
    squatter.answering = false;
    await squatter.bind(port);
    const chatter = setInterval(() => victim.telemetry(), 20);
    try {
      await once(c.leases, 'expired');
    } finally {
      clearInterval(chatter);
    }
    expect(squatter.probes).toBeGreaterThanOrEqual(FAST.livenessProbes);
    expect(c.leases.view('talker')).toBeUndefined();
  });
});

describe('affinity', () => {
  it('a released port goes to the back of the pool, and its tempID gets it back', async () => {
    const c = await testCoordinator(RANGE);
    const coordinator = { host: '127.0.0.1', port: c.port };
    const first = await requestPort({ tempId: 'returning', coordinator });
    const port = first.port;
    await first.release();
    await expect.poll(() => c.leases.view('returning')).toBeUndefined();

    const other = await requestPort({ tempId: 'someone-else', coordinator });
    leases.push(other);
    expect(other.port).not.toBe(port);

    const again = await requestPort({ tempId: 'returning', coordinator });
    leases.push(again);
    expect(again.port).toBe(port);
  });

  it('an expired instance that comes back gets its old port', async () => {
    const c = await testCoordinator(RANGE, FAST);
    const p = await plugin('comeback', c.port);
    const port = await p.handshake();
    await once(c.leases, 'bound');
    p.answering = false;
    await once(c.leases, 'expired');
    await p.close();
    plugins.splice(plugins.indexOf(p), 1);

    const lease = await requestPort({ tempId: 'comeback', coordinator: { host: '127.0.0.1', port: c.port } });
    leases.push(lease);
    expect(lease.port).toBe(port);
  });
});
