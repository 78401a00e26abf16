import dgram from 'node:dgram';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { bucketOf, HISTOGRAM_BUCKETS, percentiles, type Percentiles } from '../histogram.js';
import { disturbedSpans, within, type Pause } from '../pauses.js';
import { monotonicMs, udpSocketDrops } from '../procnet.js';
import { nextWorkerMessage } from '../threads.js';
import { messageHead, oscString } from '../../src/osc/templates.js';

/**
 * A lean telemetry generator with its two controllers, for the relay benchmark
 * (bench/relay.bench.ts), in the manner of bench/programs/loadgen.ts: sockets bound and
 * byte templates built before the clock starts, one shared timer, no
 * per-message promises or encoding.
 *
 *   node telemetry.js coordinator|raw PORT PLUGINS RATE_HZ SECONDS WARMUP_S TEMPID_PREFIX
 *
 * Every plugin sends, RATE_HZ times a second, `/aiplayer/telemetry ,sfffff id rms low lowMid
 * highMid high` and `/aiplayer/rms ,sf id rms` [PROTOCOL §9] to PORT: the coordinator, or a raw
 * dgram relay. The id is `TEMPID_PREFIX-i`, the tempIDs the lean handshake generator bound, so
 * the coordinator takes the traffic as its leases'. The messages of one tick are spread evenly
 * over it, plugin after plugin, telemetry then rms: the sender wakes about every 0.1 ms
 * (Atomics.wait, its own thread) and sends whatever is due, a few messages at a time, as
 * unsynchronised plugins would (a 1 ms timer would send them in bursts of 48, and the relay's
 * queueing behind each burst would swamp what it adds).
 *
 * Each message carries its sequence number in its last float (`high`, or `rms`): a valid
 * message still, exact as a float32 below 2^24. The sender runs in a worker thread and writes
 * each message's send time, just before the send, into memory shared with this process's main
 * thread, where the two controllers (sockets with big receive buffers) record each arrival: one
 * clock (CLOCK_MONOTONIC), and neither side's event loop delays the other's.
 *
 * coordinator: the controllers register with `/coordinator/subscribe` before the clock, and
 * unsubscribe after. raw: the parent relays to the controller ports this process reports.
 *
 * Under a parent with an IPC channel: reports `ready` (with the controllers' ports) once every
 * socket is bound, waits for `go`, sends WARMUP_S + SECONDS of traffic, waits for the last
 * arrivals (1 s at most), asks for the machine's pauses over the measured span (`measured`,
 * answered by `pauses`: bench/programs/sentinel.ts), reports `done` with the results and exits. Only
 * messages sent after the warm-up count for loss, throughput and latency; the latency is given
 * over all of them, and over those sent outside the machine's pauses (bench/pauses.ts).
 */
const HOST = '127.0.0.1';
/** Sockets the plugins send from, each connected to PORT (the relay sees many sources, like real plugins). */
const SENDER_SOCKETS = 16;
const CONTROLLERS = 2;
const RECEIVE_BUFFER = 8 * 1024 * 1024; // Linux caps it at net.core.rmem_max (and reports double)
/** After the last send: how long the controllers wait for stragglers. */
const DRAIN_MS = 1000;
/** The sender's sleep between sends of what is due. */
const PACE_MS = 0.1;

interface Plan {
  mode: 'coordinator' | 'raw';
  target: number;
  plugins: number;
  rateHz: number;
  seconds: number;
  warmupS: number;
  prefix: string;
  total: number;
  warmCount: number;
  sendAt: SharedArrayBuffer;
}

const floats = (...values: number[]) => {
  const bytes = Buffer.alloc(4 * values.length);
  values.forEach((value, n) => bytes.writeFloatBE(value, 4 * n));
  return bytes;
};

// ---- the sender (worker thread) ----

function runSender(plan: Plan): void {
  const now = monotonicMs();
  const port = parentPort!;
  const sendAt = new Float64Array(plan.sendAt);
  const { plugins, total } = plan;
  const perMs = (plugins * plan.rateHz * 2) / 1000;
  // One template per plugin and message; the sequence number is written into its last float before
  // each send. A send copies the bytes into the kernel at once (the buffer is reused a tick later).
  const telemetryHead = messageHead('/aiplayer/telemetry', 'sfffff');
  const rmsHead = messageHead('/aiplayer/rms', 'sf');
  const telemetry: Buffer[] = [];
  const rms: Buffer[] = [];
  for (let p = 0; p < plugins; p++) {
    const id = oscString(`${plan.prefix}-${p}`);
    telemetry.push(Buffer.concat([telemetryHead, id, floats(0.25, 0.1, 0.2, 0.15, 0)]));
    rms.push(Buffer.concat([rmsHead, id, floats(0)]));
  }
  const sockets: dgram.Socket[] = [];
  let errors = 0;
  let connected = 0;
  for (let n = 0; n < SENDER_SOCKETS; n++) {
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    sockets.push(socket);
    socket.on('error', () => errors++);
    socket.bind({ port: 0, address: HOST, exclusive: true }, () =>
      socket.connect(plan.target, HOST, () => {
        if (++connected === SENDER_SOCKETS) port.postMessage({ type: 'ready' });
      }),
    );
  }

  // The run blocks this thread's event loop: a send with no callback completes synchronously
  // (the bytes are in the kernel when it returns), and socket errors are counted at the end.
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  port.once('message', () => {
    const t0 = now();
    let sent = 0;
    let maxBatch = 0;
    let wakeups = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor((now() - t0) * perMs));
      if (due - sent > maxBatch) maxBatch = due - sent;
      while (sent < due) {
        const k = sent;
        const p = (k >>> 1) % plugins;
        const bytes = (k & 1) === 0 ? telemetry[p]! : rms[p]!;
        bytes.writeFloatBE(k, bytes.length - 4);
        sendAt[k] = now();
        sockets[p % SENDER_SOCKETS]!.send(bytes);
        sent++;
      }
      wakeups++;
      if (sent < total) Atomics.wait(sleeper, 0, 0, PACE_MS);
    }
    // Let pending socket events ('error') run before reporting.
    setImmediate(() => port.postMessage({ type: 'sent', sent, errors, maxBatch, meanBatch: total / wakeups }));
  });
}

// ---- the controllers (main thread) ----

interface ControllerResult {
  port: number;
  receiveBuffer: number;
  /** Telemetry and rms messages that arrived, warm-up included. */
  received: number;
  /** Of the messages sent after the warm-up: arrived, and never arrived. */
  receivedMeasured: number;
  lostMeasured: number;
  duplicates: number;
  /** Anything else: lease events, unrecognised datagrams. */
  other: number;
  /** Kernel receive-buffer drops on this socket (/proc/net/udp), null where unavailable. */
  drops: number | null;
}

export interface TelemetryResult {
  mode: 'coordinator' | 'raw';
  plugins: number;
  rateHz: number;
  offeredPerSecond: number;
  /** Every message sent, warm-up included, and the failed sends. */
  sent: number;
  sendErrors: number;
  measured: number;
  measuredSeconds: number;
  /** Messages sent per second over the measured span. */
  sentPerSecond: number;
  /** The most messages, and the mean, one wake-up of the sender sent (it fell behind when large). */
  maxBatch: number;
  meanBatch: number;
  controllers: ControllerResult[];
  /** Measured messages delivered per second, per controller (the lower of the two). */
  deliveredPerSecond: number;
  /** Send to arrival, ms, over both controllers' measured arrivals. */
  latency: Percentiles;
  /** The same, as a histogram (bench/histogram.ts) to merge across rounds, and its exact maximum. */
  histogram: number[];
  maxMs: number;
  /** This process's CPU (both threads) per message sent. */
  cpuUsPerMessage: number;
  /** The machine's pauses during the measured span; the latency of the arrivals of messages sent outside them. */
  pauses: Pause[];
  calm: { share: number; latency: Percentiles; histogram: number[]; maxMs: number };
}

/** The machine's pauses over [from, to], from the parent's sentinel. */
function machinePauses(from: number, to: number): Promise<Pause[]> {
  return new Promise((resolve) => {
    const listener = (message: { type?: string; pauses?: Pause[] }) => {
      if (message?.type !== 'pauses') return;
      process.off('message', listener);
      resolve(message.pauses!);
    };
    process.on('message', listener);
    process.send!({ type: 'measured', from, to });
  });
}

async function runControllers(plan: Plan): Promise<void> {
  const now = monotonicMs();
  const sendAt = new Float64Array(plan.sendAt);
  const { total, warmCount } = plan;
  const latencies = Array.from({ length: CONTROLLERS }, () => new Float32Array(total));
  const counts = Array.from({ length: CONTROLLERS }, () => ({ received: 0, duplicates: 0, other: 0 }));
  const subscribed: boolean[] = new Array(CONTROLLERS).fill(false);
  const unsubscribed: boolean[] = new Array(CONTROLLERS).fill(false);
  let renewWithinMs = 0;
  const SUBSCRIBED = '/coordinator/subscribed';
  const UNSUBSCRIBED = '/coordinator/unsubscribed';

  const onMessage = (c: number, data: Buffer) => {
    const at = now();
    // '/aiplayer/t...' or '/aiplayer/r...': ours; '/coordinator/...': subscriptions and lease events.
    if (data.length >= 24 && data[1] === 0x61 && (data[10] === 0x74 || data[10] === 0x72)) {
      const k = data.readFloatBE(data.length - 4);
      const sentAt = k >= 0 && k < total && Number.isInteger(k) ? sendAt[k]! : 0;
      const lat = latencies[c]!;
      if (sentAt === 0) counts[c]!.other++;
      else if (lat[k] !== 0) counts[c]!.duplicates++;
      else {
        lat[k] = Math.max(at - sentAt, 1e-6);
        counts[c]!.received++;
      }
      return;
    }
    const text = data.toString('latin1', 0, Math.min(data.length, 32));
    if (text.startsWith(SUBSCRIBED) && text.charCodeAt(SUBSCRIBED.length) === 0) {
      subscribed[c] = true;
      renewWithinMs = data.readInt32BE(data.length - 4);
    } else if (text.startsWith(UNSUBSCRIBED)) unsubscribed[c] = true;
    else counts[c]!.other++;
  };

  const sockets = await Promise.all(
    Array.from(
      { length: CONTROLLERS },
      (_, c) =>
        new Promise<dgram.Socket>((resolve) => {
          const socket = dgram.createSocket({ type: 'udp4', reuseAddr: false });
          socket.on('message', (data) => onMessage(c, data));
          socket.bind({ port: 0, address: HOST, exclusive: true }, () => {
            try {
              socket.setRecvBufferSize(RECEIVE_BUFFER);
            } catch {
              // what the OS kept is reported
            }
            resolve(socket);
          });
        }),
    ),
  );
  const ports = sockets.map((socket) => socket.address().port);
  const SUBSCRIBE = messageHead('/coordinator/subscribe', '');
  const UNSUBSCRIBE = messageHead('/coordinator/unsubscribe', '');
  const until = async (done: () => boolean, send: () => void, timeoutMs: number) => {
    const giveUp = now() + timeoutMs;
    while (!done() && now() < giveUp) {
      send();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return done();
  };
  let renewal: NodeJS.Timeout | undefined;
  if (plan.mode === 'coordinator') {
    const ok = await until(
      () => subscribed.every(Boolean),
      () => sockets.forEach((socket, c) => subscribed[c] || socket.send(SUBSCRIBE, plan.target, HOST)),
      5000,
    );
    if (!ok) throw new Error('the coordinator did not answer /coordinator/subscribe');
    renewal = setInterval(() => sockets.forEach((socket) => socket.send(SUBSCRIBE, plan.target, HOST)), Math.max(1000, renewWithinMs / 3));
  }

  const worker = new Worker(new URL(import.meta.url), { workerData: plan });
  await nextWorkerMessage(worker, 'ready');
  const parent = typeof process.send === 'function';
  if (parent) {
    const go = new Promise<void>((resolve) => process.once('message', () => resolve()));
    process.send!({ type: 'ready', controllers: ports });
    await go;
  }
  const cpu0 = process.cpuUsage();
  const finished = nextWorkerMessage(worker, 'sent');
  worker.postMessage('go');
  const sender = await finished;
  const sentAll = now();
  while (counts.some((count) => count.received < total) && now() - sentAll < DRAIN_MS) await new Promise((resolve) => setTimeout(resolve, 10));
  const cpu = process.cpuUsage(cpu0);
  const drops = udpSocketDrops(ports);
  clearInterval(renewal);
  if (plan.mode === 'coordinator') {
    await until(
      () => unsubscribed.every(Boolean),
      () => sockets.forEach((socket, c) => unsubscribed[c] || socket.send(UNSUBSCRIBE, plan.target, HOST)),
      1000,
    );
  }

  // ---- results ----
  const pauses = parent ? await machinePauses(sendAt[warmCount]!, now()) : [];
  const disturbed = disturbedSpans(pauses);
  const calmHistogram = new Array<number>(HISTOGRAM_BUCKETS).fill(0);
  let calmMaxMs = 0;
  let calmSent = 0;
  const measured = total - warmCount;
  const measuredSeconds = (sendAt[total - 1]! - sendAt[warmCount]!) / 1000;
  const histogram = new Array<number>(HISTOGRAM_BUCKETS).fill(0);
  let maxMs = 0;
  const controllers: ControllerResult[] = sockets.map((socket, c) => {
    const lat = latencies[c]!;
    let receivedMeasured = 0;
    for (let k = warmCount; k < total; k++) {
      const calm = !within(sendAt[k]!, disturbed);
      if (calm && c === 0) calmSent++;
      if (lat[k] === 0) continue;
      receivedMeasured++;
      const ms = lat[k]!;
      const b = bucketOf(ms);
      histogram[b] = histogram[b]! + 1;
      if (ms > maxMs) maxMs = ms;
      if (!calm) continue;
      calmHistogram[b] = calmHistogram[b]! + 1;
      if (ms > calmMaxMs) calmMaxMs = ms;
    }
    return {
      port: ports[c]!,
      receiveBuffer: socket.getRecvBufferSize(),
      received: counts[c]!.received,
      receivedMeasured,
      lostMeasured: measured - receivedMeasured,
      duplicates: counts[c]!.duplicates,
      other: counts[c]!.other,
      drops: drops[c]!,
    };
  });
  const result: TelemetryResult = {
    mode: plan.mode,
    plugins: plan.plugins,
    rateHz: plan.rateHz,
    offeredPerSecond: plan.plugins * plan.rateHz * 2,
    sent: sender.sent!,
    sendErrors: sender.errors!,
    measured,
    measuredSeconds,
    sentPerSecond: measured / measuredSeconds,
    maxBatch: sender.maxBatch!,
    meanBatch: sender.meanBatch!,
    controllers,
    deliveredPerSecond: Math.min(...controllers.map((c) => c.receivedMeasured)) / measuredSeconds,
    latency: percentiles(histogram, maxMs),
    histogram,
    maxMs,
    cpuUsPerMessage: (cpu.user + cpu.system) / sender.sent!,
    pauses,
    calm: { share: calmSent / measured, latency: percentiles(calmHistogram, calmMaxMs), histogram: calmHistogram, maxMs: calmMaxMs },
  };
  await worker.terminate();
  for (const socket of sockets) socket.close();
  if (parent) {
    process.send!({ type: 'done', result }, () => process.disconnect());
  } else {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
}

if (isMainThread) {
  const [mode, portText, pluginsText, rateText, secondsText, warmupText, prefix] = process.argv.slice(2);
  const target = Number(portText);
  const plugins = Number(pluginsText);
  const rateHz = Number(rateText);
  const seconds = Number(secondsText);
  const warmupS = Number(warmupText);
  const total = Math.round(plugins * rateHz * 2 * (seconds + warmupS));
  if ((mode !== 'coordinator' && mode !== 'raw') || !(target > 0) || !(plugins > 0) || !(rateHz > 0) || !(seconds > 0) || !(warmupS >= 0) || !prefix || total >= 2 ** 24) {
    process.stderr.write('usage: node telemetry.js coordinator|raw PORT PLUGINS RATE_HZ SECONDS WARMUP_S TEMPID_PREFIX (under 2^24 messages)\n');
    process.exit(2);
  }
  const plan: Plan = {
    mode,
    target,
    plugins,
    rateHz,
    seconds,
    warmupS,
    prefix,
    total,
    warmCount: Math.round(plugins * rateHz * 2 * warmupS),
    sendAt: new SharedArrayBuffer(8 * total),
  };
  await runControllers(plan);
} else {
  runSender(workerData as Plan);
}
