import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startCoordinator, type Coordinator } from '../../src/main.js';
import { encodeMessage } from '../../src/osc/codec.js';

/** examples/sdk-hello.mjs, run as a user runs it (it imports 'oscport', the built package), against a coordinator started here. */

const EXAMPLE = fileURLToPath(new URL('../../examples/sdk-hello.mjs', import.meta.url));
/** This file's own pool, clear of every other test file's. */
const POOL = [23700, 23799] as const;

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const item of open.splice(0).reverse()) await item.close();
});

async function coordinator(): Promise<Coordinator> {
  const c = await startCoordinator({
    host: '127.0.0.1',
    port: 0,
    poolLow: POOL[0],
    poolHigh: POOL[1],
    reserved: [],
    extraPorts: [],
    sweepPorts: [],
    dataDir: null,
    logger: pino({ level: process.env.OSCPORT_TEST_LOG ?? 'silent' }),
  });
  open.push(c);
  return c;
}

/** The example, with its output as lines; `line(re)` waits for the first line not yet taken that matches. */
function example(args: string[]) {
  const child: ChildProcess = spawn(process.execPath, [EXAMPLE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  open.push({ close: () => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL') });
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const wakers: Array<() => void> = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    lines.push(l);
    wakers.splice(0).forEach((wake) => wake());
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    lines,
    stderr: () => stderr,
    async line(pattern: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        for (const l of lines) {
          const match = l.match(pattern);
          if (match) return match;
        }
        if (Date.now() > deadline) throw new Error(`no line matching ${pattern} within ${timeoutMs} ms; got ${JSON.stringify(lines)}, stderr ${stderr}, exit ${child.exitCode} ${child.signalCode}`);
        await new Promise<void>((resolve) => {
          wakers.push(resolve);
          setTimeout(resolve, 100);
        });
      }
    },
  };
}

function send(port: number, bytes: Uint8Array): Promise<void> {
  const socket = dgram.createSocket('udp4');
  return new Promise((resolve) => socket.send(bytes, port, '127.0.0.1', () => socket.close(() => resolve())));
}

function bound(c: Coordinator): number {
  return c.stats().leases.bound ?? 0;
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('examples/sdk-hello.mjs', () => {
  it('prints its verified port and what arrives on it, and releases the port after --count messages', async () => {
    const c = await coordinator();
    const verified = new Promise<{ tempId: string; port: number }>((resolve) => c.leases.once('bound', resolve));
    const run = example(['--coordinator', `127.0.0.1:${c.port}`, '--count', '2', '--temp-id', 'hello-test']);

    const port = Number((await run.line(/^verified port (\d+) \(tempID hello-test\)$/))[1]);
    expect(port).toBeGreaterThanOrEqual(POOL[0]);
    expect(port).toBeLessThanOrEqual(POOL[1]);
    // The port it prints is the one the coordinator verified for it.
    expect(await verified).toMatchObject({ tempId: 'hello-test', port });
    expect(bound(c)).toBe(1);

    await send(port, encodeMessage({ address: '/hello', args: [{ type: 's', value: 'world' }, { type: 'i', value: 42 }] }));
    await run.line(/^\/hello ,si "world" 42 {2}\(from 127\.0\.0\.1:\d+\)$/);
    await send(port, encodeMessage({ address: '/level', args: [{ type: 'f', value: 0.5 }] }));
    await run.line(/^\/level ,f 0\.5 /);

    await run.line(new RegExp(`^released port ${port} after 2 messages$`));
    expect(await run.exited).toBe(0);
    await until(() => bound(c) === 0);
  });

  it('stops on Ctrl-C (SIGINT), releasing the port', async () => {
    const c = await coordinator();
    const run = example(['--coordinator', `127.0.0.1:${c.port}`]);
    const port = Number((await run.line(/^verified port (\d+) /))[1]);
    await until(() => bound(c) === 1);

    run.child.kill('SIGINT');
    await run.line(new RegExp(`^released port ${port} after 0 messages$`));
    expect(await run.exited).toBe(0);
    await until(() => bound(c) === 0);
  });

  it('says why, and exits 1, when no coordinator answers', async () => {
    const nobody = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => nobody.bind(0, '127.0.0.1', resolve));
    open.push({ close: () => new Promise<void>((resolve) => nobody.close(() => resolve())) });
    const run = example(['--coordinator', `127.0.0.1:${nobody.address().port}`, '--timeout', '500']);
    expect(await run.exited).toBe(1);
    expect(run.stderr()).toMatch(/^sdk-hello: no port: timeout: no verified port within 500 ms$/m);
  });
});
