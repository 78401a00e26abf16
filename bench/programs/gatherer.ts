import dgram from 'node:dgram';
import { messageHead, oscString } from '../../src/osc/templates.js';
import { monotonicMs } from '../procnet.js';

/**
 * A lean controller for the calibration-gather benchmark (bench/relay.bench.ts): it runs
 * gathers one after the other against the coordinator at PORT [PROTOCOL §14] and times each
 * from sending `/coordinator/query_rms ,si queryID timeoutMs` to receiving the last part of the
 * answer (`/coordinator/rms` and `/coordinator/rms_missing`, `,sii queryID part parts ...`).
 * The plugins are the lean handshake generator's (bench/programs/loadgen.ts), bound, answering every
 * `/aiplayer/query_rms`.
 *
 *   node gatherer.js PORT PLUGINS GATHERS WARMUP TIMEOUT_MS GAP_MS
 *
 * Under a parent with an IPC channel: reports `ready`, waits for `go`, runs WARMUP gathers,
 * reports `measuring`, runs GATHERS more, reports `done` with their times and exits.
 */
const HOST = '127.0.0.1';
const now = monotonicMs();

const [portText, pluginsText, gathersText, warmupText, timeoutText, gapText] = process.argv.slice(2);
const target = Number(portText);
const plugins = Number(pluginsText);
const gathers = Number(gathersText);
const warmup = Number(warmupText);
const timeoutMs = Number(timeoutText);
const gapMs = Number(gapText);
if (!(target > 0) || !(plugins > 0) || !(gathers > 0) || !(warmup >= 0) || !(timeoutMs > 0) || !(gapMs >= 0)) {
  process.stderr.write('usage: node gatherer.js PORT PLUGINS GATHERS WARMUP TIMEOUT_MS GAP_MS\n');
  process.exit(2);
}

/** An OSC string at `offset`: its text, and where the next argument starts. */
function readString(data: Buffer, offset: number): [string, number] {
  const end = data.indexOf(0, offset);
  return [data.toString('utf8', offset, end), (end + 4) & ~3];
}
const QUERY_HEAD = messageHead('/coordinator/query_rms', 'si');
const timeoutBytes = Buffer.alloc(4);
timeoutBytes.writeInt32BE(timeoutMs);

export interface GatherResult {
  /** Send to last part, ms, per measured gather. */
  ms: number[];
  /** When each was sent (CLOCK_MONOTONIC ms, to be set beside the machine's pauses). */
  startedAt: number[];
  /** Per measured gather: plugins that answered, and those reported silent. */
  answered: number[];
  missing: number[];
  /** Datagrams (parts) per answer. */
  parts: number;
  errors: string[];
}

interface Pending {
  queryId: string;
  sentAt: number;
  parts: number;
  seen: Set<number>;
  answered: number;
  missing: number;
  /** When the last part arrived. */
  doneAt: number;
  resolve: () => void;
}
let pending: Pending | undefined;
const errors: string[] = [];

const socket = dgram.createSocket({ type: 'udp4', reuseAddr: false });
socket.on('message', (data) => {
  const [address, afterAddress] = readString(data, 0);
  const [tags, afterTags] = readString(data, afterAddress);
  if (address === '/coordinator/error') {
    errors.push(readString(data, afterTags)[0]);
    return;
  }
  const rms = address === '/coordinator/rms';
  if (!rms && address !== '/coordinator/rms_missing') return;
  const [queryId, afterId] = readString(data, afterTags);
  if (!pending || queryId !== pending.queryId) return;
  const part = data.readInt32BE(afterId);
  pending.parts = data.readInt32BE(afterId + 4);
  if (pending.seen.has(part)) return;
  pending.seen.add(part);
  const entries = (tags.length - 4) / (rms ? 4 : 3); // ',sii' then (ssif)* or (ssi)*
  if (rms) pending.answered += entries;
  else pending.missing += entries;
  if (pending.seen.size === pending.parts) {
    pending.doneAt = now();
    pending.resolve();
  }
});
await new Promise<void>((resolve) => socket.bind({ port: 0, address: HOST, exclusive: true }, resolve));
socket.setRecvBufferSize(1024 * 1024);

async function gather(n: number): Promise<Pending> {
  const queryId = `bench-${process.pid}-${n}`;
  const done = new Promise<void>((resolve) => {
    pending = { queryId, sentAt: now(), parts: 0, seen: new Set(), answered: 0, missing: 0, doneAt: NaN, resolve };
  });
  const give = setTimeout(() => pending?.resolve(), timeoutMs + 2000);
  socket.send([QUERY_HEAD, oscString(queryId), timeoutBytes], target, HOST);
  await done;
  clearTimeout(give);
  return pending!;
}

const parent = typeof process.send === 'function';
if (parent) {
  const go = new Promise<void>((resolve) => process.once('message', () => resolve()));
  process.send!({ type: 'ready' });
  await go;
}
const pause = () => new Promise((resolve) => setTimeout(resolve, gapMs));
for (let n = 0; n < warmup; n++) {
  await gather(n);
  await pause();
}
process.send?.({ type: 'measuring' });
const result: GatherResult = { ms: [], startedAt: [], answered: [], missing: [], parts: 0, errors };
for (let n = 0; n < gathers; n++) {
  const one = await gather(warmup + n);
  result.ms.push(one.doneAt - one.sentAt); // NaN when it never completed
  result.startedAt.push(one.sentAt);
  result.answered.push(one.answered);
  result.missing.push(one.missing);
  result.parts = Math.max(result.parts, one.parts);
  await pause();
}
socket.close();
if (parent) process.send!({ type: 'done', result }, () => process.disconnect());
else process.stdout.write(`${JSON.stringify(result)}\n`);
