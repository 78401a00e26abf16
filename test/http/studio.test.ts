import { afterEach, describe, expect, it } from 'vitest';
import { RANGES, testCoordinator } from '../helpers/coordinator.js';
import { ManualPlugin } from '../helpers/manual-plugin.js';
import { Peer, f, s } from '../helpers/peer.js';

const plugins: ManualPlugin[] = [];
afterEach(async () => {
  await Promise.all(plugins.splice(0).map((plugin) => plugin.close()));
});

describe('the studio: what the views show, from the coordinator as plugins see it [PROTOCOL §17]', () => {
  it('names every lease with its port, state and level, counts each machine state, and balances the pool', async () => {
    const coordinator = await testCoordinator(RANGES.studio);
    const quiet = await ManualPlugin.verified('AIplayer_quiet', coordinator.port);
    const loud = await ManualPlugin.verified('AIplayer_loud', coordinator.port);
    plugins.push(quiet, loud);
    const sender = await Peer.bind();
    sender.send(coordinator.port, '/aiplayer/telemetry', s('AIplayer_loud'), f(0.75), f(0), f(0), f(0), f(0));
    await expect.poll(() => coordinator.studio.levels().rms).toEqual({ AIplayer_loud: 0.75 });
    await sender.close();

    const snapshot = coordinator.studio.snapshot();
    expect(snapshot.oscPort).toBe(coordinator.port);
    expect(snapshot.leases.map(({ tempId, port, state, rms }) => ({ tempId, port, state, rms })).sort((a, b) => a.tempId.localeCompare(b.tempId))).toEqual([
      { tempId: 'AIplayer_loud', port: loud.port, state: 'bound', rms: 0.75 },
      { tempId: 'AIplayer_quiet', port: quiet.port, state: 'bound', rms: null },
    ]);
    expect(snapshot.states).toMatchObject({ bound: 2, requesting: 0, failed: 0 });
    expect(Object.keys(snapshot.states)).toEqual(snapshot.chart.states);
    expect(snapshot.pool).toEqual({ size: 50, free: 48, held: 2, quarantined: 0 });
    expect(snapshot.chart.transitions).toContainEqual({ from: 'verifying', to: 'bound', event: 'PROBE_ANSWERED' });
  });

  it('forgets a plugin\'s level when its lease ends', async () => {
    const coordinator = await testCoordinator(RANGES.studio);
    const plugin = await ManualPlugin.verified('AIplayer_gone', coordinator.port);
    plugins.push(plugin);
    plugin.telemetry();
    await expect.poll(() => coordinator.studio.levels().rms.AIplayer_gone).toBeCloseTo(0.1);
    plugin.sender.send(coordinator.port, '/aiplayer/release', s('AIplayer_gone'));
    await expect.poll(() => coordinator.studio.snapshot().leases).toEqual([]);
    expect(coordinator.studio.levels().rms).toEqual({});
  });
});
