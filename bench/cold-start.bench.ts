import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { drained, median, onVerified, spawnIpcChild, startBenchCoordinator } from './harness.js';
import { col, pad } from './report.js';

/**
 * Today's AIplayer builds ask once. 64 deployed-style instances on one shared response port (a
 * DAW in a process of its own, bench/programs/daw.ts), against a coordinator in this process:
 * - requests heard: the coordinator runs first; from the requests to every instance verified;
 * - cold start: the DAW runs first and its requests go nowhere; from the coordinator's start
 *   (bind, journal, sweeps) to every instance verified, each found by a sweep of its port.
 * Beside both, the floor the plugin sets: N x 50 ms, the sleep before it binds an assigned port
 * on the host's one message thread. The coordinator's own CPU per instance is this process's.
 *
 * Usage: node cold-start.bench.js [INSTANCES [ROUNDS]]   defaults 64 5
 */
const instances = Number(process.argv[2] ?? 64);
const rounds = Number(process.argv[3] ?? 5);
const BIND_SLEEP_MS = 50;
const DAW = fileURLToPath(new URL('./programs/daw.js', import.meta.url));

interface Round {
  ms: number;
  cpuUsPerInstance: number;
}

async function freePort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(resolve));
  return port;
}

async function round(cold: boolean): Promise<Round> {
  const [port, responsePort] = [await freePort(), await freePort()];
  const daw = spawnIpcChild(DAW, [port, responsePort, instances]);
  await daw.next('ready');
  const start = () => startBenchCoordinator({ port, sweepPorts: [{ low: responsePort, high: responsePort, step: 1 }] });
  // Requests heard: the coordinator is up before the DAW asks.
  const warm = cold ? undefined : await start();
  if (cold) {
    daw.go();
    await daw.next('asked');
  }
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const bench = warm ?? (await start());
  let verified = 0;
  const allVerified = new Promise<void>((resolve) => {
    const stop = onVerified(bench.coordinator, () => {
      if (++verified < instances) return;
      stop();
      resolve();
    });
  });
  if (!cold) daw.go();
  await allVerified;
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const { instancesAdopted, requests } = bench.coordinator.stats().counters;
  if ((cold ? instancesAdopted : requests) !== instances) throw new Error(`${cold ? 'cold' : 'warm'}: ${instancesAdopted} adopted, ${requests} requests`);
  daw.send({ type: 'release' });
  await daw.exited;
  await drained(bench.coordinator);
  await bench.close();
  return { ms, cpuUsPerInstance: (cpu.user + cpu.system) / instances };
}

process.stderr.write(`oscport bench: cold start, ${instances} deployed-style instances on one shared response port; ${rounds} rounds after 1 warm-up\n`);
await round(false);
await round(true);
const warm: Round[] = [];
const cold: Round[] = [];
for (let n = 1; n <= rounds; n++) {
  warm.push(await round(false));
  cold.push(await round(true));
  process.stderr.write(`  round ${n}/${rounds}: requests heard ${warm.at(-1)!.ms.toFixed(0)} ms, cold start ${cold.at(-1)!.ms.toFixed(0)} ms\n`);
}

const floor = instances * BIND_SLEEP_MS;
const row = (label: string, list: Round[]) => {
  const ms = median(list.map((r) => r.ms));
  return pad(label) + col([`${ms.toFixed(0)} ms`, `${(ms / floor).toFixed(2)}x`, `${((ms - floor) / instances).toFixed(1)} ms`, `${median(list.map((r) => r.cpuUsPerInstance)).toFixed(0)} µs`]);
};
console.log(
  [
    pad(`${instances} instances on one port, median of ${rounds}`) + col(['all verified', 'x floor', 'over, each', 'CPU/instance']),
    pad(`floor: ${instances} x ${BIND_SLEEP_MS} ms (the plugin's own sleep)`) + col([`${floor} ms`, '1.00x', '', '']),
    row('requests heard (coordinator first)', warm),
    row('cold start (DAW first, requests lost)', cold),
  ].join('\n'),
);
