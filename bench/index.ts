import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * `npm run bench`: the handshake benchmark (its arguments are this script's: SIZES ROUNDS
 * SDK_ROUNDS), then the telemetry relay and gather benchmark, the Atlas meter fan-out and the cold start of
 * today's builds, with their defaults. Each runs in its
 * own process, one after the other; the first failure stops the run.
 */
const scripts: Array<[string, string[]]> = [
  ['./handshake.bench.js', process.argv.slice(2)],
  ['./relay.bench.js', []],
  ['./meters.bench.js', []],
  ['./cold-start.bench.js', []],
];
for (const [script, args] of scripts) {
  const { status, signal } = spawnSync(process.execPath, [fileURLToPath(new URL(script, import.meta.url)), ...args], { stdio: 'inherit' });
  if (status !== 0) process.exit(status ?? (signal ? 1 : 0));
  console.log('');
}
