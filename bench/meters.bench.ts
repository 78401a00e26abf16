import dgram from 'node:dgram';
import { cpus } from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_METERS, startAtlasSimulator } from '../src/simulators/atlas/simulator.js';
import { messageHead, oscString } from '../src/osc/templates.js';
import { drained, relayRounds, spawnIpcChild, startBenchCoordinator, type RelayMode } from './harness.js';
import { col, int, medianOf, ms, pad, sumOf } from './report.js';
import { mergeHistograms, percentiles } from './histogram.js';
import type { MeterRoundResult } from './programs/meters.js';
import { cpuPressureUs, udpSocketDrops } from './procnet.js';

/**
 * Atlas meter fan-out: one processor's meters through the coordinator to the plugins that
 * subscribed, beside a raw dgram relay doing the same in the same run.
 *
 * An Atlas simulator in this process answers the coordinator's TCP session (subscriptions and
 * keep-alives; it sends no meters of its own). A child process (bench/programs/meters.ts) holds PLUGINS
 * verified plugin ports, plugin i subscribed to meter i mod METERS, and sends the device's meter
 * datagrams from the processor's address, METERS meters at RATE Hz, one JSON update per datagram.
 * The relay under test runs in this process:
 * - the coordinator's meter socket, which parses each update and sends `/atlas/meter ,ssf` to
 *   every subscribed plugin's verified port [PROTOCOL §15];
 * - the floor: a dgram socket that parses each update (JSON.parse: any bridge must read the
 *   device's format), writes the value into a pre-encoded `/atlas/meter` and sends it to the
 *   ports subscribed to that meter, from a table built before the clock.
 * Rounds alternate between the two. Per round: arrivals at the plugins per second, loss (at the
 * relay: updates sent against received, and its socket's kernel drops; at the plugins), send to
 * arrival latency, and this process's CPU per update and per datagram sent on.
 *
 * Usage: node dist/bench/meters.bench.js [PLUGINS [METERS [RATE_HZ [ROUNDS [SECONDS [HEADROOM]]]]]]
 *        defaults 1000 20 50 5 3 2 (HEADROOM: rate multipliers, comma-separated, one round each; 0 for none)
 */
const HOST = '127.0.0.1';
const PROCESSOR_HOST = '127.0.0.2';
const PROCESSOR_ID = 'bench';
const WARMUP_S = 1;
const PREFIX = 'mp';
const METERS_CHILD = fileURLToPath(new URL('./programs/meters.js', import.meta.url));

const args = process.argv.slice(2);
const plugins = Number(args[0] ?? 1000);
const meterCount = Number(args[1] ?? 20);
const rateHz = Number(args[2] ?? 50);
const rounds = Number(args[3] ?? 5);
const seconds = Number(args[4] ?? 3);
const headroom = (args[5] ?? '2').split(',').map(Number).filter((x) => x !== 0);
if (![plugins, meterCount, rateHz, rounds, seconds, ...headroom].every((n) => n > 0) || plugins > 4000 || meterCount > DEFAULT_METERS.length) {
  process.stderr.write(`usage: node meters.bench.js [PLUGINS [METERS (at most ${DEFAULT_METERS.length}) [RATE_HZ [ROUNDS [SECONDS [HEADROOM]]]]]]\n`);
  process.exit(2);
}
const meters = DEFAULT_METERS.slice(0, meterCount);

// ---- the device, the coordinator, the plugins ----

const device = await startAtlasSimulator({ host: PROCESSOR_HOST, tcpPort: 0, meterPort: 9, meters, rateHz: 0 });
// Liveness probes off the measured spans, as in the relay benchmark.
const bench = await startBenchCoordinator({
  livenessIntervalMs: 600_000,
  reverifyIntervalMs: 600_000,
  atlas: { meterHost: HOST, meterPort: 0, processors: [{ id: PROCESSOR_ID, host: PROCESSOR_HOST, tcpPort: device.tcpPort }] },
});
const { coordinator } = bench;
const atlas = () => coordinator.stats().atlas!;
const meterPort = atlas().meterSocket.port;

const child = spawnIpcChild(METERS_CHILD, [coordinator.port, plugins, meters.join(','), PROCESSOR_ID, PROCESSOR_HOST, PREFIX]);
const { plugins: bound } = await child.next<{ plugins: Array<{ tempId: string; port: number; meter: string }> }>('ready');
// Every plugin's subscription reached the coordinator, and every meter is subscribed on the device.
const consumers = () => coordinator.atlas.status()!.processors[0]!.subscriptions.reduce((sum, s) => sum + s.consumers, 0);
const giveUp = Date.now() + 10_000;
while (consumers() < plugins || device.subscriptions().length < meters.length) {
  if (Date.now() > giveUp) throw new Error(`subscribed: ${consumers()} of ${plugins} plugins, ${device.subscriptions().length} of ${meters.length} meters on the device`);
  await sleep(20);
}

// ---- the floor ----

const raw = dgram.createSocket({ type: 'udp4', reuseAddr: false });
await new Promise<void>((resolve) => raw.bind({ port: 0, address: HOST, exclusive: true }, resolve));
const rawPort = raw.address().port;
const routes = new Map<string, { head: Buffer; ports: number[] }>(
  meters.map((param) => [
    param,
    {
      head: Buffer.concat([messageHead('/atlas/meter', 'ssf'), oscString(PROCESSOR_ID), oscString(param)]),
      ports: bound.filter((plugin) => plugin.meter === param).map((plugin) => plugin.port),
    },
  ]),
);
let rawReceived = 0;
raw.on('message', (data) => {
  rawReceived++;
  const { param, val } = (JSON.parse(data.toString('latin1')) as { params: { param: string; val: number } }).params;
  const route = routes.get(param);
  if (!route) return;
  const bytes = Buffer.allocUnsafe(route.head.length + 4);
  route.head.copy(bytes, 0);
  bytes.writeFloatBE(val, route.head.length);
  for (const port of route.ports) raw.send(bytes, port, HOST);
});

// ---- rounds ----

interface Round {
  mode: RelayMode;
  result: MeterRoundResult;
  /** At the relay: updates received, its socket's kernel drops; this process's CPU. */
  received: number;
  drops: number | null;
  cpuUs: number;
  elu: number;
  loopDelayMaxMs: number;
  pressure: number | null;
}

const loopDelay = monitorEventLoopDelay({ resolution: 1 });
loopDelay.enable();

function relayCounters(mode: RelayMode) {
  return {
    received: mode === 'raw' ? rawReceived : atlas().counters.datagrams,
    drops: udpSocketDrops([mode === 'raw' ? rawPort : meterPort])[0] ?? null,
  };
}

async function relayRound(mode: RelayMode, hz: number): Promise<Round> {
  const done = child.next<{ result: MeterRoundResult }>('round-done');
  const before = relayCounters(mode);
  const elu0 = performance.eventLoopUtilization();
  loopDelay.reset();
  const pressure0 = cpuPressureUs();
  const wall0 = performance.now();
  const cpu0 = process.cpuUsage();
  child.send({ type: 'round', target: mode === 'raw' ? rawPort : meterPort, rateHz: hz, seconds, warmupS: WARMUP_S });
  const { result } = await done;
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0).utilization;
  const pressure1 = cpuPressureUs();
  const after = relayCounters(mode);
  return {
    mode,
    result,
    received: after.received - before.received,
    drops: after.drops === null || before.drops === null ? null : after.drops - before.drops,
    cpuUs: cpu.user + cpu.system,
    elu,
    loopDelayMaxMs: loopDelay.max / 1e6,
    pressure: pressure0 === null || pressure1 === null ? null : (pressure1 - pressure0) / 1000 / (performance.now() - wall0),
  };
}

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;
const fanout = plugins / meters.length;
process.stderr.write(
  `oscport meter bench: ${meters.length} meters at ${rateHz} Hz from one processor to ${plugins} plugins (${fanout} per meter), ` +
    `${rounds} rounds of ${seconds} s after ${WARMUP_S} s warm-up${headroom.length > 0 ? `, then one at ${headroom.map((x) => `${x}x`).join(', ')} the rate` : ''}; ` +
    `node ${process.version}, ${cpus().length} cores; receive buffers: the system's default for both sockets ` +
    `(raw relay ${mib(raw.getRecvBufferSize())})\n`,
);
const describe = (r: Round) =>
  `${r.mode} ${Math.round(r.result.deliveredPerSecond)}/s, p50 ${r.result.latency.p50.toFixed(3)} p99 ${r.result.latency.p99.toFixed(3)} ms, ` +
  `lost ${r.result.sent - r.received} at relay / ${r.result.expected - r.result.arrived} at plugins, ` +
  `${(r.cpuUs / Math.max(1, r.received)).toFixed(1)} µs CPU/update, loop delay max ${r.loopDelayMaxMs.toFixed(1)} ms` +
  `${r.pressure === null ? '' : `, CPU pressure ${(100 * r.pressure).toFixed(0)}%`}`;

const { normal, fast } = await relayRounds(rounds, headroom, (mode, x) => relayRound(mode, rateHz * x), describe);

child.send({ type: 'release' });
await child.exited;
await drained(coordinator);
const bridgeCounters = atlas().counters;
await bench.close();
await device.close();
raw.close();

// ---- report ----

const sum = sumOf<Round>;
const med = medianOf<Round>;

function table(list: Round[], hz: number, title: string): string[] {
  const r = list.filter((x) => x.mode === 'raw');
  const c = list.filter((x) => x.mode === 'coordinator');
  const lines: string[] = [];
  lines.push(`${title}: ${meters.length} meters x ${hz} Hz = ${int(meters.length * hz)} updates/s, each to ${fanout} plugins = ${int(meters.length * hz * fanout)} datagrams/s out`);
  lines.push(pad(`${seconds} s after ${WARMUP_S} s warm-up; median of ${c.length}, loss summed`) + col(['raw dgram relay', 'coordinator', 'coord. vs raw']));
  const rawThroughput = med(r, (x) => x.result.deliveredPerSecond);
  const coordThroughput = med(c, (x) => x.result.deliveredPerSecond);
  lines.push(
    pad('throughput: arrivals at the plugins per second') + col([int(rawThroughput), int(coordThroughput), `${(coordThroughput / rawThroughput).toFixed(2)}x`]) + '  (goal >= 0.60x)',
  );
  lines.push(
    pad('loss at the relay: updates sent - received') +
      col([`${int(sum(r, (x) => x.result.sent - x.received))}/${int(sum(r, (x) => x.result.sent))}`, `${int(sum(c, (x) => x.result.sent - x.received))}/${int(sum(c, (x) => x.result.sent))}`]) +
      '  (goal 0)',
  );
  const drops = (l: Round[]) => (l.some((x) => x.drops === null) ? 'n/a' : int(sum(l, (x) => x.drops!)));
  lines.push(pad("  its socket's receive-buffer drops") + col([drops(r), drops(c)]));
  lines.push(
    pad('loss at the plugins (measured)') +
      col([r, c].map((l) => `${int(sum(l, (x) => x.result.expected - x.result.arrived))}/${int(sum(l, (x) => x.result.expected))}`)),
  );
  const plugDrops = (l: Round[]) => (l.some((x) => x.result.drops === null) ? 'n/a' : int(sum(l, (x) => x.result.drops!)));
  lines.push(pad("  their sockets' receive-buffer drops") + col([plugDrops(r), plugDrops(c)]));
  const pooled = (l: Round[]) => percentiles(mergeHistograms(l.map((x) => x.result.histogram)), Math.max(...l.map((x) => x.result.maxMs)));
  const rawLatency = pooled(r);
  const coordLatency = pooled(c);
  const signed = (value: number) => `${value >= 0 ? '+' : ''}${ms(value)}`;
  for (const [label, key] of [
    ['latency update -> plugin, rounds pooled: p50', 'p50'],
    ['                                         p99', 'p99'],
    ['                                         max', 'max'],
  ] as const) {
    lines.push(pad(label) + col([ms(rawLatency[key]), ms(coordLatency[key]), signed(coordLatency[key] - rawLatency[key])]));
  }
  const perUpdate = (x: Round) => x.cpuUs / Math.max(1, x.received);
  const rawCpu = med(r, perUpdate);
  const coordCpu = med(c, perUpdate);
  lines.push(pad('relay CPU per update in (this process)') + col([`${rawCpu.toFixed(1)} µs`, `${coordCpu.toFixed(1)} µs`, `${(coordCpu / rawCpu).toFixed(2)}x`]));
  lines.push(pad('  per datagram sent on') + col([`${(rawCpu / fanout).toFixed(2)} µs`, `${(coordCpu / fanout).toFixed(2)} µs`]));
  lines.push(
    pad('  one core: updates in per second') + col([int(1e6 / rawCpu), int(1e6 / coordCpu), `${(rawCpu / coordCpu).toFixed(2)}x`]) + '  (capacity; goal >= 0.60x)',
  );
  lines.push(pad('  event loop utilisation (this process)') + col([med(r, (x) => x.elu).toFixed(2), med(c, (x) => x.elu).toFixed(2)]));
  lines.push(pad('  longest loop delay') + col([r, c].map((l) => `${Math.max(...l.map((x) => x.loopDelayMaxMs)).toFixed(1)} ms`)));
  if (list.every((x) => x.pressure !== null)) {
    lines.push(pad('machine: time some task waited for a CPU (PSI)') + col([r, c].map((l) => `${(100 * med(l, (x) => x.pressure!)).toFixed(0)}%`)));
  }
  return lines;
}

const lines: string[] = [];
lines.push(...table(normal, rateHz, 'meter fan-out'));
for (const [x, list] of fast) {
  lines.push('');
  lines.push(...table(list, rateHz * x, `how far it goes, ${x}x the rate, one round`));
}
lines.push('');
lines.push(
  `the bridge over the whole run: ${int(bridgeCounters.datagrams)} datagrams, ${int(bridgeCounters.updates)} updates delivered, ` +
    `${int(bridgeCounters.unwantedUpdates)} unwanted, ${int(bridgeCounters.badLines)} bad lines, ${int(bridgeCounters.unknownSources)} from unknown sources`,
);
console.log(lines.join('\n'));
