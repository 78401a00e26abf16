import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { createPortCheck } from '../../src/net/port-check.js';
import { RANGES, testCoordinator } from '../helpers/coordinator.js';
import { freeUdpPort } from '../helpers/ports.js';
import { hasCommand } from '../helpers/system.js';

const run = promisify(execFile);
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill();
});

/** liblo's oscdump on `port`, line-buffered; `next(address)` resolves with the first matching line's fields. */
async function oscdump(port: number) {
  const child = spawn('oscdump', ['-L', String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    waiters.splice(0).forEach((wake) => wake());
  });
  // oscdump prints nothing when ready; it is listening once the port can no longer be bound.
  const held = createPortCheck();
  for (let tries = 0; !(await held([port])).has(port); tries++) {
    if (tries > 100) throw new Error(`oscdump did not bind ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    async next(address: string): Promise<string[]> {
      for (;;) {
        const line = lines.find((l) => l.split(' ')[1] === address);
        if (line) return line.split(' ').slice(2);
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
    stop: () => child.kill(),
  };
}

const oscsend = (port: number, address: string, types: string, ...values: Array<string | number>) =>
  run('oscsend', ['127.0.0.1', String(port), address, types, ...values.map(String)]);

const LIBLO = hasCommand('oscsend') && hasCommand('oscdump');
/** `.ci/run` installs liblo-tools and sets this: there, a missing liblo is a failure, not a skip. */
const REQUIRED = process.env.OSCPORT_REQUIRE_LIBLO === '1';
const SKIPPED = 'skipped: liblo\'s oscsend and oscdump are not installed (Debian: apt-get update && apt-get install liblo-tools)';

it.runIf(REQUIRED)('liblo is installed where it is required (OSCPORT_REQUIRE_LIBLO=1)', () => {
  expect(LIBLO, SKIPPED).toBe(true);
});

describe.skipIf(!LIBLO && !REQUIRED)(`interop with liblo (a C OSC implementation)${LIBLO ? '' : ` (${SKIPPED})`}`, () => {
  it('oscsend and oscdump drive a whole handshake', async () => {
    const c = await testCoordinator(RANGES.interop);
    const bound = new Promise((resolve) => c.leases.once('bound', resolve));

    const responsePort = await freeUdpPort();
    const response = await oscdump(responsePort);
    await oscsend(c.port, '/aiplayer/request_port', 'sii', 'liblo-1', -1, responsePort);
    const [types, tempId, port, status] = await response.next('/aiplayer/port_assignment');
    expect([types, tempId, status]).toEqual(['sis', '"liblo-1"', '"assigned"']);
    response.stop();

    const receiver = await oscdump(Number(port));
    await oscsend(c.port, '/aiplayer/port_confirmed', 'sis', 'liblo-1', Number(port), 'bound');
    const [probeTypes, quotedNonce] = await receiver.next('/aiplayer/query_rms');
    expect(probeTypes).toBe('s');
    const nonce = quotedNonce!.replace(/^"|"$/g, '');
    await oscsend(c.port, '/aiplayer/rms_response', 'ssf', nonce, 'liblo-1', 0.5);

    expect(await bound).toMatchObject({ tempId: 'liblo-1', port: Number(port) });
  });
});
