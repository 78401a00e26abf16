import dgram from 'node:dgram';
import { cpus } from 'node:os';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { GatherResult } from './programs/gatherer.js';
import { drained, median, relayRounds, spawnIpcChild, spawnLoadgen, startBenchCoordinator, startSentinel, type LoadgenRun, type RelayMode } from './harness.js';
import { col, int, medianOf, ms, pad, sumOf } from './report.js';
import { mergeHistograms, percentiles, type Percentiles } from './histogram.js';
import { disturbedSpans } from './pauses.js';
import { cpuPressureUs, udpSocketDrops } from './procnet.js';
import type { TelemetryResult } from './programs/telemetry.js';

/**
 * Plugin telemetry through the coordinator to its controllers, beside a plain dgram relay doing
 * the same in the same run; then the calibration gather.
 *
 * Relay: N plugins (the lean handshake generator binds them first, so the traffic is its leases')
 * each send `/aiplayer/telemetry ,sfffff` and `/aiplayer/rms ,sf` RATE times a second, spread
 * evenly over each tick, from a child process (bench/programs/telemetry.ts) whose two controllers record
 * every arrival against the send time on one clock. The relay under test runs in this process:
 * - the coordinator, to which the controllers subscribe (`/coordinator/subscribe`), forwarding
 *   every plugin message to both, byte for byte [PROTOCOL §12];
 * - the floor: a dgram socket that sends each datagram it receives to both controllers.
 * Rounds alternate between the two, so the machine's noise falls on both. Per round: messages
 * sent and delivered per second over the measured span (after a warm-up), loss at the relay
 * (received against sent, its socket's kernel drops, forwarded against twice received) and at the
 * controllers, send-to-arrival latency percentiles, and the relay's CPU per datagram
 * (process.cpuUsage() in this process), whose inverse is what one core could relay. A
 * higher-rate round of each (HEADROOM times the rate) shows how far it goes.
 *
 * The machine itself pauses (a virtual machine's guest stops for tens of milliseconds every few
 * seconds): a sentinel process (bench/programs/sentinel.ts) records every pause, and latency is also given
 * over the messages sent outside the pauses and their wake (bench/pauses.ts), the same spans set
 * aside for both relays, so that what stays is what each relay adds. The gathers likewise.
 *
 * Gather: G plugins bound by the lean generator, which answers every `/aiplayer/query_rms`; one
 * controller (bench/programs/gatherer.ts) runs gathers one after another and times each from its
 * `/coordinator/query_rms` to the last part of the answer [PROTOCOL §14].
 *
 * Usage: node dist/bench/relay.bench.js [PLUGINS [ROUNDS [SECONDS [HEADROOM [GATHER_PLUGINS [GATHERS]]]]]]
 *        defaults 1000 5 3 2,4 128 200 (HEADROOM: rate multipliers, comma-separated, one round each; 0 for none)
 */
const HOST = '127.0.0.1';
const RATE_HZ = 24;
const WARMUP_S = 1;
const GATHER_WARMUP = 10;
const GATHER_TIMEOUT_MS = 1000;
const GATHER_GAP_MS = 5;
const RELAY_PREFIX = 'tp';
const GATHER_PREFIX = 'gp';
const TELEMETRY = fileURLToPath(new URL('./programs/telemetry.js', import.meta.url));
const GATHERER = fileURLToPath(new URL('./programs/gatherer.js', import.meta.url));

const args = process.argv.slice(2);
const plugins = Number(args[0] ?? 1000);
const rounds = Number(args[1] ?? 5);
const seconds = Number(args[2] ?? 3);
const headroom = (args[3] ?? '2,4').split(',').map(Number).filter((x) => x !== 0);
const gatherPlugins = Number(args[4] ?? 128);
const gathers = Number(args[5] ?? 200);
if (![plugins, rounds, seconds, gatherPlugins, gathers, ...headroom].every((n) => n > 0) || plugins > 4000 || gatherPlugins > 4000) {
  process.stderr.write('usage: node relay.bench.js [PLUGINS [ROUNDS [SECONDS [HEADROOM [GATHER_PLUGINS [GATHERS]]]]]]\n');
  process.exit(2);
}

async function bindPlugins(count: number, prefix: string): Promise<LoadgenRun> {
  const generator = spawnLoadgen('handshake', coordinator.port, count, prefix);
  await generator.ready;
  const result = await generator.go();
  if (result.completed !== count) throw new Error(`only ${result.completed} of ${count} plugins bound`);
  return generator;
}

// ---- the relays under test ----

// Liveness probes are kept off the measured spans: 1000 leases probed at once would stall this
// process's loop in whichever round it fell (real telemetry keeps leases from silence probes).
const bench = await startBenchCoordinator({ livenessIntervalMs: 600_000, reverifyIntervalMs: 600_000 });
const sentinel = await startSentinel();
const { coordinator } = bench;

const raw = dgram.createSocket({ type: 'udp4', reuseAddr: false });
await new Promise<void>((resolve) => raw.bind({ port: 0, address: HOST, exclusive: true }, resolve));
raw.setRecvBufferSize(coordinator.settings.receiveBufferBytes); // as the coordinator asks
const rawPort = raw.address().port;
let rawTargets: number[] = [];
let rawReceived = 0;
let rawForwarded = 0;
raw.on('message', (data) => {
  rawReceived++;
  const targets = rawTargets;
  for (let n = 0; n < targets.length; n++) raw.send(data, targets[n]!, HOST);
  rawForwarded += targets.length;
});

interface Round {
  mode: RelayMode;
  telemetry: TelemetryResult;
  /** At the relay: datagrams received, sent on, dropped by its socket's full buffer; its CPU. */
  received: number;
  forwarded: number;
  drops: number | null;
  cpuUs: number;
  /** This process's event loop utilisation over the round, its longest loop delay and GC pause (ms). */
  elu: number;
  loopDelayMaxMs: number;
  gcMaxMs: number;
  /** The share of the round during which some task on the machine waited for a CPU (PSI), null where unknown. */
  pressure: number | null;
}

// Stalls of this process (the relay's), to tell them from the machine's.
let gcMaxMs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMaxMs = Math.max(gcMaxMs, entry.duration);
}).observe({ entryTypes: ['gc'] });
const loopDelay = monitorEventLoopDelay({ resolution: 1 });
loopDelay.enable();

function relayCounters(mode: RelayMode) {
  const port = mode === 'raw' ? rawPort : coordinator.port;
  const { counters } = coordinator.stats();
  return {
    received: mode === 'raw' ? rawReceived : counters.pluginTraffic,
    forwarded: mode === 'raw' ? rawForwarded : counters.forwarded,
    drops: udpSocketDrops([port])[0] ?? null,
  };
}

async function relayRound(mode: RelayMode, rateHz: number): Promise<Round> {
  const target = mode === 'raw' ? rawPort : coordinator.port;
  const child = spawnIpcChild(TELEMETRY, [mode, target, plugins, rateHz, seconds, WARMUP_S, RELAY_PREFIX]);
  const { controllers } = await child.next<{ controllers: number[] }>('ready');
  if (mode === 'raw') rawTargets = controllers;
  const done = child.next<{ result: TelemetryResult }>('done');
  void child.next<{ from: number; to: number }>('measured').then(async ({ from, to }) => child.send({ type: 'pauses', pauses: await sentinel.pauses(from, to) }), () => {});
  const before = relayCounters(mode);
  const elu0 = performance.eventLoopUtilization();
  gcMaxMs = 0;
  loopDelay.reset();
  const pressure0 = cpuPressureUs();
  const wall0 = performance.now();
  const cpu0 = process.cpuUsage();
  child.go();
  const { result } = await done;
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0).utilization;
  const pressure1 = cpuPressureUs();
  const pressure = pressure0 === null || pressure1 === null ? null : (pressure1 - pressure0) / 1000 / (performance.now() - wall0);
  const stalls = { loopDelayMaxMs: loopDelay.max / 1e6, gcMaxMs, pressure };
  const after = relayCounters(mode);
  rawTargets = [];
  await child.exited;
  return {
    mode,
    telemetry: result,
    received: after.received - before.received,
    forwarded: after.forwarded - before.forwarded,
    drops: after.drops === null || before.drops === null ? null : after.drops - before.drops,
    cpuUs: cpu.user + cpu.system,
    elu,
    ...stalls,
  };
}

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;
process.stderr.write(
  `oscport relay bench: ${plugins} plugins at ${RATE_HZ} Hz, ${rounds} rounds of ${seconds} s after ${WARMUP_S} s warm-up` +
    `${headroom.length > 0 ? `, then one at ${headroom.map((x) => `${x}x`).join(', ')} the rate` : ''}; gather across ${gatherPlugins} plugins x ${gathers}; ` +
    `node ${process.version}, ${cpus().length} cores; receive buffers asked ${mib(coordinator.settings.receiveBufferBytes)}, ` +
    `granted coordinator ${mib(coordinator.stats().receiveBuffer.granted)}, raw relay ${mib(raw.getRecvBufferSize())}\n`,
);

const relayLoad = await bindPlugins(plugins, RELAY_PREFIX);
const describe = (r: Round) =>
  `${r.mode} ${Math.round(r.telemetry.deliveredPerSecond)}/s, p50 ${r.telemetry.latency.p50.toFixed(3)} p99 ${r.telemetry.latency.p99.toFixed(3)} ms, ` +
  `lost ${r.telemetry.sent - r.received} at relay / ${r.telemetry.controllers.reduce((sum, c) => sum + c.lostMeasured, 0)} at controllers, ` +
  `${(r.cpuUs / Math.max(1, r.received)).toFixed(1)} µs CPU/datagram, loop delay max ${r.loopDelayMaxMs.toFixed(1)} ms, ` +
  `GC max ${r.gcMaxMs.toFixed(1)} ms, sender burst max ${r.telemetry.maxBatch}` +
  `${r.pressure === null ? '' : `, CPU pressure ${(100 * r.pressure).toFixed(0)}%`}`;
const { normal, fast } = await relayRounds(rounds, headroom, (mode, x) => relayRound(mode, RATE_HZ * x), describe);
await relayLoad.release();
await drained(coordinator);

// ---- the gather ----

const gatherLoad = await bindPlugins(gatherPlugins, GATHER_PREFIX);
const gatherer = spawnIpcChild(GATHERER, [coordinator.port, gatherPlugins, gathers, GATHER_WARMUP, GATHER_TIMEOUT_MS, GATHER_GAP_MS]);
await gatherer.next('ready');
const measuring = gatherer.next('measuring');
const gatherDone = gatherer.next<{ result: GatherResult }>('done');
gatherer.go();
await measuring;
const gatherCpu0 = process.cpuUsage();
const gathers0 = coordinator.stats().counters.gathers;
const { result: gather } = await gatherDone;
const gatherCpu = process.cpuUsage(gatherCpu0);
const gathersCounted = coordinator.stats().counters.gathers - gathers0;
await gatherer.exited;
await gatherLoad.release();
await drained(coordinator);
await bench.close();
const gatherPauses = gather.startedAt.length > 0 ? await sentinel.pauses(gather.startedAt[0]!, gather.startedAt.at(-1)! + GATHER_TIMEOUT_MS) : [];
sentinel.stop();
raw.close();

// ---- report ----

const of = (list: Round[], mode: RelayMode) => list.filter((r) => r.mode === mode);
const sum = sumOf<Round>;
const med = medianOf<Round>;
const lostAtControllers = (r: Round) => r.telemetry.controllers.reduce((total, c) => total + c.lostMeasured, 0);
const dropsAt = (list: Round[]) => (list.some((r) => r.drops === null) ? 'n/a' : int(sum(list, (r) => r.drops!)));
const controllerDrops = (list: Round[]) =>
  list.some((r) => r.telemetry.controllers.some((c) => c.drops === null))
    ? 'n/a'
    : int(sum(list, (r) => r.telemetry.controllers.reduce((total, c) => total + c.drops!, 0)));

function table(list: Round[], rateHz: number, title: string): string[] {
  const r = of(list, 'raw');
  const c = of(list, 'coordinator');
  const lines: string[] = [];
  const offered = plugins * rateHz * 2;
  // Latency over every measured arrival of every round, pooled per relay.
  const pooled = (list: Round[]) => percentiles(mergeHistograms(list.map((x) => x.telemetry.histogram)), Math.max(...list.map((x) => x.telemetry.maxMs)));
  const rawLatency = pooled(r);
  const coordLatency = pooled(c);
  const signed = (value: number) => `${value >= 0 ? '+' : ''}${ms(value)}`;
  const latencyRow = (label: string, pick: (p: Percentiles) => number, goal = '') => {
    const a = pick(rawLatency);
    const b = pick(coordLatency);
    lines.push(pad(label) + col([ms(a), ms(b), signed(b - a)]) + goal);
  };
  const cpuPer = (x: Round) => x.cpuUs / Math.max(1, x.received);
  lines.push(`${title}: ${plugins} plugins x ${rateHz} Hz x 2 messages = ${int(offered)} messages/s, to 2 controllers`);
  lines.push(pad(`${seconds} s after ${WARMUP_S} s warm-up; median of ${c.length}, loss summed`) + col(['raw dgram relay', 'coordinator', 'coord. vs raw']));
  lines.push(pad('messages sent per second') + col([int(med(r, (x) => x.telemetry.sentPerSecond)), int(med(c, (x) => x.telemetry.sentPerSecond))]));
  const rawThroughput = med(r, (x) => x.telemetry.deliveredPerSecond);
  const coordThroughput = med(c, (x) => x.telemetry.deliveredPerSecond);
  lines.push(
    pad('throughput: delivered per second, per controller') +
      col([int(rawThroughput), int(coordThroughput), `${(coordThroughput / rawThroughput).toFixed(2)}x`]) +
      '  (goal >= 0.60x)',
  );
  lines.push(
    pad('loss at the relay: sent - received (whole run)') +
      col([`${int(sum(r, (x) => x.telemetry.sent - x.received))}/${int(sum(r, (x) => x.telemetry.sent))}`, `${int(sum(c, (x) => x.telemetry.sent - x.received))}/${int(sum(c, (x) => x.telemetry.sent))}`]) +
      '  (goal 0)',
  );
  lines.push(pad('  its socket\'s receive-buffer drops') + col([dropsAt(r), dropsAt(c)]));
  lines.push(
    pad('  forwarded / (2 x received)') +
      col([(sum(r, (x) => x.forwarded) / (2 * sum(r, (x) => x.received))).toFixed(4), (sum(c, (x) => x.forwarded) / (2 * sum(c, (x) => x.received))).toFixed(4)]),
  );
  lines.push(
    pad('loss at the controllers (measured, both)') +
      col([`${int(sum(r, lostAtControllers))}/${int(2 * sum(r, (x) => x.telemetry.measured))}`, `${int(sum(c, lostAtControllers))}/${int(2 * sum(c, (x) => x.telemetry.measured))}`]),
  );
  lines.push(pad('  their sockets\' receive-buffer drops') + col([controllerDrops(r), controllerDrops(c)]));
  latencyRow('latency send -> controller, rounds pooled: p50', (p) => p.p50);
  latencyRow('                                          p90', (p) => p.p90);
  latencyRow('                                          p99', (p) => p.p99);
  latencyRow('                                        p99.9', (p) => p.p999);
  latencyRow('                                          max', (p) => p.max);
  // The same arrivals, less those of messages sent during a machine pause or while it was worked off.
  const calm = (list: Round[]) =>
    percentiles(mergeHistograms(list.map((x) => x.telemetry.calm.histogram)), Math.max(...list.map((x) => x.telemetry.calm.maxMs)));
  const rawCalm = calm(r);
  const coordCalm = calm(c);
  const calmRow = (label: string, pick: (p: Percentiles) => number, goal = '') =>
    lines.push(pad(label) + col([ms(pick(rawCalm)), ms(pick(coordCalm)), signed(pick(coordCalm) - pick(rawCalm))]) + goal);
  lines.push(
    pad('machine pauses (sentinel, > 5 ms): count, longest') +
      col([r, c].map((l) => `${l.reduce((n, x) => n + x.telemetry.pauses.length, 0)}, ${Math.max(0, ...l.flatMap((x) => x.telemetry.pauses.map((p) => p.end - p.start))).toFixed(1)} ms`)),
  );
  const calmShare = (l: Round[]) => sum(l, (x) => x.telemetry.calm.share * x.telemetry.measured) / sum(l, (x) => x.telemetry.measured);
  lines.push(pad('  messages sent outside them and their wake') + col([r, c].map((l) => `${(100 * calmShare(l)).toFixed(1)}%`)));
  calmRow('latency outside the pauses, pooled: p50', (p) => p.p50);
  calmRow('                                    p99', (p) => p.p99, '  (goal: added <= 1 ms)');
  calmRow('                                  p99.9', (p) => p.p999);
  if (c.length > 1) {
    // Each round ran one of each, back to back: the difference within each round, then the median.
    const roundRow = (label: string, pick: (p: Percentiles) => number) => {
      const added = median(c.map((x, i) => pick(x.telemetry.latency) - pick(r[i]!.telemetry.latency)));
      lines.push(pad(label) + col([ms(med(r, (x) => pick(x.telemetry.latency))), ms(med(c, (x) => pick(x.telemetry.latency))), signed(added)]));
    };
    roundRow('  median of the rounds\' own p50', (p) => p.p50);
    roundRow('                              p99', (p) => p.p99);
  }
  const rawCpu = med(r, cpuPer);
  const coordCpu = med(c, cpuPer);
  lines.push(pad('relay CPU per datagram in (this process)') + col([`${rawCpu.toFixed(1)} µs`, `${coordCpu.toFixed(1)} µs`, `${(coordCpu / rawCpu).toFixed(2)}x`]));
  lines.push(
    pad('  one core: datagrams in per second') + col([int(1e6 / rawCpu), int(1e6 / coordCpu), `${(rawCpu / coordCpu).toFixed(2)}x`]) + '  (capacity; goal >= 0.60x)',
  );
  lines.push(pad('  event loop utilisation (this process)') + col([med(r, (x) => x.elu).toFixed(2), med(c, (x) => x.elu).toFixed(2)]));
  lines.push(
    pad('  longest loop delay, longest GC pause') +
      col([r, c].map((list) => `${Math.max(...list.map((x) => x.loopDelayMaxMs)).toFixed(1)}, ${Math.max(...list.map((x) => x.gcMaxMs)).toFixed(1)} ms`)),
  );
  if (list.every((x) => x.pressure !== null)) {
    lines.push(pad('machine: time some task waited for a CPU (PSI)') + col([r, c].map((l) => `${(100 * med(l, (x) => x.pressure!)).toFixed(0)}%`)));
  }
  lines.push(pad('generator process CPU per message (both threads)') + col([`${med(r, (x) => x.telemetry.cpuUsPerMessage).toFixed(1)} µs`, `${med(c, (x) => x.telemetry.cpuUsPerMessage).toFixed(1)} µs`]));
  lines.push(
    pad('  messages per sender wake-up, mean and most') +
      col([r, c].map((list) => `${med(list, (x) => x.telemetry.meanBatch).toFixed(1)}, ${Math.max(...list.map((x) => x.telemetry.maxBatch))}`)),
  );
  return lines;
}

const lines: string[] = [];
lines.push(...table(normal, RATE_HZ, 'telemetry relay'));
for (const [x, list] of fast) {
  lines.push('');
  lines.push(...table(list, RATE_HZ * x, `how far it goes, ${x}x the rate, one round`));
}
const times = gather.ms.filter((value) => Number.isFinite(value));
const sortedTimes = [...times].sort((a, b) => a - b);
const quantile = (q: number) => sortedTimes[Math.min(sortedTimes.length - 1, Math.floor(q * sortedTimes.length))]!;
lines.push('');
lines.push(
  `calibration gather: ${gatherPlugins} bound plugins, one controller; ${gathers} gathers after ${GATHER_WARMUP} warm-up, ` +
    `${GATHER_GAP_MS} ms apart (timeout ${GATHER_TIMEOUT_MS} ms)`,
);
lines.push(pad('query_rms to last part, p50') + col([ms(quantile(0.5))]));
lines.push(pad('                         p90') + col([ms(quantile(0.9))]));
lines.push(pad('                         p99') + col([ms(quantile(0.99))]));
lines.push(pad('                         max') + col([ms(sortedTimes.at(-1)!)]));
// Gathers that overlapped a machine pause, or its wake, set aside.
const disturbed = disturbedSpans(gatherPauses);
const calmTimes = gather.ms
  .filter((value, n) => Number.isFinite(value) && !disturbed.some((span) => gather.startedAt[n]! <= span.end && gather.startedAt[n]! + value >= span.start))
  .sort((a, b) => a - b);
const calmQuantile = (q: number) => calmTimes[Math.min(calmTimes.length - 1, Math.floor(q * calmTimes.length))] ?? NaN;
lines.push(
  pad('machine pauses (> 5 ms) during the gathers') +
    col([`${gatherPauses.length}, longest ${Math.max(0, ...gatherPauses.map((p) => p.end - p.start)).toFixed(1)} ms`]) +
    `  (${times.length - calmTimes.length} gathers overlapped one or its wake)`,
);
lines.push(pad('outside the pauses, p50') + col([ms(calmQuantile(0.5))]));
lines.push(pad('                    p99') + col([ms(calmQuantile(0.99))]) + '  (goal <= 10 ms)');
lines.push(pad('coordinator CPU per gather') + col([`${((gatherCpu.user + gatherCpu.system) / gathers).toFixed(0)} µs`]));
lines.push(
  pad('answers') +
    `${Math.min(...gather.answered)}-${Math.max(...gather.answered)} of ${gatherPlugins} per gather, ${gather.missing.reduce((a, b) => a + b, 0)} silent in all, ` +
    `${gather.parts} parts per answer, ${gathers - times.length} incomplete, ${gathersCounted} counted by the coordinator, ` +
    `${gather.errors.length} errors`,
);
console.log(lines.join('\n'));
