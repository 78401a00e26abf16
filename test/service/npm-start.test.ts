import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { isAlive } from '../../src/leases/persistence/lock.js';
import { startCoordinator } from '../../src/main.js';
import { freshDataDir } from '../helpers/cli.js';
import { Peer, s } from '../helpers/peer.js';
import { freeUdpPort } from '../helpers/ports.js';
import { hasCommand } from '../helpers/system.js';

/**
 * `npm start` as a service manager, a terminal multiplexer or a script runs it, and stops it: by
 * signalling npm's own PID. npm forwards SIGINT and SIGTERM to its direct child only, so the
 * coordinator must be that child (the start script execs node), or it is never told, or is orphaned
 * on its port when npm dies.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** A build may be due (someone edited a source): the first start compiles, seconds on a busy machine. */
const READY_WITHIN_MS = 120_000;
const STOPPED_WITHIN_MS = 2000;

const running: ChildProcess[] = [];
const spawnedPids: number[] = [];

afterEach(() => {
  // Whatever a failed test left behind: npm, and the coordinator it started (orphaned or not).
  for (const child of running.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const pid of spawnedPids.splice(0)) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
});

/** Every process below `pid` (Linux and macOS `ps`). */
function descendants(pid: number): number[] {
  const table = execFileSync('ps', ['-A', '-o', 'pid=,ppid='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number) as [number, number]);
  const found: number[] = [];
  const walk = (parent: number) => {
    for (const [child, ppid] of table) {
      if (ppid === parent) {
        found.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return found;
}

/** True when nothing holds the UDP port: an exclusive bind on it succeeds. */
function portIsFree(port: number): Promise<boolean> {
  const socket = dgram.createSocket('udp4');
  return new Promise((resolve) => {
    socket.once('error', () => resolve(false));
    socket.bind({ port, address: '127.0.0.1', exclusive: true }, () => socket.close(() => resolve(true)));
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * `npm start -- --port P --data-dir D --log-level warn`, or the same through `npx oscport start`; resolves once
 * the coordinator answers a status query.
 */
async function npmStart(how: 'npm start' | 'npx' = 'npm start') {
  const port = await freeUdpPort();
  const settings = ['--port', String(port), '--data-dir', freshDataDir(), '--log-level', 'warn'];
  const [command, args] = how === 'npx' ? ['npx', ['oscport', 'start', ...settings]] : ['npm', ['start', '--', ...settings]];
  const npm = spawn(command, args, {
    cwd: ROOT,
    // Read until npm exits: a coordinator whose stdout pipe is closed under it cannot log its stop.
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });
  running.push(npm);
  let output = '';
  npm.stdout!.on('data', (chunk) => (output += chunk));
  npm.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<Exit>((resolve) => npm.once('exit', (code, signal) => resolve({ code, signal })));
  let exit: Exit | undefined;
  void exited.then((e) => (exit = e));

  // With --log-level warn it logs nothing when it is up: ask it, as `oscport status` does.
  const peer = await Peer.bind();
  try {
    const deadline = Date.now() + READY_WITHIN_MS;
    for (let n = 0; ; n++) {
      if (exit) throw new Error(`npm start exited (${JSON.stringify(exit)}) before the coordinator answered:\n${output}`);
      if (Date.now() > deadline) throw new Error(`no answer from the coordinator within ${READY_WITHIN_MS} ms:\n${output}`);
      peer.send(port, '/coordinator/status', s(`ready-${n}`));
      try {
        await peer.next('/coordinator/reply', 250);
        break;
      } catch {
        // not up yet
      }
    }
  } finally {
    await peer.close();
  }
  // The coordinator and anything between it and npm, to check afterwards that none was left behind.
  const below = descendants(npm.pid!);
  spawnedPids.push(...below);
  return { npm, port, below, exited, output: () => output };
}

describe('npm start, stopped by a signal to npm', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} to npm's PID stops the coordinator cleanly: npm exits 0 and the port is free within 2 s`, async () => {
      const { npm, port, below, exited, output } = await npmStart();
      expect(below.length).toBeGreaterThan(0);
      expect(await portIsFree(port)).toBe(false);

      const signalledAt = Date.now();
      npm.kill(signal);
      const exit = await Promise.race([exited, sleep(STOPPED_WITHIN_MS).then(() => undefined)]);
      let free = await portIsFree(port);
      while (!free && Date.now() - signalledAt < STOPPED_WITHIN_MS) {
        await sleep(25);
        free = await portIsFree(port);
      }

      expect(exit, `how npm ended within ${STOPPED_WITHIN_MS} ms of ${signal} (undefined: still running):\n${output()}`).toEqual({ code: 0, signal: null });
      expect(free, `UDP ${port} still held ${STOPPED_WITHIN_MS} ms after ${signal}`).toBe(true);
      // No coordinator orphaned (nor any shell between npm and it).
      expect(below.filter(isAlive)).toEqual([]);
      // It stopped on the one signal, cleanly, not on a second one at once.
      expect(output()).not.toMatch(/second signal/);
    }, READY_WITHIN_MS + 30_000);
  }
});

describe('npm gone, the coordinator stops: it never holds its port as an orphan', () => {
  it('npm start, npm killed outright (SIGKILL): the coordinator stops on its own, the port free within 2 s', async () => {
    const { npm, port, below } = await npmStart();
    npm.kill('SIGKILL');
    const killedAt = Date.now();
    while (!(await portIsFree(port)) && Date.now() - killedAt < STOPPED_WITHIN_MS) await sleep(25);
    expect(await portIsFree(port), `UDP ${port} still held ${STOPPED_WITHIN_MS} ms after npm was killed`).toBe(true);
    while (below.some(isAlive) && Date.now() - killedAt < STOPPED_WITHIN_MS) await sleep(25);
    expect(below.filter(isAlive)).toEqual([]);
  }, READY_WITHIN_MS + 30_000);

  // npx runs the command in `sh -c`, and forwards a SIGTERM to that shell only, which dies of it.
  it('npx oscport start, SIGTERM to npx: the coordinator stops, the port free within 2 s, nothing left behind', async () => {
    const { npm, port, below, exited } = await npmStart('npx');
    npm.kill('SIGTERM');
    const signalledAt = Date.now();
    await exited;
    while (!(await portIsFree(port)) && Date.now() - signalledAt < STOPPED_WITHIN_MS) await sleep(25);
    expect(await portIsFree(port), `UDP ${port} still held ${STOPPED_WITHIN_MS} ms after SIGTERM to npx`).toBe(true);
    while (below.some(isAlive) && Date.now() - signalledAt < STOPPED_WITHIN_MS) await sleep(25);
    expect(below.filter(isAlive)).toEqual([]);
  }, READY_WITHIN_MS + 30_000);
});

describe('npm start in a terminal', () => {
  // Ctrl-C signals the terminal's whole foreground group, npm and the coordinator alike, and npm forwards its
  // SIGINT to the coordinator too: it must still stop cleanly, once, not as on a second Ctrl-C (exit 1 at once).
  // util-linux's script(1) gives it a terminal; Ctrl-C is the byte 0x03 typed into it. script runs the command
  // through $SHELL -c, and a non-interactive dash dies of the Ctrl-C itself while npm stops cleanly: exec npm, so
  // what script reports is npm's own exit, whatever the shell.
  it.skipIf(process.platform !== 'linux' || !hasCommand('script'))(
    'Ctrl-C stops it cleanly: exit 0, one "stopping", the port free',
    async () => {
      const port = await freeUdpPort();
      const command = `exec npm start -- --port ${port} --data-dir ${freshDataDir()}`;
      const terminal = spawn('script', ['-qfec', command, '/dev/null'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
      running.push(terminal);
      let output = '';
      const listening = new Promise<void>((resolve) =>
        terminal.stdout!.on('data', (chunk) => {
          output += chunk;
          if (output.includes('coordinator listening')) resolve();
        }),
      );
      terminal.stderr!.on('data', (chunk) => (output += chunk));
      const exited = new Promise<Exit>((resolve) => terminal.once('exit', (code, signal) => resolve({ code, signal })));
      await Promise.race([listening, exited.then((e) => Promise.reject(new Error(`npm start ended (${JSON.stringify(e)}):\n${output}`)))]);
      spawnedPids.push(...descendants(terminal.pid!));

      terminal.stdin!.write('\x03');
      const exit = await Promise.race([exited, sleep(STOPPED_WITHIN_MS).then(() => undefined)]);
      const plain = output.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
      expect(exit, plain).toEqual({ code: 0, signal: null });
      expect(plain.match(/\bstopping\b/g)).toHaveLength(1);
      expect(plain).toMatch(/coordinator stopped/);
      expect(plain).not.toMatch(/second signal/);
      expect(await portIsFree(port)).toBe(true);
    },
    READY_WITHIN_MS + 30_000,
  );
});

describe('every long-running command run through npx stops with it: no orphan keeps its ports', () => {
  /** `npx oscport ...args` until its stderr says `ready`; then SIGTERM to npx, as a user stopping it by its PID. */
  async function stoppedThroughNpx(args: string[], ready: RegExp) {
    const npx = spawn('npx', ['oscport', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });
    running.push(npx);
    let output = '';
    const readyNow = new Promise<void>((resolve, reject) => {
      const read = (chunk: Buffer) => {
        output += chunk;
        if (ready.test(output)) resolve();
      };
      npx.stdout!.on('data', read);
      npx.stderr!.on('data', read);
      npx.once('exit', (code) => reject(new Error(`npx oscport ${args.join(' ')} exited (${code}):\n${output}`)));
    });
    await readyNow;
    const below = descendants(npx.pid!);
    spawnedPids.push(...below);
    expect(below.length).toBeGreaterThan(0);
    npx.kill('SIGTERM');
    // No event says that a process which is not our child has gone: its PID is looked at until it has.
    await expect
      .poll(() => below.filter(isAlive), { timeout: STOPPED_WITHIN_MS, interval: 25, message: `still running ${STOPPED_WITHIN_MS} ms after SIGTERM to npx:\n${output}` })
      .toEqual([]);
  }

  it('npx oscport atlas-sim', async () => {
    await stoppedThroughNpx(['atlas-sim', '--tcp-port', '0', '--meter-port', String(await freeUdpPort())], /atlas-sim: listening/);
  }, READY_WITHIN_MS + 30_000);

  it('npx oscport simulate --hold', async () => {
    const coordinator = await startCoordinator({ port: 0, poolLow: 27300, poolHigh: 27349, reserved: [], extraPorts: [], sweepPorts: [] });
    try {
      await stoppedThroughNpx(['simulate', '-n', '2', '--juce-bug-rate', '0', '--hold', '-c', `127.0.0.1:${coordinator.port}`], /holding 2 plugins/);
    } finally {
      await coordinator.close();
    }
  }, READY_WITHIN_MS + 30_000);
});
