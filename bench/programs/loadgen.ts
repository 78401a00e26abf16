import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { messageHead, oscString } from '../../src/osc/templates.js';

/**
 * A lean load generator for the verified handshake, in the manner of ISC's
 * perfdhcp for Kea: every socket it needs before the clock starts is bound
 * before the clock starts, messages are byte templates sent as buffer lists
 * (no OSC library, no per-message encoding), and there are no per-instance
 * timers or promises: one shared sweep timer handles loss.
 *
 *   node loadgen.js handshake|echo PORT COUNT [TEMPID_PREFIX]
 *
 * handshake: COUNT instances, each with its own control socket (exclusive,
 * 127.0.0.1, port 0), which is also its response endpoint, so the coordinator
 * serves them all in parallel. At t0 every instance sends
 * `/aiplayer/request_port ,sii tempID -1 controlPort`; on its assignment it
 * binds the port exclusively and confirms `bound` from the control socket;
 * on the probe (`/aiplayer/query_rms` on the port socket) it answers
 * `/aiplayer/rms_response ,ssf nonce tempID 0.0` from the control socket.
 * Done when every instance has answered its probe. Afterwards, off the clock,
 * every instance sends `/aiplayer/release ,s tempID` and its sockets close.
 *
 * echo: the floor. COUNT sockets, each does three request-sized exchanges
 * with a raw dgram echo server at PORT.
 *
 * Under a parent with an IPC channel (the benchmark) it reports `ready` once
 * its sockets are bound and waits for `go`; reports `done` and waits for
 * `release`. Run alone, it goes at once and releases at once. Either way it
 * prints one JSON line of results to stdout, after releasing.
 */
const HOST = '127.0.0.1';
const EXCHANGES = 3;
/** An instance with no progress over a whole sweep gets its last message sent once more. */
const SWEEP_MS = 2000;
const GIVE_UP_MS = 60_000;

const [mode, portText, countText, prefixArg] = process.argv.slice(2);
const target = Number(portText);
const count = Number(countText);
if ((mode !== 'handshake' && mode !== 'echo') || !(target > 0) || !(count > 0)) {
  process.stderr.write('usage: node loadgen.js handshake|echo PORT COUNT [TEMPID_PREFIX]\n');
  process.exit(2);
}
const prefix = prefixArg ?? `lg${process.pid.toString(36)}`;

// ---- byte templates [PROTOCOL §1, §2, §4, §5, §7] ----

const REQUEST_HEAD = messageHead('/aiplayer/request_port', 'sii');
const ASSIGNMENT_HEAD = messageHead('/aiplayer/port_assignment', 'sis');
const ASSIGNED = oscString('assigned');
const CONFIRM_HEAD = messageHead('/aiplayer/port_confirmed', 'sis');
const BOUND = oscString('bound');
const FAILED = oscString('failed');
const PROBE_HEAD = messageHead('/aiplayer/query_rms', 's');
const ANSWER_HEAD = messageHead('/aiplayer/rms_response', 'ssf');
const RMS_ZERO = Buffer.alloc(4); // float32 0.0
const RELEASE_HEAD = messageHead('/aiplayer/release', 's');
const NO_PREFERENCE = Buffer.from([0xff, 0xff, 0xff, 0xff]); // int32 -1

const startsWith = (data: Buffer, template: Buffer) =>
  data.length >= template.length && data.compare(template, 0, template.length, 0, template.length) === 0;

// ---- per-instance state: flat arrays, indexed by instance ----

const STAGE_REQUESTED = 0; // waiting for an assignment (or the echo of exchange `stage`)
const STAGE_BINDING = 1;
const STAGE_CONFIRMED = 2; // waiting for the probe
const STAGE_ANSWERED = 3;
const STAGE_REFUSED = 4; // the coordinator answered with an error

const ids: Buffer[] = new Array(count);
const requests: Buffer[] = new Array(count);
const control: dgram.Socket[] = new Array(count);
const portSockets: Array<dgram.Socket | undefined> = new Array(count);
const ports = new Int32Array(count);
const portBytes = Buffer.alloc(4 * count); // each instance's assigned port as an OSC int32
const stage = new Uint8Array(count);
const swept = new Uint8Array(count); // stage seen at the last sweep, plus one (0 = not seen yet)
const resent = new Uint8Array(count);

const stats = {
  mode,
  instances: count,
  /** t0 (first request sent) to the last probe answered, or the last echo received. */
  ms: 0,
  /** Binding the control sockets, before the clock. */
  bindMs: 0,
  /** This process's CPU over the measured span, per instance. */
  cpuUsPerInstance: 0,
  completed: 0,
  refused: 0,
  resentRequests: 0,
  resentConfirmations: 0,
  repeatedAssignments: 0,
  bindFailures: 0,
  unexpected: 0,
  timedOut: false,
};

let finished = 0;
let t0 = 0;
let cpu0: NodeJS.CpuUsage = { user: 0, system: 0 };
let sweeper: NodeJS.Timeout | undefined;
let onFinished: () => void = () => {};

function bindControlSockets(): Promise<void> {
  let bound = 0;
  return new Promise((resolve, reject) => {
    for (let i = 0; i < count; i++) {
      const socket = dgram.createSocket({ type: 'udp4', reuseAddr: false });
      control[i] = socket;
      socket.once('error', reject);
      socket.bind({ port: 0, address: HOST, exclusive: true }, () => {
        socket.off('error', reject);
        socket.on('error', () => stats.unexpected++);
        if (++bound === count) resolve();
      });
    }
  });
}

function prepare(): void {
  for (let i = 0; i < count; i++) {
    const id = oscString(`${prefix}-${i}`);
    const responsePort = Buffer.alloc(4);
    responsePort.writeInt32BE(control[i]!.address().port);
    ids[i] = id;
    requests[i] = Buffer.concat([REQUEST_HEAD, id, NO_PREFERENCE, responsePort]);
    const socket = control[i]!;
    socket.on('message', mode === 'echo' ? (data) => onEcho(i, data) : (data) => onControl(i, data));
  }
}

function complete(i: number, how: number): void {
  stage[i] = how;
  if (how === STAGE_ANSWERED) stats.completed++;
  else stats.refused++;
  if (++finished === count) finish();
}

// ---- handshake ----

function onControl(i: number, data: Buffer): void {
  if (!startsWith(data, ASSIGNMENT_HEAD)) {
    // port_error follows an error assignment; anything else is unexpected.
    if (!data.toString('latin1', 0, 20).startsWith('/aiplayer/port_error')) stats.unexpected++;
    return;
  }
  const id = ids[i]!;
  const at = ASSIGNMENT_HEAD.length;
  if (data.length < at + id.length + 4 || data.compare(id, 0, id.length, at, at + id.length) !== 0) {
    stats.unexpected++;
    return;
  }
  const port = data.readInt32BE(at + id.length);
  const assigned = data.length === at + id.length + 4 + ASSIGNED.length && startsWith(data.subarray(at + id.length + 4), ASSIGNED);
  if (!assigned) {
    if (stage[i]! < STAGE_ANSWERED) complete(i, STAGE_REFUSED);
    return;
  }
  const current = stage[i]!;
  if (current === STAGE_REQUESTED) {
    stage[i] = STAGE_BINDING;
    ports[i] = port;
    portBytes.writeInt32BE(port, 4 * i);
    bindPort(i, port);
  } else {
    // A resent assignment: our confirmation may have been lost.
    stats.repeatedAssignments++;
    if (current === STAGE_CONFIRMED && ports[i] === port) confirm(i, BOUND);
  }
}

function bindPort(i: number, port: number): void {
  const socket = dgram.createSocket({ type: 'udp4', reuseAddr: false });
  portSockets[i] = socket;
  socket.once('error', () => {
    // Someone holds it: say so, and wait for the next offer.
    stats.bindFailures++;
    portSockets[i] = undefined;
    socket.close();
    stage[i] = STAGE_REQUESTED;
    confirm(i, FAILED);
  });
  socket.on('message', (data) => onProbe(i, data));
  socket.bind({ port, address: HOST, exclusive: true }, () => {
    socket.removeAllListeners('error');
    socket.on('error', () => stats.unexpected++);
    stage[i] = STAGE_CONFIRMED;
    confirm(i, BOUND);
  });
}

function confirm(i: number, status: Buffer): void {
  control[i]!.send([CONFIRM_HEAD, ids[i]!, portBytes.subarray(4 * i, 4 * i + 4), status], target, HOST);
}

function onProbe(i: number, data: Buffer): void {
  if (!startsWith(data, PROBE_HEAD)) {
    stats.unexpected++;
    return;
  }
  // The nonce arrives as an OSC string, NUL and padding included: it goes back as it came.
  control[i]!.send([ANSWER_HEAD, data.subarray(PROBE_HEAD.length), ids[i]!, RMS_ZERO], target, HOST);
  if (stage[i] === STAGE_CONFIRMED) complete(i, STAGE_ANSWERED);
}

// ---- echo ----

function onEcho(i: number, _data: Buffer): void {
  const done = ++stage[i]!;
  if (done < EXCHANGES) control[i]!.send(requests[i]!, target, HOST);
  else if (done === EXCHANGES) complete(i, STAGE_ANSWERED);
}

// ---- loss: one shared sweep ----

function sweep(): void {
  if (performance.now() - t0 > GIVE_UP_MS) {
    stats.timedOut = true;
    finish();
    return;
  }
  for (let i = 0; i < count; i++) {
    const now = stage[i]!;
    const stuck = swept[i] === now + 1;
    swept[i] = now + 1;
    if (!stuck || resent[i] || now >= (mode === 'echo' ? EXCHANGES : STAGE_ANSWERED)) continue;
    if (mode === 'echo') {
      resent[i] = 1;
      stats.resentRequests++;
      control[i]!.send(requests[i]!, target, HOST);
    } else if (now === STAGE_REQUESTED) {
      resent[i] = 1;
      stats.resentRequests++;
      control[i]!.send(requests[i]!, target, HOST);
    } else if (now === STAGE_CONFIRMED) {
      resent[i] = 1;
      stats.resentConfirmations++;
      confirm(i, BOUND);
    }
  }
}

// ---- the run ----

function go(): void {
  cpu0 = process.cpuUsage();
  t0 = performance.now();
  for (let i = 0; i < count; i++) control[i]!.send(requests[i]!, target, HOST);
  sweeper = setInterval(sweep, SWEEP_MS);
}

function finish(): void {
  if (sweeper === undefined) return;
  stats.ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  stats.cpuUsPerInstance = (cpu.user + cpu.system) / count;
  clearInterval(sweeper);
  sweeper = undefined;
  onFinished();
}

function release(): Promise<void> {
  return new Promise((resolve) => {
    let pending = 0;
    const closeAll = () => {
      for (const socket of control) socket.close();
      for (const socket of portSockets) socket?.close();
      resolve();
    };
    const sent = () => {
      if (--pending === 0) closeAll();
    };
    if (mode === 'handshake') {
      for (let i = 0; i < count; i++) {
        if (stage[i] === STAGE_REFUSED) continue;
        pending++;
        control[i]!.send([RELEASE_HEAD, ids[i]!], target, HOST, sent);
      }
    }
    if (pending === 0) closeAll();
  });
}

const parent = typeof process.send === 'function';
const tell = (message: object) => process.send?.(message);
const nextCommand = (expected: string) =>
  new Promise<void>((resolve) => {
    const listener = (message: unknown) => {
      if (message !== expected) return;
      process.off('message', listener);
      resolve();
    };
    process.on('message', listener);
  });

const bindStarted = performance.now();
await bindControlSockets();
prepare();
stats.bindMs = performance.now() - bindStarted;
const finishedAll = new Promise<void>((resolve) => (onFinished = resolve));
if (parent) {
  const started = nextCommand('go');
  tell({ type: 'ready', bindMs: stats.bindMs });
  await started;
}
go();
await finishedAll;
if (parent) {
  const released = nextCommand('release');
  tell({ type: 'done', ...stats });
  await released;
}
await release();
process.stdout.write(`${JSON.stringify(stats)}\n`);
if (parent) process.disconnect();
process.exitCode = stats.timedOut || stats.completed < count ? 1 : 0;
