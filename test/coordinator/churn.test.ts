import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
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
  it('10 restarts a second apart with 30 plugins gone: their ports are all free within the liveness window of their silence', async () => {
    // Liveness window: 2 s of silence, then 3 probes waiting 100 + 200 + 400 ms. A restored lease's full
    // re-verification (8 probes, 25.5 s) is far longer than that, and than the coordinator lives in the loop.
    const settings = { livenessIntervalMs: 2000, probeTimeoutMs: 100, probeAttempts: 8, livenessProbes: 3 };
    const windowMs = 2000 + 700;
    const dir = testDataDir('churn');
    // Both clocks turned by the test: wall time for the journal, each coordinator's own monotonic time.
    let wall = 1_800_000_000_000;
    const wallNow = () => wall;
    let clock = new SimulatedClock();
    let c = await testCoordinator(RANGES.crashloop, { ...settings, dataDir: dir, clock, wallNow });
    const port = c.port;
    const plugins = await Promise.all(Array.from({ length: 30 }, (_, n) => ManualPlugin.create(`gone-${n}`, port)));
    for (const plugin of plugins) await plugin.handshake();
    await expect.poll(() => c.stats().leases.bound).toBe(30);
    await Promise.all(plugins.map((plugin) => plugin.close()));
    const silentSince = wall;

    let freeAt: number | undefined;
    const allFree = () => c.stats().pool.free === c.stats().pool.size;
    /** The coordinator runs for `ms`, in steps, its probes going out over real UDP to ports nobody holds. */
    const live = async (ms: number) => {
      for (let spent = 0; spent < ms; spent += STEP_MS) {
        clock.increment(STEP_MS);
        wall += STEP_MS;
        await new Promise((resolve) => setImmediate(resolve));
        if (freeAt === undefined && allFree()) freeAt = wall;
      }
    };
    expect(allFree()).toBe(false);
    for (let restart = 0; restart < 10; restart++) {
      await c.close();
      clock = new SimulatedClock();
      c = await testCoordinator(RANGES.crashloop, { ...settings, dataDir: dir, port, clock, wallNow });
      await live(1000);
    }
    // Counted from their silence across the restarts, not from each start.
    expect(freeAt! - silentSince).toBeLessThanOrEqual(windowMs + STEP_MS);
    expect(allFree()).toBe(true);
    expect(c.leases.size).toBe(0);
  });
});

const STEP_MS = 50;
