import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * `npm run soak [-- CYCLES [SECONDS [PLUGINS]]]`: the churn soak (bench/soak.ts, CYCLES, default
 * 100,000), then the routing and Atlas soak (bench/studio-soak.ts, SECONDS and PLUGINS, default
 * 180 and 128), each in its own process with gc() at hand; the first failure stops the run.
 */
const [cycles, seconds, plugins] = process.argv.slice(2);
const runs: Array<[string, Array<string | undefined>]> = [
  ['./soak.js', [cycles]],
  ['./studio-soak.js', [seconds, plugins]],
];
for (const [script, args] of runs) {
  const given = args.filter((arg): arg is string => arg !== undefined);
  const { status, signal } = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(new URL(script, import.meta.url)), ...given], { stdio: 'inherit' });
  if (status !== 0) process.exit(status ?? (signal ? 1 : 0));
  console.log('');
}
