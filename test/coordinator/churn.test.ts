import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { churn } from '../../bench/churn.js';
import { RANGES, testCoordinator } from '../helpers/coordinator.js';
import { ManualPlugin } from '../helpers/manual-plugin.js';
import { testDataDir } from '../helpers/temp-dir.js';

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

const journalLines = (dir: string) => readFileSync(join(dir, 'leases.jsonl'), 'utf8').split('\n').length - 1;

describe('churn', () => {
  it('10,000 distinct tempIDs bind and release: the journal stays within live + remembered + header', async () => {
    const dir = testDataDir('churn');
    const c = await testCoordinator(RANGES.churn, { dataDir: dir });
    const result = await churn({ port: c.port, cycles: 10_000, concurrency: 32 });
    expect(result.cycles).toBe(10_000);
    await expect.poll(() => c.stats().counters.released).toBe(10_000);
    expect(c.stats().journal?.compactions).toBeGreaterThan(0);
    await c.close();
    // No live lease, at most 4096 remembered last ports, the header.
    expect(journalLines(dir)).toBeLessThanOrEqual(0 + 4096 + 1);
  });
});

describe('crash loops', () => {
  it('10 restarts a second apart with 30 plugins gone: their ports are all free within the liveness window', async () => {
    // Liveness window: 2 s of silence, then 3 probes waiting 100 + 200 + 400 ms. A restored lease's full
    // re-verification (8 probes, 25.5 s) is far longer than that, and than the coordinator lives in the loop.
    const settings = { livenessIntervalMs: 2000, probeTimeoutMs: 100, probeAttempts: 8, livenessProbes: 3 };
    const windowMs = 2000 + 700;
    const dir = testDataDir('churn');
    let c = await testCoordinator(RANGES.crashloop, { ...settings, dataDir: dir });
    const port = c.port;
    const plugins = await Promise.all(Array.from({ length: 30 }, (_, n) => ManualPlugin.create(`gone-${n}`, port)));
    for (const plugin of plugins) await plugin.handshake();
    await expect.poll(() => c.stats().leases.bound).toBe(30);
    await Promise.all(plugins.map((plugin) => plugin.close()));

    for (let restart = 0; restart < 10; restart++) {
      await c.close();
      c = await testCoordinator(RANGES.crashloop, { ...settings, dataDir: dir, port });
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const silentSince = performance.now() - 10_000;
    await expect.poll(() => c.stats().pool.free, { timeout: windowMs }).toBe(c.stats().pool.size);
    expect(performance.now() - silentSince).toBeLessThan(10_000 + windowMs);
    expect(c.leases.size).toBe(0);
  });
});
