import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startCoordinator, type Coordinator, type CoordinatorOptions } from '../src/main.js';
import type { Pause } from './pauses.js';

/** What the benchmark and the profile share: the coordinator under test, the generators, one measured round. */

export const POOL_LOW = 24000; // below the ephemeral range (32768-60999 on Linux), so control sockets never collide
export const POOL_HIGH = 32000;
const LOADGEN = fileURLToPath(new URL('./programs/loadgen.js', import.meta.url));
const SDK_CLIENTS = fileURLToPath(new URL('./programs/clients.js', import.meta.url));
const VIEWER = fileURLToPath(new URL('./programs/viewer.js', import.meta.url));

export interface Verified {
  tempId: string;
  port: number;
  /** From the request the coordinator received to this verification, on its clock; undefined for adopted instances. */
  handshakeMs: number | undefined;
}

/**
 * The one place the benchmark learns of verified bindings: the coordinator's
 * event API is about to be renamed, and only this function needs to follow.
 * Returns the unsubscribe.
 */
export function onVerified(coordinator: Coordinator, listener: (verified: Verified) => void): () => void {
  coordinator.leases.on('bound', listener);
  return () => coordinator.leases.off('bound', listener);
}

export interface BenchCoordinator {
  coordinator: Coordinator;
  close(): Promise<void>;
}

/**
 * As `oscport start` runs it (journal in a data dir), with a pool large enough for 4000 instances; `options` override.
 * With OSCPORT_BENCH_VIEWERS=1 it also serves HTTP (any free port), and a viewer process (bench/programs/viewer.ts)
 * keeps the web view's event stream and an OSCQuery WebSocket open for the whole run: the benchmarks must not
 * regress with a page open and a WebSocket listening. Measured on the project's 2-core VM with 1000 bound plugins
 * sending telemetry: the view's ticks took 425 ms of this process over a 24 s relay run (about 18 ms a second,
 * 0.4 µs per relayed datagram); outside the relay, a snapshot of 1000 leases is 2.1 ms and 140 KB, a levels
 * read 0.7 ms.
 */
export async function startBenchCoordinator(options: CoordinatorOptions = {}): Promise<BenchCoordinator> {
  const dataDir = mkdtempSync(join(tmpdir(), 'oscport-bench-'));
  const viewers = process.env.OSCPORT_BENCH_VIEWERS === '1';
  // Neither 8999 nor the real response ports: a benchmark measures only the plugins it starts itself.
  const coordinator = await startCoordinator({
    ...{ port: 0, poolLow: POOL_LOW, poolHigh: POOL_HIGH, reserved: [], extraPorts: [], sweepPorts: [], dataDir },
    ...(viewers ? { httpPort: 0, dnssd: false } : {}),
    ...options,
  });
  const viewer = viewers ? await startViewer(coordinator) : null;
  return {
    coordinator,
    close: async () => {
      await viewer?.close();
      await coordinator.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The viewer process, once its first snapshot has come; `close` reports what it received on stderr and ends it. */
async function startViewer(coordinator: Coordinator) {
  const http = coordinator.http!;
  const viewer = spawnIpcChild(VIEWER, [http.port]);
  await viewer.next('ready');
  process.stderr.write(`viewers: an event stream from ${http.url}/view/events and a WebSocket LISTENing to up to 256 plugins' rms, open throughout\n`);
  return {
    close: async () => {
      const report = viewer.next<Record<string, unknown>>('report');
      viewer.send({ type: 'report' });
      const { snapshots, levels, bytes, frames, websocket } = await report;
      process.stderr.write(`viewers: received ${snapshots} snapshots and ${levels} levels events (${bytes} characters); WebSocket ${websocket}, ${frames} frames\n`);
      viewer.kill();
      await viewer.exited;
    },
  };
}

export async function startEchoServer(): Promise<dgram.Socket> {
  const server = dgram.createSocket('udp4');
  server.on('message', (data, from) => server.send(data, from.port, from.address));
  await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
  server.setRecvBufferSize(8 * 1024 * 1024);
  return server;
}

export interface Span {
  /** First request received to last binding verified, on the coordinator's clock. */
  ms: number;
  /** This process's CPU (user + system, µs) from `start()` to the last verification. */
  cpuUs: number;
  userUs: number;
  systemUs: number;
  /** performance.now() at the first request and at the last verification, for marking profiles. */
  firstAt: number;
  lastAt: number;
}

/**
 * Watches the coordinator until `count` bindings are verified. Call `start()`
 * right before the load begins: CPU is counted from there to the last verification.
 */
export function verifiedSpan(coordinator: Coordinator, count: number, timeoutMs = 60_000): { start(): void; done: Promise<Span> } {
  let first = Infinity;
  let seen = 0;
  let cpu0: NodeJS.CpuUsage = process.cpuUsage();
  let resolveSpan!: (span: Span) => void;
  let rejectSpan!: (err: Error) => void;
  const done = new Promise<Span>((resolve, reject) => {
    resolveSpan = resolve;
    rejectSpan = reject;
  });
  const timer = setTimeout(() => {
    off();
    rejectSpan(new Error(`${seen} of ${count} verified after ${timeoutMs} ms`));
  }, timeoutMs);
  const off = onVerified(coordinator, ({ handshakeMs }) => {
    const now = performance.now();
    first = Math.min(first, now - (handshakeMs ?? 0));
    if (++seen < count) return;
    const cpu = process.cpuUsage(cpu0);
    off();
    clearTimeout(timer);
    resolveSpan({ ms: now - first, cpuUs: cpu.user + cpu.system, userUs: cpu.user, systemUs: cpu.system, firstAt: first, lastAt: now });
  });
  return {
    start: () => {
      cpu0 = process.cpuUsage();
    },
    done,
  };
}

/** Every lease released and forgotten; leftovers (a lost release) are released here, and counted. */
export async function drained(coordinator: Coordinator, timeoutMs = 5000): Promise<number> {
  const until = performance.now() + timeoutMs;
  while (coordinator.leases.size > 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 5));
  let forced = 0;
  for (const lease of coordinator.leases.views()) if (coordinator.leases.release(lease.tempId)) forced++;
  while (coordinator.leases.size > 0) await new Promise((r) => setTimeout(r, 5));
  return forced;
}

export interface LoadgenResult {
  mode: 'handshake' | 'echo';
  instances: number;
  ms: number;
  bindMs: number;
  cpuUsPerInstance: number;
  completed: number;
  refused: number;
  resentRequests: number;
  resentConfirmations: number;
  repeatedAssignments: number;
  bindFailures: number;
  unexpected: number;
  timedOut: boolean;
}

export interface LoadgenRun {
  /** Sockets bound: the clock may start. */
  ready: Promise<void>;
  /** Sends `go`; resolves when every instance is done (leases still held). */
  go(): Promise<LoadgenResult>;
  /** Sends `release`; resolves with the final JSON line once the generator has released and exited. */
  release(): Promise<LoadgenResult>;
}

/** The lean generator in its own process (never sharing an event loop with the coordinator); tempIDs are `prefix-N`. */
export function spawnLoadgen(mode: 'handshake' | 'echo', port: number, count: number, prefix?: string): LoadgenRun {
  const child = spawn(process.execPath, [LOADGEN, mode, String(port), String(count), ...(prefix === undefined ? [] : [prefix])], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const message = (type: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const onMessage = (m: { type?: string }) => {
        if (m?.type !== type) return;
        child.off('message', onMessage);
        resolve(m as Record<string, unknown>);
      };
      child.on('message', onMessage);
      void exited.then((code) => reject(new Error(`loadgen ${mode} ${count} exited (${code}) before "${type}"`)));
    });
  const ready = message('ready').then(() => undefined);
  const done = message('done');
  // Whichever is awaited reports a crash; the other must not be an unhandled rejection.
  ready.catch(() => {});
  done.catch(() => {});
  return {
    ready,
    go: async () => {
      child.send('go');
      return (await done) as unknown as LoadgenResult;
    },
    release: async () => {
      child.send('release');
      const code = await exited;
      const line = stdout.trim().split('\n').at(-1) ?? '';
      if (!line) throw new Error(`loadgen ${mode} ${count} printed nothing (exit ${code})`);
      return JSON.parse(line) as LoadgenResult;
    },
  };
}

/** The SDK clients (bench/programs/clients.ts) in their own process; resolves with their own { ms } once released. */
export function spawnSdkClients(port: number, count: number): { child: ChildProcess; finished: Promise<number> } {
  const child = spawn(process.execPath, [SDK_CLIENTS, 'handshake', String(port), String(count)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  const finished = new Promise<number>((resolve, reject) =>
    child.once('exit', (code) => {
      try {
        resolve((JSON.parse(stdout) as { ms: number }).ms);
      } catch {
        reject(new Error(`SDK clients exited ${code} without a result`));
      }
    }),
  );
  return { child, finished };
}

/** Kernel UDP receive-buffer drops so far, machine-wide (/proc/net/snmp RcvbufErrors); null where unavailable. */
export function udpReceiveDrops(): number | null {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((line) => line.startsWith('Udp:'));
    const names = lines[0]!.split(/\s+/);
    const values = lines[1]!.split(/\s+/);
    return Number(values[names.indexOf('RcvbufErrors')]);
  } catch {
    return null;
  }
}

export const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** A bench child with an IPC channel: `next(type)` resolves at its next message of that type, `go` starts it. */
export function spawnIpcChild(script: string, childArgs: Array<string | number>) {
  const child = spawn(process.execPath, [script, ...childArgs.map(String)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const next = <T>(type: string) => {
    const message = new Promise<T>((resolve, reject) => {
      const listener = (m: { type?: string }) => {
        if (m?.type !== type) return;
        child.off('message', listener);
        resolve(m as T);
      };
      child.on('message', listener);
      void exited.then((code) => reject(new Error(`${script} exited (${code}) before "${type}"`)));
    });
    message.catch(() => {}); // reported where it is awaited
    return message;
  };
  return { next, go: () => child.send('go'), send: (message: object) => child.send(message), kill: () => child.kill(), exited };
}

const SENTINEL = fileURLToPath(new URL('./programs/sentinel.js', import.meta.url));

/** The machine's pauses (bench/programs/sentinel.ts), watched from now until `stop`. */
export async function startSentinel() {
  const sentinel = spawnIpcChild(SENTINEL, []);
  await sentinel.next('ready');
  return {
    async pauses(from: number, to: number): Promise<Pause[]> {
      const answer = sentinel.next<{ pauses: Pause[] }>('pauses');
      sentinel.send({ type: 'pauses', from, to });
      return (await answer).pauses;
    },
    stop: () => sentinel.kill(),
  };
}

export type RelayMode = 'raw' | 'coordinator';

/**
 * The rounds of a relay benchmark: ROUNDS pairs at the base rate, the two relays taking turns to go first
 * (so neither always runs on the warmer machine), then one pair at each headroom multiple of the rate.
 * Each round's line goes to stderr as it ends.
 */
export async function relayRounds<R>(
  rounds: number,
  headroom: readonly number[],
  run: (mode: RelayMode, rateMultiple: number) => Promise<R>,
  describe: (round: R) => string,
): Promise<{ normal: R[]; fast: Map<number, R[]> }> {
  const pair = async (order: RelayMode[], multiple: number) => {
    const done: R[] = [];
    for (const mode of order) done.push(await run(mode, multiple));
    return done;
  };
  const normal: R[] = [];
  for (let round = 1; round <= rounds; round++) {
    const done = await pair(round % 2 === 1 ? ['raw', 'coordinator'] : ['coordinator', 'raw'], 1);
    normal.push(...done);
    process.stderr.write(`  round ${round}/${rounds}: ${done.map(describe).join('; ')}\n`);
  }
  const fast = new Map<number, R[]>();
  for (const x of headroom) {
    const done = await pair(['raw', 'coordinator'], x);
    fast.set(x, done);
    process.stderr.write(`  ${x}x: ${done.map(describe).join('; ')}\n`);
  }
  return { normal, fast };
}
