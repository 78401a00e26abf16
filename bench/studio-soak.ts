import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { startCoordinator } from '../src/main.js';
import { spawnIpcChild } from './harness.js';

/**
 * The routing and Atlas soak: a studio at work for SECONDS (default 180) against a coordinator
 * with its journal and a log file (bench/programs/studio.ts: 128 plugins at 24 Hz, two
 * controllers, a gather a second, 20 Atlas meters at 50 Hz, a tenth of the plugins churning every
 * 30 s). Every 30 s it prints the coordinator's RSS and heap (after GC), its open file
 * descriptors, and the journal's and the log's size: what must not drift.
 *
 * Usage: npm run soak [-- CYCLES [SECONDS [PLUGINS]]] runs it after the churn soak.
 */
const seconds = Number(process.argv[2] ?? 180);
const plugins = Number(process.argv[3] ?? 128);
const SAMPLE_MS = 30_000;
const STUDIO = fileURLToPath(new URL('./programs/studio.js', import.meta.url));

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (npm run soak does)');

const dir = mkdtempSync(join(tmpdir(), 'oscport-studio-'));
const logPath = join(dir, 'oscport.log');
const logger = pino({ level: 'info' }, pino.destination({ dest: logPath, sync: false }));
const meterPort = 20000 + (process.pid % 10000);
const coordinator = await startCoordinator({
  ...{ port: 0, poolLow: 26000, poolHigh: 26999, reserved: [], extraPorts: [], sweepPorts: [], dataDir: dir, logger },
  atlas: { meterPort, meterHost: '127.0.0.1' },
});
process.stderr.write(`oscport studio soak: ${plugins} plugins at 24 Hz, 2 controllers, a gather a second, 20 Atlas meters at 50 Hz, churn every 30 s; ${seconds} s; node ${process.version}\n`);

const studio = spawnIpcChild(STUDIO, [coordinator.port, meterPort, plugins]);
const { tcpPort } = await studio.next<{ tcpPort: number }>('device');
await coordinator.atlas.addProcessor({ id: 'studio', host: '127.0.0.3', tcpPort });
studio.go();

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
const fileSize = (path: string) => {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
};
const rows: string[][] = [];
const sample = (at: number) => {
  gc();
  gc();
  const { rss, heapUsed } = process.memoryUsage();
  const { leases, counters, atlas } = coordinator.stats();
  rows.push([
    `${at}`,
    mb(rss),
    mb(heapUsed),
    String(readdirSync('/proc/self/fd').length),
    String(leases.bound),
    (fileSize(join(dir, 'leases.jsonl')) / 1024).toFixed(1),
    (fileSize(logPath) / 1024).toFixed(1),
    String(counters.forwarded),
    String(atlas?.counters.updates ?? 0),
    String(counters.gathers),
  ]);
  process.stderr.write(`  ${at} s: RSS ${rows.at(-1)![1]} MB, heap ${rows.at(-1)![2]} MB, ${rows.at(-1)![3]} fds, ${leases.bound} bound\n`);
};
for (let at = SAMPLE_MS; at <= seconds * 1000; at += SAMPLE_MS) {
  await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
  sample(at / 1000);
}
studio.send({ type: 'stop' });
const done = await studio.next<Record<string, unknown>>('done');
const { counters } = coordinator.stats();
await coordinator.close();

const header = ['s', 'RSS MB', 'heap MB', 'fds', 'bound', 'journal KB', 'log KB', 'forwarded', 'meter updates', 'gathers'];
const widths = header.map((title, n) => Math.max(title.length, ...rows.map((row) => row[n]!.length)));
console.log([header, ...rows].map((row) => row.map((cell, n) => cell.padStart(widths[n]!)).join('  ')).join('\n'));
console.log(
  `studio: ${done.joined} plugins joined, ${done.left} left; ${done.telemetrySent} plugin messages sent; controllers received ${(done.atController as number[]).join(' and ')}; ${done.gathersAnswered} parts of gather answers`,
);
console.log(
  `coordinator: ${counters.bound} bound, ${counters.released} released, ${counters.expiries} expired, ${counters.malformed} malformed, ${counters.journalFailures} journal failures, ${counters.effectFailures} effect failures`,
);
rmSync(dir, { recursive: true, force: true });
