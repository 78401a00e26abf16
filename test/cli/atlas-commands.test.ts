import { afterEach, describe, expect, it } from 'vitest';
import { startAtlasSimulator } from '../../src/simulators/atlas/simulator.js';
import { oscport } from '../helpers/cli.js';
import { RANGES, testCoordinator } from '../helpers/coordinator.js';
import { ManualPlugin } from '../helpers/manual-plugin.js';
import { freeUdpPort } from '../helpers/ports.js';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** A coordinator whose meter socket is a free port, a simulated processor sending there, and one verified plugin. */
async function studio() {
  const meterPort = await freeUdpPort();
  const coordinator = await testCoordinator(RANGES.atlasCli, { atlas: { meterPort, meterHost: '127.0.0.1' } });
  const device = await startAtlasSimulator({ host: '127.0.0.1', tcpPort: 0, meterPort, rateHz: 50 });
  cleanup.push(() => device.close());
  const plugin = await ManualPlugin.verified('AIplayer_metered', coordinator.port);
  cleanup.push(() => plugin.close());
  return { coordinator, device, plugin, at: ['-c', `127.0.0.1:${coordinator.port}`] };
}

describe('oscport atlas add | remove | subscribe | unsubscribe [PROTOCOL §15]', () => {
  it('connects a processor, sends its meter to a plugin, and undoes both, each with --json', async () => {
    const { coordinator, device, plugin, at } = await studio();
    const arrivals = plugin.arrivals();

    expect(await oscport(['atlas', 'add', 'bar', `127.0.0.1:${device.tcpPort}`, '--json', ...at])).toEqual({
      code: 0,
      stdout: `${JSON.stringify({ ok: true, processor: { id: 'bar', host: '127.0.0.1', tcpPort: device.tcpPort } })}\n`,
      stderr: '',
    });
    await expect.poll(() => coordinator.atlas.status()?.processors[0]?.state).toBe('connected');

    const subscribed = await oscport(['atlas', 'subscribe', 'AIplayer_metered', 'bar', 'ZoneMeter_0', ...at]);
    expect(subscribed).toEqual({ code: 0, stdout: 'AIplayer_metered receives bar ZoneMeter_0 as /atlas/meter\n', stderr: '' });
    await expect.poll(() => arrivals.some((datagram) => datagram.includes('/atlas/meter'))).toBe(true);

    const unsubscribed = await oscport(['atlas', 'unsubscribe', 'AIplayer_metered', 'bar', 'ZoneMeter_0', '--json', ...at]);
    expect(JSON.parse(unsubscribed.stdout)).toEqual({ ok: true, target: 'AIplayer_metered', processor: 'bar', param: 'ZoneMeter_0' });
    expect(coordinator.atlas.meterList()).toEqual([]);

    expect(await oscport(['atlas', 'remove', 'bar', ...at])).toEqual({ code: 0, stdout: 'removed Atlas processor bar\n', stderr: '' });
    expect(coordinator.atlas.status()?.processors).toEqual([]);
  });

  it('says what is wrong in the user\'s terms: exit 2 for what it was given, 1 for what the coordinator or device refused', async () => {
    const { coordinator, device, at } = await studio();
    const fails = async (args: string[], code: number, stderr: string) => expect(await oscport([...args, ...at])).toMatchObject({ code, stdout: '', stderr: expect.stringContaining(stderr) });

    await fails(['atlas', 'add', 'bar', 'localhost'], 2, '"localhost" is not an IPv4 address');
    await fails(['atlas', 'add', 'bar', '127.0.0.1:70000'], 2, '70000 is outside 1-65535');
    expect((await oscport(['atlas', 'add', 'bar', `127.0.0.1:${device.tcpPort}`, ...at])).code).toBe(0);
    await fails(['atlas', 'add', 'bar', `127.0.0.1:${device.tcpPort}`], 1, 'Atlas processor "bar" already exists');
    await fails(['atlas', 'remove', 'nobar'], 1, 'no Atlas processor "nobar"');
    await fails(['atlas', 'subscribe', 'AIplayer_metered', 'nobar', 'ZoneMeter_0'], 1, 'no Atlas processor "nobar"');
    await fails(['atlas', 'subscribe', 'ghost', 'bar', 'ZoneMeter_0'], 1, 'no verified plugin is known as ghost');
    await expect.poll(() => coordinator.atlas.status()?.processors[0]?.state).toBe('connected');
    await fails(['atlas', 'subscribe', 'AIplayer_metered', 'bar', 'NoSuch_0'], 1, "bar refused NoSuch_0: param 'NoSuch_0' could not be found");
    // Nothing is left of what the device refused.
    expect(coordinator.atlas.meterList()).toEqual([]);
  });

  it('atlas --json with no processor prints the empty structure, not null', async () => {
    const coordinator = await testCoordinator(RANGES.atlasCli);
    const shown = await oscport(['atlas', '--json', '-c', `127.0.0.1:${coordinator.port}`]);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ meterSocket: null, processors: [], counters: { updates: 0 } });
  });
});
