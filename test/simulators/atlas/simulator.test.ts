import { afterEach, describe, expect, it } from 'vitest';
import { parseLine } from '../../../src/atlas/protocol.js';
import { startAtlasSimulator, type AtlasSimulator } from '../../../src/simulators/atlas/simulator.js';
import { lineClient, udpListener } from '../../atlas/helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A simulator on 127.0.0.2, a raw TCP client to it, and the UDP port its meters go to. */
async function setup(options: { meters?: string[]; rateHz?: number } = {}) {
  const meters = await udpListener();
  cleanups.push(() => meters.close());
  const sim: AtlasSimulator = await startAtlasSimulator({ host: '127.0.0.2', tcpPort: 0, meterPort: meters.port, rateHz: 100, ...options });
  cleanups.push(() => sim.close());
  const client = await lineClient('127.0.0.2', sim.tcpPort);
  cleanups.push(() => client.close());
  return { sim, client, meters };
}

describe('Atlas simulator on the wire', () => {
  it('acknowledges a sub with an id and sends meters over UDP from its own address, several per datagram at times', async () => {
    const { sim, client, meters } = await setup({ meters: ['SourceMeter_0', 'SourceMeter_1', 'SourceMeter_2', 'SourceMeter_3'] });
    client.send('{"jsonrpc":"2.0","method":"sub","params":[{"param":"SourceMeter_0","fmt":"val"},{"param":"SourceMeter_1","fmt":"val"},{"param":"SourceMeter_2","fmt":"val"},{"param":"SourceMeter_3","fmt":"pct"}],"id":1}\n');
    await expect.poll(() => client.lines).toContainEqual({ jsonrpc: '2.0', result: 'OK', id: 1 });
    expect(sim.subscriptions()).toEqual(['SourceMeter_0', 'SourceMeter_1', 'SourceMeter_2', 'SourceMeter_3']);

    await expect.poll(() => meters.received.filter(({ text }) => text.trim().split('\n').length > 1).length).toBeGreaterThan(0);
    expect(new Set(meters.received.map(({ from }) => from))).toEqual(new Set(['127.0.0.2']));
    const values = meters.received.flatMap(({ text }) => text.trim().split('\n')).map((line) => parseLine(line));
    for (const result of values) {
      expect(result.ok && result.message.kind === 'values' && result.message.method === 'update').toBe(true);
      if (!result.ok || result.message.kind !== 'values') continue;
      const [{ param, fmt, value }] = result.message.values as [{ param: string; fmt: string; value: number }];
      if (param === 'SourceMeter_3') {
        expect(fmt).toBe('pct');
        expect(value).toBeGreaterThanOrEqual(0);
        expect(value).toBeLessThanOrEqual(100);
      } else {
        expect(fmt).toBe('val');
        expect(value).toBeGreaterThanOrEqual(-80);
        expect(value).toBeLessThanOrEqual(0);
      }
    }
  });

  it('answers a keep-alive on TCP and again on UDP, and neither while silent', async () => {
    const { sim, client, meters } = await setup();
    const answer = { jsonrpc: '2.0', method: 'getResp', params: [{ param: 'KeepAlive', str: 'OK' }] };
    client.send('{"jsonrpc":"2.0","method":"get","params":{"param":"KeepAlive","fmt":"str"}}\n');
    await expect.poll(() => client.lines).toContainEqual(answer);
    await expect.poll(() => meters.received.map(({ text }) => JSON.parse(text) as unknown)).toContainEqual(answer);

    sim.setSilent(true);
    client.send('{"jsonrpc":"2.0","method":"get","params":{"param":"KeepAlive","fmt":"str"}}\n');
    client.send('{"jsonrpc":"2.0","method":"get","params":{"param":"SourceGain_0","fmt":"val"},"id":8}\n');
    // The later get is answered, so the keep-alive before it was ignored, not slow.
    await expect.poll(() => client.lines).toContainEqual({ jsonrpc: '2.0', result: [{ param: 'SourceGain_0', val: -20 }], id: 8 });
    expect(client.lines.filter((line) => JSON.stringify(line).includes('KeepAlive'))).toHaveLength(1);
  });

  it('refuses unknown params by name, as an object and as a JSON string by turns, and still takes the known ones', async () => {
    const { sim, client } = await setup();
    client.send('{"jsonrpc":"2.0","method":"sub","params":[{"param":"InputMeter_0","fmt":"val"},{"param":"ZoneMeter_0","fmt":"val"}],"id":2}\n');
    client.send('{"jsonrpc":"2.0","method":"get","params":{"param":"Nope_1","fmt":"val"},"id":3}\n');
    await expect.poll(() => client.lines.length).toBe(2);
    const [first, second] = client.lines.map((line) => parseLine(JSON.stringify(line)));
    expect(first).toEqual({ ok: true, message: { kind: 'error', id: 2, code: -32604, message: "param 'InputMeter_0' could not be found", param: 'InputMeter_0' } });
    expect(second).toMatchObject({ ok: true, message: { kind: 'error', id: 3, code: -32604, param: 'Nope_1' } });
    expect(typeof (client.lines[1] as { error: unknown }).error).toBe('string');
    expect(sim.subscriptions()).toEqual(['ZoneMeter_0']);
  });

  it('set and bmp change a gain, clamped, and subscribers hear of it on TCP; meters are read-only', async () => {
    const { client } = await setup();
    client.send('{"jsonrpc":"2.0","method":"sub","params":{"param":"ZoneGain_1","fmt":"val"}}\n');
    client.send('{"jsonrpc":"2.0","method":"set","params":{"param":"ZoneGain_1","val":-10},"id":4}\n');
    client.send('{"jsonrpc":"2.0","method":"bmp","params":{"param":"ZoneGain_1","val":25}}\n');
    client.send('{"jsonrpc":"2.0","method":"set","params":{"param":"ZoneMeter_1","val":-10},"id":5}\n');
    await expect.poll(() => client.lines.length).toBe(5);
    expect(client.lines.slice(0, 4)).toEqual([
      { jsonrpc: '2.0', method: 'update', params: { param: 'ZoneGain_1', val: -20 } },
      { jsonrpc: '2.0', method: 'update', params: { param: 'ZoneGain_1', val: -10 } },
      { jsonrpc: '2.0', result: 'OK', id: 4 },
      { jsonrpc: '2.0', method: 'update', params: { param: 'ZoneGain_1', val: 0 } },
    ]);
    expect(client.lines[4]).toEqual({ jsonrpc: '2.0', error: { code: -32602, message: "param 'ZoneMeter_1' is read-only" }, id: 5 });
  });

  it('forgets subscriptions when connections drop, and unsub removes one', async () => {
    const { sim, client } = await setup();
    client.send('{"jsonrpc":"2.0","method":"sub","params":[{"param":"SourceMeter_0","fmt":"val"},{"param":"SourceMeter_1","fmt":"val"}],"id":1}\n');
    client.send('{"jsonrpc":"2.0","method":"unsub","params":{"param":"SourceMeter_0","fmt":"val"},"id":2}\n');
    await expect.poll(() => client.lines.length).toBe(2);
    expect(sim.subscriptions()).toEqual(['SourceMeter_1']);
    sim.dropConnections();
    await expect.poll(() => sim.connections()).toBe(0);
    expect(sim.subscriptions()).toEqual([]);
  });

  it('answers a line that is not JSON with a parse error and keeps the connection', async () => {
    const { sim, client } = await setup();
    client.send('{"jsonrpc":"2.0","method":\n');
    client.send('{"jsonrpc":"2.0","method":"get","params":{"param":"ZoneName_0","fmt":"str"}}\n');
    await expect.poll(() => client.lines.length).toBe(2);
    expect(client.lines[0]).toMatchObject({ error: { code: -32700 } });
    expect(client.lines[1]).toEqual({ jsonrpc: '2.0', method: 'getResp', params: [{ param: 'ZoneName_0', str: 'Zone 1' }] });
    expect(sim.connections()).toBe(1);
  });
});
