import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { encodeMessage } from '../../src/osc/codec.js';
import { DeployedPlugin } from '../../src/simulators/daw/deployed-plugin.js';
import { RANGES, testCoordinator } from '../helpers/coordinator.js';
import { collectLogs } from '../helpers/logs.js';
import { f, Peer, s } from '../helpers/peer.js';
import { freeUdpPort } from '../helpers/ports.js';

const POOL = RANGES.extraPorts;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((close) => close()));
});

async function peer(port = 0): Promise<Peer> {
  const bound = await Peer.bind(port);
  cleanups.push(() => bound.close());
  return bound;
}

async function status(from: Peer, port: number) {
  from.send(port, '/coordinator/status', s('status'));
  const reply = await from.next('/coordinator/reply');
  return { from: reply.from.port, status: JSON.parse(reply.message.args[1]!.value as string).status };
}

describe('the extra port, where today’s AIplayer builds send', () => {
  it('is served exactly as the main port: plugins that send there are verified, and a question there is answered from there', async () => {
    const extra = await freeUdpPort();
    const c = await testCoordinator(POOL, { extraPorts: [extra] });
    const responsePort = await freeUdpPort();
    const plugins = [0, 1, 2].map(
      (n) => new DeployedPlugin({ tempId: `today_${n}`, coordinator: { host: '127.0.0.1', port: extra }, responsePort, juceBug: true }),
    );
    for (const plugin of plugins) {
      cleanups.push(() => plugin.close());
      await plugin.start();
    }
    for (const plugin of plugins) plugin.sendRequest();
    const ports = await Promise.all(plugins.map((plugin) => plugin.whenVerified()));
    expect(new Set(ports).size).toBe(3);

    const cli = await peer();
    const answer = await status(cli, extra);
    expect(answer.from).toBe(extra);
    expect(answer.status.ports).toEqual({ listening: [c.port, extra], unavailable: [] });
    expect(answer.status.counters.requests).toBe(3);
  });

  it('held by another process: the coordinator starts on its own port, and says once who holds the other and what it means', async () => {
    const squatter = await peer();
    const { lines, logger } = collectLogs('warn');
    const c = await testCoordinator(POOL, { extraPorts: [squatter.port], logger });
    const unavailable = c.stats().ports.unavailable;
    expect(unavailable).toEqual([{ port: squatter.port, reason: expect.stringMatching(new RegExp(`^in use by PID ${process.pid} \\(`)) }]);
    expect(c.stats().ports.listening).toEqual([c.port]);
    const warnings = lines.filter((line) => line.port === squatter.port);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toContain(`127.0.0.1:${squatter.port} is in use by PID ${process.pid}`);
    expect(warnings[0]!.msg).toContain("today's AIplayer builds send to 8999");

    // The main port serves as ever.
    const plugin = new DeployedPlugin({ tempId: 'main-port', coordinator: { host: '127.0.0.1', port: c.port }, responsePort: await freeUdpPort(), juceBug: true });
    cleanups.push(() => plugin.close());
    await plugin.start();
    plugin.sendRequest();
    await plugin.whenVerified();
  });
});

describe('standing controllers', () => {
  it('from the settings hear every plugin message byte for byte, with no subscription, for as long as the coordinator runs', async () => {
    const listener = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => listener.bind(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => listener.close(() => resolve())));
    const clock = new SimulatedClock();
    const c = await testCoordinator(POOL, { clock, controllers: [{ host: '127.0.0.1', port: listener.address().port }], controllerTtlMs: 1000 });
    expect(c.stats().controllers).toEqual([`127.0.0.1:${listener.address().port}`]);
    // Far past any subscription's life.
    clock.increment(60_000);
    expect(c.stats().controllers).toEqual([`127.0.0.1:${listener.address().port}`]);

    const sent = encodeMessage({ address: '/aiplayer/telemetry', args: [s('AIplayer_1'), f(0.5), f(0.1), f(0.2), f(0.3), f(0.4)] });
    const received = new Promise<Buffer>((resolve) => listener.once('message', resolve));
    const plugin = await peer();
    await plugin.sendRaw(c.port, sent);
    expect(Buffer.compare(await received, Buffer.from(sent))).toBe(0);
  });
});
