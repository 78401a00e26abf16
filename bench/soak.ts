import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCoordinator } from '../src/main.js';
import { churn } from './churn.js';

/**
 * The thousandth day, compressed: CYCLES (default 100,000) plugins, each a tempID never seen
 * before, bind and release one after another (16 at a time) against a coordinator with its
 * journal on. The churn runs in a child process so that the memory measured is the coordinator's.
 * Prints cycles per second, the coordinator's RSS at start, at its peak and at the end after GC,
 * and the journal's size, lines and compactions.
 * Usage: npm run soak [-- CYCLES [SECONDS [PLUGINS]]] (bench/soaks.ts) runs it first.
 */
const cycles = Number(process.argv[2] ?? 100_000);

if (process.argv[3] === 'driver') {
  const port = Number(process.argv[4]);
  const result = await churn({ port, cycles, onCycle: (done) => done % 1000 === 0 && process.send!({ done }) });
  process.send!({ result });
  process.exit(0);
}

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (npm run soak does)');
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const settledRss = () => {
  gc();
  gc();
  return process.memoryUsage().rss;
};

const dataDir = mkdtempSync(join(tmpdir(), 'oscport-soak-'));
const coordinator = await startCoordinator({ port: 0, poolLow: 25000, poolHigh: 25999, reserved: [], extraPorts: [], sweepPorts: [], dataDir });
const rssStart = settledRss();
const heapStart = process.memoryUsage().heapUsed;
let rssPeak = rssStart;
const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 100);
process.stderr.write(`oscport soak: ${cycles} bind/release cycles of distinct tempIDs, node ${process.version}\n`);

const driver = fork(fileURLToPath(import.meta.url), [String(cycles), 'driver', String(coordinator.port)]);
const result = await new Promise<{ cycles: number; ms: number }>((resolve, reject) => {
  driver.on('message', (message: { done?: number; result?: { cycles: number; ms: number } }) => {
    if (message.result) resolve(message.result);
    else if (message.done !== undefined && process.stderr.isTTY) process.stderr.write(`\r  ${message.done}/${cycles} cycles`);
  });
  driver.on('exit', (code) => code !== 0 && reject(new Error(`churn driver exited with ${code}`)));
});
if (process.stderr.isTTY) process.stderr.write('\n');
clearInterval(sampler);
const path = join(dataDir, 'leases.jsonl');
// V8 gives heap pages back to the OS only after it has seen the process idle for a while (its memory reducer,
// about 5 s here): measure after 10 s of idleness, collecting once a second as an idle daemon's heap would be.
const IDLE_MS = 10_000;
for (let waited = 0; waited < IDLE_MS; waited += 1000) {
  await new Promise((resolve) => setTimeout(resolve, 1000));
  settledRss();
}
const rssEnd = settledRss();
const idleSeconds = IDLE_MS / 1000;
const { journal, leases } = coordinator.stats();
const lines = () => readFileSync(path, 'utf8').split('\n').length - 1;
const sign = (bytes: number) => (bytes >= 0 ? '+' : '');
console.log(`cycles:            ${result.cycles} in ${(result.ms / 1000).toFixed(1)} s, ${Math.round((result.cycles / result.ms) * 1000)} cycles/s`);
console.log(`coordinator RSS:   start ${mb(rssStart)}, peak ${mb(rssPeak)}, end after GC ${mb(rssEnd)} (${sign(rssEnd - rssStart)}${mb(rssEnd - rssStart)}, idle ${idleSeconds} s)`);
console.log(`coordinator heap:  start ${mb(heapStart)}, end after GC ${mb(process.memoryUsage().heapUsed)}`);
console.log(`leases at the end: ${Object.values(leases).reduce((a, b) => a + b, 0)}`);
console.log(`journal:           ${mb(statSync(path).size)}, ${lines()} lines`);
console.log(`compactions:       ${journal?.compactions}, longest hold of the event loop ${journal?.longestCompactionBlockMs.toFixed(2)} ms`);
await coordinator.close();
console.log(`journal at stop:   ${lines()} lines`);
rmSync(dataDir, { recursive: true, force: true });
