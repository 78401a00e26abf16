import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import {
  drained,
  median,
  spawnLoadgen,
  spawnSdkClients,
  startBenchCoordinator,
  startEchoServer,
  udpReceiveDrops,
  verifiedSpan,
  type LoadgenResult,
} from './harness.js';

/**
 * The verified handshake under load, beside a raw dgram echo doing the same
 * three exchanges per instance, in the same run (the machine is noisy: only
 * ratios to the echo floor travel).
 *
 * The coordinator runs in this process (journal on, as `oscport start`);
 * every load comes from a child process:
 * - the lean generator (bench/programs/loadgen.ts): sockets bound before the clock,
 *   byte templates, no per-instance timers or promises; it measures the
 *   coordinator, not the client;
 * - the SDK clients (bench/programs/clients.ts): `requestPort` per instance, the
 *   second, labelled figure, whose clients cost more CPU than the coordinator.
 *
 * Per size it reports the wall time from the first request the coordinator
 * receives to the last binding it verifies (its clock; median of ROUNDS after
 * 2 warm-up rounds), the ratio to the echo floor, the coordinator's own CPU per
 * verified handshake (process.cpuUsage() in this process over that span), and
 * heap per bound lease (heapUsed after gc() with the leases bound, minus before).
 *
 * Usage: npm run bench [-- SIZES [ROUNDS [SDK_ROUNDS]]]   defaults 1000,4000 7 3
 */
// gc() is needed for the heap figure: re-run this script under --expose-gc.
if (typeof globalThis.gc !== 'function') {
  const { status, signal } = spawnSync(process.execPath, ['--expose-gc', ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  process.exit(status ?? (signal ? 1 : 0));
}
const gc = globalThis.gc as () => void;

const sizes = (process.argv[2] ?? '1000,4000').split(',').map(Number);
const rounds = Number(process.argv[3] ?? 7);
const WARM_UP = 2;
const sdkRounds = Number(process.argv[4] ?? 3);
const sdkSize = sizes[0]!;
if (sizes.some((n) => !(n > 0) || n > 4000) || !(rounds > 0) || !(sdkRounds >= 0)) {
  process.stderr.write('usage: node handshake.bench.js [SIZES (comma-separated, each 1-4000) [ROUNDS [SDK_ROUNDS]]]\n');
  process.exit(2);
}

const echo = await startEchoServer();
const echoPort = echo.address().port;
const bench = await startBenchCoordinator();
const { coordinator } = bench;
const dropsAtStart = udpReceiveDrops();

function check(result: LoadgenResult, n: number): void {
  if (result.completed !== n) throw new Error(`${result.mode} ${n}: only ${result.completed} completed (${JSON.stringify(result)})`);
}

interface EchoRound {
  ms: number;
  serverCpuUs: number;
}
async function echoRound(n: number): Promise<EchoRound> {
  const generator = spawnLoadgen('echo', echoPort, n);
  await generator.ready;
  const cpu0 = process.cpuUsage();
  const result = await generator.go();
  const cpu = process.cpuUsage(cpu0);
  check(await generator.release(), n);
  check(result, n);
  return { ms: result.ms, serverCpuUs: (cpu.user + cpu.system) / n };
}

interface HandshakeRound {
  ms: number;
  cpuUsPerHandshake: number;
  userUsPerHandshake: number;
  systemUsPerHandshake: number;
  clientMs: number;
  clientCpuUs: number | undefined;
  heapPerLease: number | undefined;
  resent: number;
  forcedReleases: number;
}

/** The coordinator's wall time for a round, and its CPU per handshake. */
function perHandshake({ ms, cpuUs, userUs, systemUs }: Awaited<ReturnType<typeof verifiedSpan>['done']>, n: number) {
  return { ms, cpuUsPerHandshake: cpuUs / n, userUsPerHandshake: userUs / n, systemUsPerHandshake: systemUs / n };
}

async function leanRound(n: number, measureHeap = false): Promise<HandshakeRound> {
  const generator = spawnLoadgen('handshake', coordinator.port, n);
  await generator.ready;
  let heapBefore = 0;
  if (measureHeap) {
    gc();
    gc();
    heapBefore = process.memoryUsage().heapUsed;
  }
  const span = verifiedSpan(coordinator, n);
  span.start();
  const result = await generator.go();
  const spent = await span.done;
  let heapPerLease: number | undefined;
  if (measureHeap) {
    gc();
    gc();
    heapPerLease = (process.memoryUsage().heapUsed - heapBefore) / n;
  }
  const final = await generator.release();
  check(final, n);
  const forcedReleases = await drained(coordinator);
  return {
    ...perHandshake(spent, n),
    clientMs: result.ms,
    clientCpuUs: result.cpuUsPerInstance,
    heapPerLease,
    resent: result.resentRequests + result.resentConfirmations,
    forcedReleases,
  };
}

async function sdkRound(n: number): Promise<HandshakeRound> {
  const span = verifiedSpan(coordinator, n);
  const clients = spawnSdkClients(coordinator.port, n);
  span.start();
  const spent = await span.done;
  const clientMs = await clients.finished;
  const forcedReleases = await drained(coordinator);
  return { ...perHandshake(spent, n), clientMs, clientCpuUs: undefined, heapPerLease: undefined, resent: 0, forcedReleases };
}

const { receiveBuffer } = coordinator.stats();
const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;
process.stderr.write(
  `oscport bench: sizes ${sizes.join(', ')}; ${rounds} rounds after ${WARM_UP} warm-up rounds (SDK clients: ${sdkRounds} rounds of ${sdkSize}); ` +
    `node ${process.version}, ${cpus().length} cores; coordinator receive buffer asked ${mib(receiveBuffer.asked)}, granted ${mib(receiveBuffer.granted)}\n`,
);

const echoes = new Map<number, EchoRound[]>(sizes.map((n) => [n, []]));
const leans = new Map<number, HandshakeRound[]>(sizes.map((n) => [n, []]));
const sdks: HandshakeRound[] = [];
const heaps = new Map<number, number>();

// Warm-up, not counted: the JIT settles over a couple of rounds.
for (let round = 0; round < WARM_UP; round++) {
  for (const n of sizes) {
    await echoRound(n);
    await leanRound(n);
  }
}
if (sdkRounds > 0) await sdkRound(sdkSize);

// Interleaved, so that the machine's noise falls on the echo and the handshakes alike.
for (let round = 1; round <= rounds; round++) {
  const parts: string[] = [];
  for (const n of sizes) {
    const e = await echoRound(n);
    const h = await leanRound(n);
    echoes.get(n)!.push(e);
    leans.get(n)!.push(h);
    parts.push(`${n}: echo ${e.ms.toFixed(1)} ms, lean ${h.ms.toFixed(1)} ms (${(h.ms / e.ms).toFixed(2)}x, ${h.cpuUsPerHandshake.toFixed(0)} µs CPU/hs)`);
    if (n === sdkSize && round <= sdkRounds) {
      const s = await sdkRound(sdkSize);
      sdks.push(s);
      parts.push(`SDK ${s.ms.toFixed(1)} ms (${s.cpuUsPerHandshake.toFixed(0)} µs CPU/hs)`);
    }
  }
  process.stderr.write(`  round ${round}/${rounds}: ${parts.join('; ')}\n`);
}

// Heap per bound lease: one more round per size, off the timed ones (its gc() calls would flatter them).
for (const n of sizes) heaps.set(n, (await leanRound(n, true)).heapPerLease!);

const dropsAtEnd = udpReceiveDrops();
const { counters } = coordinator.stats();
await bench.close();
echo.close();

// ---- report ----

const pad = (text: string, width: number) => text.padEnd(width);
const col = (values: string[]) => values.map((v) => v.padStart(16)).join('');
const fmtMs = (ms: number) => `${ms.toFixed(1)} ms`;
const med = <T>(list: T[], pick: (item: T) => number) => median(list.map(pick));
const W = 46;
/** The round whose CPU per handshake is the median, for its user/system split. */
const medianRound = (list: HandshakeRound[]) => [...list].sort((a, b) => a.cpuUsPerHandshake - b.cpuUsPerHandshake)[Math.floor(list.length / 2)]!;
const split = (h: HandshakeRound) => `${h.userUsPerHandshake.toFixed(0)} + ${h.systemUsPerHandshake.toFixed(0)}`;
const lines: string[] = [];
lines.push(pad(`median of ${rounds} rounds after warm-up`, W) + col(sizes.map((n) => `${n} instances`)));
lines.push(pad('raw dgram echo, 3 exchanges per instance', W) + col(sizes.map((n) => fmtMs(med(echoes.get(n)!, (e) => e.ms)))));
lines.push(pad('lean generator: verified handshakes', W) + col(sizes.map((n) => fmtMs(med(leans.get(n)!, (h) => h.ms)))));
lines.push(
  pad('  ratio handshake / echo (goal <= 3x)', W) +
    col(sizes.map((n) => `${(med(leans.get(n)!, (h) => h.ms) / med(echoes.get(n)!, (e) => e.ms)).toFixed(2)}x`)),
);
lines.push(
  pad('  median of the per-round ratios', W) +
    col(sizes.map((n) => `${median(leans.get(n)!.map((h, i) => h.ms / echoes.get(n)![i]!.ms)).toFixed(2)}x`)),
);
lines.push(pad('  handshakes per second', W) + col(sizes.map((n) => String(Math.round((n / med(leans.get(n)!, (h) => h.ms)) * 1000)))));
lines.push(
  pad('  coordinator CPU per handshake (goal <= 100)', W) + col(sizes.map((n) => `${med(leans.get(n)!, (h) => h.cpuUsPerHandshake).toFixed(0)} µs`)),
);
lines.push(pad('    of which user + system', W) + col(sizes.map((n) => split(medianRound(leans.get(n)!)))));
lines.push(pad('  heap per bound lease', W) + col(sizes.map((n) => `${(heaps.get(n)! / 1024).toFixed(2)} KiB`)));
lines.push(pad('  generator CPU per instance (its process)', W) + col(sizes.map((n) => `${med(leans.get(n)!, (h) => h.clientCpuUs!).toFixed(0)} µs`)));
lines.push(pad('  echo server CPU per instance (3 exchanges)', W) + col(sizes.map((n) => `${med(echoes.get(n)!, (e) => e.serverCpuUs).toFixed(0)} µs`)));
if (sdks.length > 0) {
  const sdkMs = med(sdks, (s) => s.ms);
  const floor = med(echoes.get(sdkSize)!, (e) => e.ms);
  lines.push('');
  lines.push(`SDK clients (bench/programs/clients.ts, requestPort per instance), ${sdkSize} instances, median of ${sdks.length}:`);
  lines.push(pad('  verified handshakes', W) + col([fmtMs(sdkMs)]));
  lines.push(pad(`  ratio to the ${sdkSize}-instance echo floor`, W) + col([`${(sdkMs / floor).toFixed(2)}x`]));
  lines.push(pad('  coordinator CPU per handshake', W) + col([`${med(sdks, (s) => s.cpuUsPerHandshake).toFixed(0)} µs`]));
  lines.push(pad('    of which user + system', W) + col([split(medianRound(sdks))]));
}
const resent = [...leans.values()].flat().reduce((sum, h) => sum + h.resent, 0);
const forced = [...leans.values(), sdks].flat().reduce((sum, h) => sum + h.forcedReleases, 0);
lines.push('');
lines.push(
  `coordinator: ${counters.bound} bound, ${counters.repeatedRequests} repeated requests, ${counters.assignmentTimeouts} assignment timeouts, ` +
    `${counters.probeFailures} unanswered probes, ${counters.portsHeldElsewhere} ports held elsewhere, ${counters.malformed} malformed`,
);
lines.push(
  `loss: ${resent} generator resends, ${forced} leases released by the bench (release lost), ` +
    `${dropsAtStart === null || dropsAtEnd === null ? 'n/a' : dropsAtEnd - dropsAtStart} UDP receive-buffer drops machine-wide`,
);
console.log(lines.join('\n'));
