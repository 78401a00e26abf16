import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../src/main.js';
import { requestPort, type SdkLease } from '../../src/sdk/request-port.js';
import { CLI, oscport as run } from '../helpers/cli.js';
import { RANGES, testCoordinator } from '../helpers/coordinator.js';
import { Peer, f, s } from '../helpers/peer.js';
import { freeUdpPort } from '../helpers/ports.js';

const oscport = (...args: string[]) => run(args);

let c: Coordinator;
let at: string[];
const leases: SdkLease[] = [];
const peers: Peer[] = [];

beforeEach(async () => {
  c = await testCoordinator(RANGES.routingCli);
  at = ['--coordinator', `127.0.0.1:${c.port}`];
  for (const tempId of ['ctl-a', 'ctl-b']) {
    leases.push(await requestPort({ tempId, coordinator: { host: '127.0.0.1', port: c.port }, rms: () => 0.5 }));
  }
  await expect.poll(() => c.stats().leases.bound).toBe(2);
});

afterEach(async () => {
  await Promise.all([...leases.splice(0).map((l) => l.release()), ...peers.splice(0).map((p) => p.close())]);
});

describe('the routing CLI against a live coordinator', () => {
  it('send: delivers the message to the target plugin, typed as given', async () => {
    const arrived = once(leases[0]!, 'message');
    const result = await oscport('send', 'ctl-a', '/aiplayer/start_tone', 'fi', '440.5', '-12', ...at);
    expect(result).toMatchObject({ code: 0, stdout: 'sent /aiplayer/start_tone ,fi to ctl-a\n' });
    const [message] = (await arrived) as [{ address: string; args: Array<{ type: string; value: unknown }> }];
    expect(message).toMatchObject({ address: '/aiplayer/start_tone', args: [{ type: 'f', value: 440.5 }, { type: 'i', value: -12 }] });
  });

  it('send: an unknown target is an error (exit 1); a type JUCE cannot read, a usage error (exit 2)', async () => {
    const unknown = await oscport('send', 'nobody', '/aiplayer/stop_tone', ...at);
    expect(unknown).toMatchObject({ code: 1, stderr: 'oscport: unknown_target: no plugin is known as nobody\n' });
    const double = await oscport('send', '*', '/aiplayer/x', 'd', '1.5', ...at);
    expect(double.code).toBe(2);
    expect(double.stderr).toContain('"d" is not a type a plugin reads: only i (int32), f (float32), s (string) and b (blob, in hex)');
    // Told what is wrong with the type, not that a value is missing for it (`T` takes none in oscsend).
    const boolean = await oscport('send', 'x', '/a', 'T', ...at);
    expect(boolean.code).toBe(2);
    expect(boolean.stderr).toContain('"T" is not a type a plugin reads');
    const missing = await oscport('send', '*', '/aiplayer/x', 'ff', '1', ...at);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('2 type(s) "ff" but 1 value(s)');
  });

  it('send: says so when no coordinator answers', async () => {
    const result = await oscport('send', '*', '/aiplayer/stop_tone', '--coordinator', `127.0.0.1:${await freeUdpPort()}`);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^oscport: no coordinator answering on 127\.0\.0\.1:\d+/);
  });

  it('calibrate-rms: one gather, a table of every bound plugin; --json too', async () => {
    const table = await oscport('calibrate-rms', ...at);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^TEMPID\s+TRACK\s+PORT\s+RMS$/);
    expect(table.stdout).toMatch(/ctl-a\s+-\s+\d+\s+0\.5000/);
    const json = JSON.parse((await oscport('calibrate-rms', '--json', ...at)).stdout) as { answers: unknown[]; silent: unknown[] };
    expect(json.answers).toHaveLength(2);
    expect(json.silent).toEqual([]);
  });

  it('calibrate-rms: names the plugins that did not answer, and exits 1', async () => {
    const gone = leases.pop()!;
    await gone.close();
    const result = await oscport('calibrate-rms', '--timeout', '200', ...at);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`no answer from: ctl-b (port ${gone.port})`);
  });

  it('tail: prints plugin traffic as it arrives, with the sender named, until Ctrl-C', async () => {
    const tail = spawn(process.execPath, [CLI, 'tail', '--json', '--address', '/aiplayer/tele*', ...at], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = once(tail, 'exit');
    peers.push({ close: async () => void tail.kill() } as unknown as Peer);
    const lines = createInterface({ input: tail.stdout! });
    await expect.poll(() => c.stats().controllers.length, { timeout: 5000 }).toBe(1);
    const plugin = await Peer.bind();
    peers.push(plugin);
    plugin.send(c.port, '/aiplayer/rms', s('ctl-a'), f(0.25));
    plugin.send(c.port, '/aiplayer/telemetry', s('ctl-a'), f(0.5), f(0), f(0), f(0), f(0));
    const [line] = (await once(lines, 'line')) as [string];
    expect(JSON.parse(line)).toMatchObject({
      tempId: 'ctl-a',
      trackId: null,
      address: '/aiplayer/telemetry',
      args: [{ type: 's', value: 'ctl-a' }, ...[0.5, 0, 0, 0, 0].map((value) => ({ type: 'f', value }))],
    });
    tail.kill('SIGINT');
    const [code] = await exited;
    expect(code).toBe(0);
    await expect.poll(() => c.stats().controllers).toEqual([]);
  });
});
