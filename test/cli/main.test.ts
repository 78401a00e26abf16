import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { requestPort } from '../../src/sdk/request-port.js';
import { CLI, freshDataDir, oscport } from '../helpers/cli.js';
import { RANGES } from '../helpers/coordinator.js';
import { Peer, s } from '../helpers/peer.js';
import { freeUdpPort } from '../helpers/ports.js';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

/** `oscport start` in the background; resolves once it logs that it is listening. */
async function startDaemon(args: string[], env: Record<string, string> = {}, dataDir = freshDataDir()) {
  const child = spawn(process.execPath, [CLI, 'start', '--data-dir', dataDir, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const lines = createInterface({ input: child.stdout! });
  const logged: Array<{ msg: string; level: number; port?: number }> = [];
  for await (const line of lines) {
    const entry = JSON.parse(line) as { msg: string; level: number; port?: number };
    logged.push(entry);
    if (entry.msg === 'coordinator listening') return { child, port: entry.port!, logged };
  }
  throw new Error('oscport start exited before listening');
}

const POOL = `${RANGES.cli[0]}-${RANGES.cli[1]}`;

describe('oscport CLI', () => {
  it('--help and --version exit 0', async () => {
    const help = await oscport(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('start');
    expect(help.stdout).toContain('simulate');
    const startHelp = await oscport(['start', '--help']);
    expect(startHelp.stdout).toContain('OSCPORT_PORT');
    const version = await oscport(['--version']);
    expect(version).toMatchObject({ code: 0 });
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('usage errors exit 2 with a message naming the flag or variable, every one of them prefixed "oscport:"', async () => {
    const badFlag = await oscport(['start', '--port', 'abc']);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toMatch(/--port.*abc/);
    const badEnv = await oscport(['start'], { OSCPORT_POOL: '9999-9000' });
    expect(badEnv.code).toBe(2);
    expect(badEnv.stderr).toContain('OSCPORT_POOL');
    const others = await Promise.all(
      [['simulate'], ['nonsense'], ['status', '--bogus'], ['probe', 'abc'], ['send', 'x', 'no-slash'], ['send', 'x', '/a', 'q', '1']].map((args) => oscport(args)),
    );
    for (const result of [badFlag, badEnv, ...others]) {
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      const [message, ...rest] = result.stderr.trimEnd().split('\n');
      expect(message).toMatch(/^oscport: \S/);
      expect(rest.every((line) => line === '(run with --help for usage)'), result.stderr).toBe(true);
    }
  });

  it('exits 1 within 2 s when its port is taken, naming the port and the holder', async () => {
    const squatter = await Peer.bind(0, { reuseAddr: true });
    try {
      const started = Date.now();
      // The default data directory, shared with the coordinator that runs: the port is what it must name.
      const result = await oscport(['start', '--port', String(squatter.port), '--pool', POOL]);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`127.0.0.1:${squatter.port} is already in use`);
      if (process.platform === 'linux') expect(result.stderr).toContain(`PID ${process.pid}`);
      // Said once, on stderr: no log line repeats it on stdout.
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(result.stdout).toBe('');
    } finally {
      await squatter.close();
    }
  });

  it('a second coordinator with the same port and data directory exits 1, naming the port and the first one', async () => {
    const dataDir = freshDataDir();
    const first = await startDaemon(['--port', String(await freeUdpPort()), '--pool', POOL], {}, dataDir);
    const started = Date.now();
    const second = await oscport(['start', '--port', String(first.port), '--pool', POOL, '--data-dir', dataDir]);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`127.0.0.1:${first.port} is already in use`);
    if (process.platform === 'linux') expect(second.stderr).toContain(`PID ${first.child.pid}`);
  });

  it('an extra port held by another process: it starts anyway, says once who holds it, and status shows its ports', async () => {
    const squatter = await Peer.bind(0);
    try {
      const extra = await freeUdpPort();
      const daemon = await startDaemon(['--port', String(await freeUdpPort()), '--pool', POOL, '--extra-ports', `${extra},${squatter.port}`]);
      const warnings = daemon.logged.filter((entry) => entry.level === 40);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.msg).toContain(`UDP 127.0.0.1:${squatter.port} is in use by PID ${process.pid}`);
      // Asked on the extra port it did get, it answers from there.
      const status = await oscport(['status', '-c', `127.0.0.1:${extra}`]);
      expect(status.code).toBe(0);
      expect(status.stdout).toContain(`ports     UDP ${daemon.port}, ${extra}\n          ${squatter.port} unavailable: in use by PID ${process.pid}`);
      const json = JSON.parse((await oscport(['status', '--json', '-c', `127.0.0.1:${daemon.port}`])).stdout);
      expect(json.ports).toEqual({ listening: [daemon.port, extra], unavailable: [{ port: squatter.port, reason: expect.stringContaining(`in use by PID ${process.pid}`) }] });
    } finally {
      await squatter.close();
    }
  });

  it('start takes settings from the environment, serves, and stops cleanly on SIGTERM and SIGINT', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const port = await freeUdpPort();
      const daemon = await startDaemon(['--log-level', 'info'], { OSCPORT_PORT: String(port), OSCPORT_POOL: POOL });
      expect(daemon.port).toBe(port);
      const lease = await requestPort({ tempId: `cli-${signal}`, coordinator: { host: '127.0.0.1', port } });
      expect(lease.port).toBeGreaterThanOrEqual(RANGES.cli[0]);
      await lease.release();
      daemon.child.kill(signal);
      const [code] = await once(daemon.child, 'exit');
      expect(code).toBe(0);
      expect(await Peer.bind(port).then((p) => p.close())).toBeUndefined();
    }
  });

  it('simulate stopped with Ctrl-C still reports what happened, and exits 1 when plugins are left without a port', async () => {
    const silent = await Peer.bind();
    try {
      const sim = spawn(process.execPath, [CLI, 'simulate', '--plugins', '4', '--coordinator', `127.0.0.1:${silent.port}`,
        '--response-port', String(await freeUdpPort()), '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(sim);
      let stdout = '';
      sim.stdout!.on('data', (chunk) => (stdout += String(chunk)));
      // A coordinator that answers simulate's first question (is anyone there?), and never a plugin.
      const status = await silent.next('/coordinator/status');
      silent.send(status.from.port, '/coordinator/reply', s(status.message.args[0]!.value as string), s('{"ok":true}'));
      await silent.next('/aiplayer/request_port');
      sim.kill('SIGINT');
      const [code] = await once(sim, 'exit');
      expect(code).toBe(1);
      expect(JSON.parse(stdout)).toMatchObject({ plugins: 4, bound: 0, failed: 4 });
    } finally {
      await silent.close();
    }
  });

  it('simulate plays deployed plugins against a running coordinator and reports a summary', async () => {
    const daemon = await startDaemon(['--port', String(await freeUdpPort()), '--pool', POOL]);
    const shared = await freeUdpPort();
    const result = await oscport([
      'simulate', '--plugins', '12', '--coordinator', `127.0.0.1:${daemon.port}`,
      '--juce-bug-rate', '0.5', '--response-port', String(shared), '--json',
    ]);
    expect(result.code, result.stderr).toBe(0);
    const summary = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(summary).toMatchObject({ plugins: 12, buggy: 6, bound: 12, failed: 0, distinctPorts: true });
    expect(summary.handshakeP50Ms).toBeGreaterThan(0);

    const human = await oscport(['simulate', '--plugins', '3', '--coordinator', `127.0.0.1:${daemon.port}`, '--response-port', String(shared)]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/bound\s+3/);
  });

  it('simulate --daw-first: plugins that asked before any coordinator ran are all found by one started after', async () => {
    const port = await freeUdpPort();
    // A response port of this file's own, below the ephemeral range: only this test's coordinator sweeps it.
    const responsePort = RANGES.cliResponses[0];
    const simulate = spawn(process.execPath, [CLI, 'simulate', '-n', '4', '-c', `127.0.0.1:${port}`, '--daw-first', '--response-port', String(responsePort), '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(simulate);
    let stdout = '';
    simulate.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const [waiting] = (await once(createInterface({ input: simulate.stderr! }), 'line')) as [string];
    // Said once every request has left: none can reach the coordinator started now.
    expect(waiting).toBe(`4 plugins have asked 127.0.0.1:${port} once each, as a DAW opened first does; waiting for a coordinator to find them (Ctrl-C to stop)`);

    await startDaemon(['--port', String(port), '--pool', POOL, '--sweep-ports', String(responsePort)]);
    const [code] = await once(simulate, 'exit');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ plugins: 4, bound: 4, failed: 0, distinctPorts: true });
    const { counters } = JSON.parse((await oscport(['status', '--json', '-c', `127.0.0.1:${port}`])).stdout);
    expect(counters).toMatchObject({ requests: 0, instancesAdopted: 4 });
  });

  it('simulate releases its plugins\' leases when it exits, and when Ctrl-C ends --hold', async () => {
    const daemon = await startDaemon(['--port', String(await freeUdpPort()), '--pool', POOL]);
    const at = ['--coordinator', `127.0.0.1:${daemon.port}`];
    const leases = async () => JSON.parse((await oscport(['leases', '--json', ...at])).stdout) as Array<{ tempId: string; state: string }>;

    const run = await oscport(['simulate', '--plugins', '3', ...at, '--response-port', String(await freeUdpPort()), '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ plugins: 3, bound: 3 });
    // The releases reached the coordinator's socket before the simulation exited, so before this query.
    expect(await leases()).toEqual([]);

    const hold = spawn(process.execPath, [CLI, 'simulate', '--plugins', '3', ...at, '--response-port', String(await freeUdpPort()), '--hold'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(hold);
    for await (const line of createInterface({ input: hold.stderr! })) if (line.startsWith('holding 3 plugins')) break;
    expect((await leases()).map((lease) => lease.state)).toEqual(['bound', 'bound', 'bound']);
    hold.kill('SIGINT');
    const [code] = await once(hold, 'exit');
    expect(code).toBe(0);
    expect(await leases()).toEqual([]);
  });

  it('simulate says at once that no coordinator answers, rather than waiting out its timeout', async () => {
    const port = await freeUdpPort();
    const started = performance.now();
    const result = await oscport(['simulate', '--plugins', '64', '--coordinator', `127.0.0.1:${port}`]);
    expect(performance.now() - started).toBeLessThan(1500);
    expect(result).toEqual({ code: 1, stdout: '', stderr: `oscport: no coordinator answering on 127.0.0.1:${port}\n` });
  });
});
