import dgram from 'node:dgram';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { requestPort, type SdkLease } from '../../src/sdk/request-port.js';
import { messageHead, oscString } from '../../src/osc/templates.js';
import { bucketOf, HISTOGRAM_BUCKETS, percentiles, type Percentiles } from '../histogram.js';
import { monotonicMs, udpSocketDrops } from '../procnet.js';
import { nextWorkerMessage } from '../threads.js';

/**
 * The plugins and the Atlas processor's meter stream for the meter fan-out benchmark
 * (bench/meters.bench.ts), in the manner of bench/programs/telemetry.ts: sockets bound and templates
 * built before the clock starts, one sender thread, no per-message promises.
 *
 *   node meters.js COORDINATOR_PORT PLUGINS METERS PROCESSOR_ID SOURCE_HOST TEMPID_PREFIX
 *
 * Setup, off the clock: PLUGINS verified ports through the SDK (tempIDs `TEMPID_PREFIX-i`), and
 * plugin i subscribes to meter i mod the number of METERS (comma-separated params) of PROCESSOR_ID
 * with `/atlas/subscribe` [PROTOCOL §15]. The SDK decodes whatever reaches a leased port; here
 * each port socket counts bytes instead, so its listener goes (the benchmark turns liveness
 * probes off, and nothing else reaches a plugin's port).
 *
 * Each round: a worker thread, on a socket bound at SOURCE_HOST (the processor's address, which
 * the coordinator tells processors apart by), sends one update per datagram as the device does,
 * `{"jsonrpc":"2.0","method":"update","params":{"param":P,"val":K}}`, meter after meter, spread
 * evenly over each tick, to the port the parent names: the coordinator's meter socket or a raw
 * relay. The value K is the update's sequence number (the bridge forwards it as the float of
 * `/atlas/meter`; exact below 2^24), and the sender writes each send time into memory shared with
 * the main thread, where every plugin socket records each arrival against it: one clock, neither
 * thread's event loop delaying the other's.
 *
 * IPC: `ready` (with each plugin's port and meter) once every plugin is verified and subscribed;
 * then `{ type: 'round', target, rateHz, seconds, warmupS }` answered by `round-done` with the
 * results, as often as asked; `release` releases every lease and exits.
 */
const HOST = '127.0.0.1';
/** After the last send: how long the plugins wait for stragglers. */
const DRAIN_MS = 1000;
/** The sender's sleep between sends of what is due. */
const PACE_MS = 0.1;
const METER_HEAD = oscString('/atlas/meter');

interface RoundPlan {
  target: number;
  rateHz: number;
  seconds: number;
  warmupS: number;
  meters: string[];
  sourceHost: string;
  total: number;
  warmCount: number;
  sendAt: SharedArrayBuffer;
}

export interface MeterRoundResult {
  rateHz: number;
  /** Updates sent, warm-up included, and the failed sends. */
  sent: number;
  sendErrors: number;
  /** Updates sent after the warm-up, over how many seconds, and the arrivals they should make. */
  measured: number;
  measuredSeconds: number;
  expected: number;
  /** Arrivals at the plugins' ports of measured updates; duplicates; anything else. */
  arrived: number;
  duplicates: number;
  other: number;
  /** Kernel receive-buffer drops over every plugin socket (/proc/net/udp), null where unavailable. */
  drops: number | null;
  /** Measured arrivals per second, over every plugin. */
  deliveredPerSecond: number;
  /** Send to arrival, ms, every measured arrival; as a histogram to merge across rounds. */
  latency: Percentiles;
  histogram: number[];
  maxMs: number;
  /** The most updates one wake-up of the sender sent (it fell behind when large). */
  maxBatch: number;
}

// ---- the sender (worker thread) ----

function runSender(plan: RoundPlan): void {
  const now = monotonicMs();
  const port = parentPort!;
  const sendAt = new Float64Array(plan.sendAt);
  const { meters, total } = plan;
  const perMs = (meters.length * plan.rateHz) / 1000;
  const heads = meters.map((param) => `{"jsonrpc":"2.0","method":"update","params":{"param":${JSON.stringify(param)},"val":`);
  const TAIL = '}}\n';
  const socket = dgram.createSocket({ type: 'udp4', reuseAddr: false });
  let errors = 0;
  socket.on('error', () => errors++);
  socket.bind({ port: 0, address: plan.sourceHost, exclusive: true }, () => socket.connect(plan.target, HOST, () => port.postMessage({ type: 'ready' })));

  // As in bench/programs/telemetry.ts: a send with no callback has its bytes in the kernel when it returns.
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  port.once('message', () => {
    const t0 = now();
    let sent = 0;
    let maxBatch = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor((now() - t0) * perMs));
      if (due - sent > maxBatch) maxBatch = due - sent;
      while (sent < due) {
        const k = sent;
        const bytes = Buffer.from(`${heads[k % meters.length]}${k}${TAIL}`, 'latin1');
        sendAt[k] = now();
        socket.send(bytes);
        sent++;
      }
      if (sent < total) Atomics.wait(sleeper, 0, 0, PACE_MS);
    }
    setImmediate(() => {
      port.postMessage({ type: 'sent', sent, errors, maxBatch });
      socket.close();
    });
  });
}

// ---- the plugins (main thread) ----

async function runPlugins(): Promise<void> {
  const [portText, pluginsText, metersText, processorId, sourceHost, prefix] = process.argv.slice(2);
  const coordinatorPort = Number(portText);
  const plugins = Number(pluginsText);
  const meters = (metersText ?? '').split(',').filter(Boolean);
  if (!(coordinatorPort > 0) || !(plugins > 0) || meters.length === 0 || !processorId || !sourceHost || !prefix || typeof process.send !== 'function') {
    process.stderr.write('usage (under a parent with IPC): node meters.js COORDINATOR_PORT PLUGINS METERS PROCESSOR_ID SOURCE_HOST TEMPID_PREFIX\n');
    process.exit(2);
  }
  const now = monotonicMs();
  const coordinator = { host: HOST, port: coordinatorPort };
  const leases: SdkLease[] = await Promise.all(
    Array.from({ length: plugins }, (_, i) => requestPort({ tempId: `${prefix}-${i}`, coordinator, timeoutMs: 60_000 })),
  );
  const meterOf = (i: number) => i % meters.length;
  /** Arrivals each update should make: the plugins subscribed to its meter. */
  const fanout = meters.map((_, m) => leases.filter((_, i) => meterOf(i) === m).length);

  // Per round, set before its sender starts.
  let sendAt = new Float64Array(new SharedArrayBuffer(0));
  let arrivals = new Uint16Array(0);
  let warmCount = 0;
  let histogram: number[] = [];
  let maxMs = 0;
  let duplicates = 0;
  let other = 0;
  let arrived = 0;
  const onArrival = (data: Buffer) => {
    const at = now();
    if (!data.subarray(0, METER_HEAD.length).equals(METER_HEAD)) {
      other++;
      return;
    }
    const k = data.readFloatBE(data.length - 4);
    if (!(k >= 0 && k < arrivals.length && Number.isInteger(k)) || sendAt[k] === 0) {
      other++;
      return;
    }
    if (++arrivals[k]! > fanout[k % meters.length]!) {
      duplicates++;
      return;
    }
    if (k < warmCount) return;
    arrived++;
    const ms = Math.max(at - sendAt[k]!, 1e-6);
    const b = bucketOf(ms);
    histogram[b] = histogram[b]! + 1;
    if (ms > maxMs) maxMs = ms;
  };
  for (const lease of leases) {
    lease.socket.removeAllListeners('message');
    lease.socket.on('message', onArrival);
  }

  const subscriber = dgram.createSocket({ type: 'udp4', reuseAddr: false });
  await new Promise<void>((resolve) => subscriber.bind({ port: 0, address: HOST, exclusive: true }, resolve));
  const SUBSCRIBE = messageHead('/atlas/subscribe', 'sss');
  const processor = oscString(processorId);
  const params = meters.map(oscString);
  for (let i = 0; i < plugins; i++) {
    // One at a time: a socket closed with sends still queued drops them.
    await new Promise((resolve) => subscriber.send([SUBSCRIBE, oscString(leases[i]!.tempId), processor, params[meterOf(i)]!], coordinatorPort, HOST, resolve));
  }
  subscriber.close();

  const runRound = async (round: { target: number; rateHz: number; seconds: number; warmupS: number }): Promise<MeterRoundResult> => {
    const total = Math.round(meters.length * round.rateHz * (round.seconds + round.warmupS));
    const plan: RoundPlan = {
      ...round,
      meters,
      sourceHost,
      total,
      warmCount: Math.round(meters.length * round.rateHz * round.warmupS),
      sendAt: new SharedArrayBuffer(8 * total),
    };
    sendAt = new Float64Array(plan.sendAt);
    arrivals = new Uint16Array(total);
    warmCount = plan.warmCount;
    histogram = new Array<number>(HISTOGRAM_BUCKETS).fill(0);
    maxMs = 0;
    duplicates = 0;
    other = 0;
    arrived = 0;
    const drops0 = udpSocketDrops(leases.map((lease) => lease.port));

    const worker = new Worker(new URL(import.meta.url), { workerData: plan });
    await nextWorkerMessage(worker, 'ready');
    const finished = nextWorkerMessage(worker, 'sent');
    worker.postMessage('go');
    const sender = await finished;
    let expected = 0;
    for (let k = warmCount; k < total; k++) expected += fanout[k % meters.length]!;
    const sentAll = now();
    while (arrived < expected && now() - sentAll < DRAIN_MS) await new Promise((resolve) => setTimeout(resolve, 10));
    const drops1 = udpSocketDrops(leases.map((lease) => lease.port));
    await worker.terminate();
    const measuredSeconds = (sendAt[total - 1]! - sendAt[warmCount]!) / 1000;
    const sum = (list: Array<number | null>) => (list.some((x) => x === null) ? null : list.reduce<number>((a, b) => a + b!, 0));
    const dropsBefore = sum(drops0);
    const dropsAfter = sum(drops1);
    return {
      rateHz: round.rateHz,
      sent: sender.sent!,
      sendErrors: sender.errors!,
      measured: total - warmCount,
      measuredSeconds,
      expected,
      arrived,
      duplicates,
      other,
      drops: dropsBefore === null || dropsAfter === null ? null : dropsAfter - dropsBefore,
      deliveredPerSecond: arrived / measuredSeconds,
      latency: percentiles(histogram, maxMs),
      histogram,
      maxMs,
      maxBatch: sender.maxBatch!,
    };
  };

  process.send!({ type: 'ready', plugins: leases.map((lease, i) => ({ tempId: lease.tempId, port: lease.port, meter: meters[meterOf(i)]! })) });
  process.on('message', (message: { type?: string }) => {
    if (message?.type === 'round') {
      void runRound(message as Parameters<typeof runRound>[0]).then((result) => process.send!({ type: 'round-done', result }));
    } else if (message?.type === 'release') {
      void Promise.all(leases.map((lease) => lease.release())).then(() => process.disconnect());
    }
  });
  // Released, or the parent died: nothing left to do, and the plugin sockets would keep this process alive.
  process.once('disconnect', () => process.exit(0));
}

if (isMainThread) await runPlugins();
else runSender(workerData as RoundPlan);
