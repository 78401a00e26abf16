import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { formatSummary, summarise, type CpuProfile, type Window } from './cpuprofile.js';
import { drained, spawnLoadgen, startBenchCoordinator, verifiedSpan } from './harness.js';

/**
 * Profiles the coordinator under the lean generator's load: this script
 * re-runs itself under `node --cpu-prof` (the coordinator in that process,
 * the generator in a child, unprofiled), records each measured span (first
 * request received to last binding verified), then summarises the profile
 * over those spans only: top functions by self time, and self time by area.
 *
 *   npm run bench:profile [-- INSTANCES [ROUNDS [INTERVAL_US]]]     (defaults 1000 20 500)
 *
 * The .cpuprofile stays in a temporary directory (printed), for DevTools or
 * `node dist/bench/cpuprofile.js FILE`.
 */
const CHILD = '--profiled-child';
const args = process.argv.slice(2).filter((arg) => arg !== CHILD);
const instances = Number(args[0] ?? 1000);
const rounds = Number(args[1] ?? 20);
const intervalUs = Number(args[2] ?? 500);
const WARM_UP = 2;

if (!process.argv.includes(CHILD)) {
  const dir = mkdtempSync(join(tmpdir(), 'oscport-profile-'));
  const { status } = spawnSync(
    process.execPath,
    ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', String(intervalUs), process.argv[1]!, ...args, CHILD],
    { stdio: 'inherit', env: { ...process.env, OSCPORT_PROFILE_DIR: dir } },
  );
  if (status !== 0) process.exit(status ?? 1);
  const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile in ${dir}`);
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
  let windows = JSON.parse(readFileSync(join(dir, 'windows.json'), 'utf8')) as Window[];
  const inside = windows.every(([from, to]) => from >= profile.startTime && to <= profile.endTime);
  if (!inside) {
    process.stderr.write('measured spans fall outside the profile clock: summarising the whole profile\n');
    windows = [];
  }
  console.log(`profile: ${join(dir, file)} (sampling every ${intervalUs} µs)`);
  console.log(`coordinator under the lean generator, ${instances} instances, ${rounds} rounds after ${WARM_UP} warm-up rounds\n`);
  console.log(formatSummary(summarise(profile, windows, 15)));
  process.exit(0);
}

// ---- the profiled process: the coordinator under load ----

// performance.now() (ms) to the profile's clock (µs, CLOCK_MONOTONIC like process.hrtime).
const hrAt = Number(process.hrtime.bigint() / 1000n);
const perfAt = performance.now();
const toProfileClock = (ms: number) => hrAt + (ms - perfAt) * 1000;

const bench = await startBenchCoordinator();
const { coordinator } = bench;
const windows: Window[] = [];
for (let round = -WARM_UP + 1; round <= rounds; round++) {
  const generator = spawnLoadgen('handshake', coordinator.port, instances);
  await generator.ready;
  const span = verifiedSpan(coordinator, instances);
  span.start();
  await generator.go();
  const { ms, cpuUs, firstAt, lastAt } = await span.done;
  if (round > 0) {
    windows.push([toProfileClock(firstAt), toProfileClock(lastAt)]);
    process.stderr.write(`  round ${round}/${rounds}: ${ms.toFixed(1)} ms, ${(cpuUs / instances).toFixed(0)} µs CPU per handshake\n`);
  }
  await generator.release();
  await drained(coordinator);
}
await bench.close();
writeFileSync(join(process.env.OSCPORT_PROFILE_DIR ?? '.', 'windows.json'), JSON.stringify(windows));
