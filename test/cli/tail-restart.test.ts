import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { afterEach, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';
import { RANGES, testCoordinator } from '../helpers/coordinator.js';
import { Peer, f, s } from '../helpers/peer.js';

/** Renewals every 500 ms (the client's least), so a stopped coordinator is noticed within about a second. */
const CONTROLLER_TTL_MS = 1000;

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

it('tail: says when the coordinator stops answering, and goes on when it is back on its port', async () => {
  const first = await testCoordinator(RANGES.tail, { controllerTtlMs: CONTROLLER_TTL_MS });
  const port = first.port;
  const tail = spawn(process.execPath, [CLI, 'tail', '--json', '--coordinator', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  cleanup.push(() => tail.kill('SIGKILL'));
  const lines = createInterface({ input: tail.stdout! });
  const stderr = createInterface({ input: tail.stderr! });
  const said = (pattern: RegExp) =>
    new Promise<string>((resolve) => {
      const listener = (line: string) => {
        if (!pattern.test(line)) return;
        stderr.off('line', listener);
        resolve(line);
      };
      stderr.on('line', listener);
    });
  await expect.poll(() => first.stats().controllers.length, { timeout: 5000 }).toBe(1);

  const lost = said(/no answer/);
  await first.close();
  expect(await lost).toBe(`oscport: no answer from the coordinator on 127.0.0.1:${port}: waiting for it (Ctrl-C to stop)`);

  const back = said(/answers again/);
  const second = await testCoordinator(RANGES.tail, { port, controllerTtlMs: CONTROLLER_TTL_MS });
  expect(await back).toBe(`oscport: the coordinator on 127.0.0.1:${port} answers again: tailing`);
  expect(second.stats().controllers).toHaveLength(1);

  const plugin = await Peer.bind();
  cleanup.push(() => plugin.close());
  plugin.send(port, '/aiplayer/rms', s('tail-a'), f(0.25));
  const [line] = (await once(lines, 'line')) as [string];
  // No lease holds tail-a: the message comes through all the same, its sender unnamed.
  expect(JSON.parse(line)).toMatchObject({ tempId: null, address: '/aiplayer/rms', args: [{ type: 's', value: 'tail-a' }, { type: 'f', value: 0.25 }] });

  const exited = once(tail, 'exit');
  tail.kill('SIGINT');
  expect((await exited)[0]).toBe(0);
});
