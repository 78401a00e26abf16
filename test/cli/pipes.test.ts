import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, freshDataDir, oscport } from '../helpers/cli.js';
import { freeUdpPort } from '../helpers/ports.js';
import { RANGES, testCoordinator } from '../helpers/coordinator.js';
import { Peer, f, s } from '../helpers/peer.js';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

function run(args: string[]): { child: ChildProcess; stderr: string[]; exited: Promise<[number | null, NodeJS.Signals | null]> } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  cleanup.push(() => child.kill('SIGKILL'));
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  return { child, stderr, exited: once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]> };
}

describe('in pipes and scripts', () => {
  it('tail whose reader goes away (| head -1) ends quietly with exit 0, and unsubscribes', async () => {
    const coordinator = await testCoordinator(RANGES.pipes);
    const { child, stderr, exited } = run(['tail', '--json', '-c', `127.0.0.1:${coordinator.port}`]);
    await expect.poll(() => coordinator.stats().controllers.length, { timeout: 5000 }).toBe(1);
    const plugin = await Peer.bind();
    cleanup.push(() => plugin.close());
    plugin.send(coordinator.port, '/aiplayer/rms', s('piped'), f(0.5));
    await once(createInterface({ input: child.stdout! }), 'line');
    // As `head -1` does once it has its line: its end of the pipe closes, and the next write fails.
    child.stdout!.destroy();
    const traffic = setInterval(() => plugin.send(coordinator.port, '/aiplayer/rms', s('piped'), f(0.5)), 20);
    cleanup.push(() => clearInterval(traffic));
    expect(await exited).toEqual([0, null]);
    expect(stderr).toEqual([]);
    expect(coordinator.stats().controllers).toEqual([]);
  });

  it('tail stopped by SIGTERM unsubscribes before it exits', async () => {
    const coordinator = await testCoordinator(RANGES.pipes);
    const { child, exited } = run(['tail', '-c', `127.0.0.1:${coordinator.port}`]);
    await expect.poll(() => coordinator.stats().controllers.length, { timeout: 5000 }).toBe(1);
    child.kill('SIGTERM');
    expect(await exited).toEqual([0, null]);
    expect(coordinator.stats().controllers).toEqual([]);
  });

  it('leases --watch --json whose reader goes away ends quietly with exit 0', async () => {
    const coordinator = await testCoordinator(RANGES.pipes);
    const { child, stderr, exited } = run(['leases', '--watch', '--json', '-c', `127.0.0.1:${coordinator.port}`]);
    await once(child.stdout!, 'data');
    child.stdout!.destroy();
    expect(await exited).toEqual([0, null]);
    expect(stderr).toEqual([]);
  });

  it('start whose log reader went away (| head -3) still stops on SIGTERM, exit 0', async () => {
    const port = await freeUdpPort();
    const { child, exited } = run(['start', '--port', String(port), '--pool', `${RANGES.pipes[0]}-${RANGES.pipes[1]}`, '--extra-ports', '', '--sweep-ports', '', '--data-dir', freshDataDir(), '--http-port', 'off']);
    await once(createInterface({ input: child.stdout! }), 'line');
    child.stdout!.destroy();
    // What it logs from now on meets a closed pipe; the last lines, written as it exits, must not hang it.
    child.kill('SIGTERM');
    expect(await exited).toEqual([0, null]);
  });

  it('start whose log is piped to a reader that goes (| head) stops at its next line, exit 0, as a Unix tool does', async () => {
    const port = await freeUdpPort();
    const settings = `--port ${port} --pool ${RANGES.pipes[0]}-${RANGES.pipes[1]} --extra-ports '' --sweep-ports '' --data-dir ${freshDataDir()} --http-port off`;
    // A shell pipe is a FIFO (a child's stdio from node is a socket pair): the start's own exit status is printed.
    const shell = spawn('bash', ['-c', `${process.execPath} ${CLI} start ${settings} | head -1 > /dev/null; echo "\${PIPESTATUS[0]}"`], { stdio: ['ignore', 'pipe', 'pipe'] });
    cleanup.push(() => shell.kill('SIGKILL'));
    let status: string | undefined;
    createInterface({ input: shell.stdout! }).once('line', (line) => (status = line));
    // Its start lines may all reach head before it exits; plugins that come and go make more, which find nobody reading.
    await expect
      .poll(async () => (status ?? (await oscport(['simulate', '-n', '2', '--juce-bug-rate', '0', '-c', `127.0.0.1:${port}`]), status)), { timeout: 15_000 })
      .toBe('0');
    expect((await oscport(['status', '-c', `127.0.0.1:${port}`])).code).toBe(1);
  });

  it('atlas-sim on a TCP port someone holds says who, and exits 1', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => holder.close());
    const { port } = holder.address() as net.AddressInfo;
    const { stderr, exited } = run(['atlas-sim', '--tcp-port', String(port), '--meter-port', '0']);
    expect(await exited).toEqual([1, null]);
    expect(stderr).toHaveLength(1);
    expect(stderr[0]).toMatch(new RegExp(`^oscport: TCP 127\\.0\\.0\\.1:${port} is already in use by PID ${process.pid} \\(.+\\)\\. Stop it, or choose another port with --tcp-port\\.$`));
  });
});
