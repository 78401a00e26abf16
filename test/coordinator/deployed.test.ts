import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { DeployedPlugin } from '../../src/simulators/daw/deployed-plugin.js';
import { boundCount, RANGES, testCoordinator } from '../helpers/coordinator.js';
import { freeUdpPort } from '../helpers/ports.js';

const RANGE = RANGES.deployed;
const plugins: DeployedPlugin[] = [];
afterEach(async () => {
  await Promise.all(plugins.splice(0).map((p) => p.close()));
});

/** Instances exactly like the deployed plugin: SO_REUSEADDR everywhere, one request each, any assignment taken. */
async function deployedPlugins(count: number, coordinatorPort: number, responsePort: number): Promise<DeployedPlugin[]> {
  const created: DeployedPlugin[] = [];
  for (let n = 0; n < count; n++) {
    const plugin = new DeployedPlugin({
      tempId: `AIplayer_${n}`,
      coordinator: { host: '127.0.0.1', port: coordinatorPort },
      responsePort,
      juceBug: true,
    });
    plugins.push(plugin);
    await plugin.start();
    created.push(plugin);
  }
  return created;
}

describe('the deployed plugin, unchanged', () => {
  it('one instance: full handshake in its three-argument form', async () => {
    const c = await testCoordinator(RANGE);
    const [plugin] = await deployedPlugins(1, c.port, await freeUdpPort());
    const bound = boundCount(c, 1);
    plugin!.sendRequest();
    const port = await plugin!.whenVerified();
    expect((await bound).get('AIplayer_0')).toBe(port);
    expect(c.leases.view('AIplayer_0')).toMatchObject({ state: 'bound', port });
  });

  it('20 instances sharing one SO_REUSEADDR response port all end verified on distinct ports within 2 s', async () => {
    const c = await testCoordinator(RANGE);
    const shared = await freeUdpPort();
    const all = await deployedPlugins(20, c.port, shared);
    expect(all.every((p) => p.responsePortBound === shared)).toBe(true);

    const allBound = boundCount(c, 20);
    const started = performance.now();
    for (const plugin of all) plugin.sendRequest();
    const ports = await Promise.all(all.map((p) => p.whenVerified()));
    await allBound;
    const elapsed = performance.now() - started;

    expect(new Set(ports).size).toBe(20);
    expect(elapsed).toBeLessThan(2000);
    // Every port is credited to the instance that actually answers on it.
    for (const plugin of all) {
      expect(c.leases.view(plugin.tempId)).toMatchObject({ state: 'bound', port: plugin.port });
      expect(c.leases.holderOf(plugin.port!)).toBe(plugin.tempId);
    }
    expect(c.stats().leases).toMatchObject({ bound: 20, requesting: 0, assigned: 0, verifying: 0 });
    // Each instance took whatever arrived first: most assignments crossed.
    expect(c.stats().counters.crossed).toBeGreaterThan(0);
    // No offer was allocated and thrown away on the way: the first 20 ports of the pool, nothing skipped.
    expect(Math.max(...ports)).toBe(RANGE[0] + 19);
  });

  it('a crossed assignment: the port goes to the instance that took it, and the other is served next', async () => {
    const c = await testCoordinator(RANGE);
    const shared = await freeUdpPort();
    const [older, newer] = await deployedPlugins(2, c.port, shared);
    // Only `older` asks (say `newer`'s request was lost). Its assignment reaches `newer`, the most recently
    // bound socket on the shared port, which takes it and confirms under its own tempID.
    const bothBound = boundCount(c, 2);
    older!.sendRequest();
    const newerPort = await newer!.whenVerified();
    expect(c.leases.holderOf(newerPort)).toBe(newer!.tempId);
    expect(c.stats().counters.crossed).toBe(1);
    const olderPort = await older!.whenVerified();
    await bothBound;
    expect(olderPort).not.toBe(newerPort);
    expect(c.leases.view(older!.tempId)).toMatchObject({ state: 'bound', port: olderPort });
    expect(c.leases.view(newer!.tempId)).toMatchObject({ state: 'bound', port: newerPort });
  });
});
