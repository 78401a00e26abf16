import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import net from 'node:net';
import { decode } from 'node-osc';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { realClock } from '../../../src/clock.js';
import { OscQuery } from '../../../src/http/oscquery/index.js';
import type { ListenLimits } from '../../../src/http/oscquery/listeners.js';
import type { Studio, StudioLease, StudioProcessor } from '../../../src/http/studio.js';

// Scenes a coordinator cannot be driven into quickly (an Atlas processor's meters, hundreds of changing leases),
// played by a studio whose snapshot the test writes, behind a real HTTP server and real sockets.

const servers: Array<{ server: Server; oscQuery: OscQuery }> = [];
const sockets: Array<WebSocket | net.Socket> = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket instanceof WebSocket ? socket.terminate() : socket.destroy();
  for (const { server, oscQuery } of servers.splice(0)) {
    oscQuery.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

interface Scene {
  leases: StudioLease[];
  processors: StudioProcessor[];
}

async function serve(scene: Scene, limits: Partial<ListenLimits> = {}): Promise<{ port: number; oscQuery: OscQuery }> {
  const studio = {
    name: 'fake studio',
    snapshot: () => ({ name: 'fake studio', leases: scene.leases, processors: scene.processors }),
    pluginLevels: () => scene.leases.flatMap(({ tempId, rms }) => (rms === null ? [] : [[tempId, rms] as [string, number]])).values(),
    meterReadings: () =>
      scene.processors.flatMap(({ id, meters }) => meters.flatMap(({ param, value }) => (value === null ? [] : [{ processor: id, param, value }]))),
  } as unknown as Studio;
  const oscQuery = new OscQuery({ studio, oscHost: '127.0.0.1', oscPort: 9, logger: pino({ level: 'silent' }), clock: realClock, limits });
  const server = createServer((req, res) => oscQuery.handle(req, res, new URL(req.url ?? '/', 'http://127.0.0.1')));
  server.on('upgrade', (req, socket, head) => oscQuery.upgrade(req, socket, head));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push({ server, oscQuery });
  return { port: (server.address() as { port: number }).port, oscQuery };
}

/** An open WebSocket client keeping every binary frame (decoded) and every text command it gets. */
async function listener(port: number) {
  const client = new WebSocket(`ws://127.0.0.1:${port}`);
  sockets.push(client);
  const frames: unknown[] = [];
  const texts: unknown[] = [];
  client.on('message', (data: Buffer, isBinary) => (isBinary ? frames.push(decode(data)) : texts.push(JSON.parse(data.toString()))));
  await once(client, 'open');
  return { client, frames, texts };
}

function lease(tempId: string, rms: number | null): StudioLease {
  return { tempId, trackId: 'Kick', port: 27101, state: 'bound', ageMs: 0, lastSeenMs: 0, rttMs: 1, rms };
}

function processor(id: string, meters: Array<[string, number | null]>): StudioProcessor {
  return {
    ...{ id, host: '127.0.0.1', port: 5000, state: 'connected', connects: 1, lastDown: null },
    meters: meters.map(([param, value]) => ({ param, value, updatesPerSecond: 10, consumers: 1, device: 'active' as const })),
  };
}

describe('OSCQuery meters and slow readers [PROTOCOL §18]', () => {
  it('shows each subscribed Atlas meter in dB, its track when known, and streams a meter\'s readings', async () => {
    const scene: Scene = { leases: [lease('AIplayer_1', 0.5)], processors: [processor('azm 1', [['in/level', -12.5], ['out', null]]), processor('idle', [])] };
    const { port } = await serve(scene);
    const root: any = await (await fetch(`http://127.0.0.1:${port}/`)).json();
    expect(root.CONTENTS.plugins.CONTENTS.AIplayer_1.CONTENTS.track).toMatchObject({ FULL_PATH: '/plugins/AIplayer_1/track', TYPE: 's', ACCESS: 1, VALUE: ['Kick'] });
    expect(root.CONTENTS.meters).toMatchObject({ FULL_PATH: '/meters', CONTENTS: { 'azm%201': { FULL_PATH: '/meters/azm%201' } } });
    expect(Object.keys(root.CONTENTS.meters.CONTENTS)).toEqual(['azm%201']);
    expect(root.CONTENTS.meters.CONTENTS['azm%201'].CONTENTS).toEqual({
      'in%2Flevel': { FULL_PATH: '/meters/azm%201/in%2Flevel', TYPE: 'f', ACCESS: 1, VALUE: [-12.5], RANGE: [{ MIN: -80, MAX: 0 }], UNIT: ['dB'], DESCRIPTION: expect.any(String) },
      out: { FULL_PATH: '/meters/azm%201/out', TYPE: 'f', ACCESS: 1, RANGE: [{ MIN: -80, MAX: 0 }], UNIT: ['dB'], DESCRIPTION: expect.any(String) },
    });

    const { client, frames, texts } = await listener(port);
    client.send(JSON.stringify({ COMMAND: 'LISTEN', DATA: '/meters/azm%201/out' }));
    scene.processors = [processor('azm 1', [['in/level', -12.5], ['out', -6]]), processor('azm 2', [['x', -3]])];
    await expect.poll(() => frames).toEqual([{ oscType: 'message', address: '/meters/azm%201/out', args: [{ value: -6 }] }]);
    await expect.poll(() => texts).toEqual([expect.objectContaining({ COMMAND: 'PATH_ADDED', DATA: '/meters/azm%202' })]);
    scene.processors = [processor('azm 1', [['in/level', -12.5]])];
    await expect.poll(() => texts.slice(1)).toEqual([
      { COMMAND: 'PATH_REMOVED', DATA: '/meters/azm%201/out' },
      { COMMAND: 'PATH_REMOVED', DATA: '/meters/azm%202' },
    ]);
  });

  it('streams levels every poll, but looks at the whole namespace (new paths, ports, states) only every lookMs', async () => {
    const scene: Scene = { leases: [lease('AIplayer_1', 0.5)], processors: [] };
    const { port } = await serve(scene, { pollMs: 10, lookMs: 60_000 });
    const { client, frames, texts } = await listener(port);
    client.send(JSON.stringify({ COMMAND: 'LISTEN', DATA: '/plugins/AIplayer_1/rms' }));
    client.send(JSON.stringify({ COMMAND: 'LISTEN', DATA: '/plugins/AIplayer_1/port' }));
    scene.leases = [{ ...lease('AIplayer_1', 0.25), port: 27102 }, lease('AIplayer_2', 0)];
    await expect.poll(() => frames).toEqual([{ oscType: 'message', address: '/plugins/AIplayer_1/rms', args: [{ value: 0.25 }] }]);
    // The port and the new plugin wait for the next whole look, a minute away here.
    expect(texts).toEqual([]);
  });

  it('drops a client that stops reading once over 1 MiB waits for it, and keeps the others', async () => {
    const scene: Scene = { leases: Array.from({ length: 256 }, (_, index) => lease(`AIplayer_${String(index).padStart(200, '0')}`, 0)), processors: [] };
    const { port, oscQuery } = await serve(scene, { pollMs: 1 });
    // A raw client: it upgrades, asks for every plugin's level, then never reads again.
    const raw = net.connect(port, '127.0.0.1');
    sockets.push(raw);
    raw.write(
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    await once(raw, 'data');
    for (const { tempId } of scene.leases) raw.write(maskedText(JSON.stringify({ COMMAND: 'LISTEN', DATA: `/plugins/${tempId}/rms` })));
    raw.pause();
    const reader = new WebSocket(`ws://127.0.0.1:${port}`);
    sockets.push(reader);
    let frames = 0;
    reader.on('message', () => frames++);
    await once(reader, 'open');
    reader.send(JSON.stringify({ COMMAND: 'LISTEN', DATA: `/plugins/${scene.leases[0]!.tempId}/rms` }));
    await expect.poll(() => oscQuery.sockets).toBe(2);
    let level = 0;
    const turning = setInterval(() => {
      level = (level + 1) % 100;
      scene.leases = scene.leases.map((each) => ({ ...each, rms: level / 100 }));
    }, 1);
    try {
      await expect.poll(() => oscQuery.sockets, { timeout: 15_000 }).toBe(1);
      const before = frames;
      await expect.poll(() => frames).toBeGreaterThan(before);
    } finally {
      clearInterval(turning);
    }
  });
});

/** One client text frame (clients must mask; a zero mask leaves the payload as it is). */
function maskedText(text: string): Buffer {
  const payload = Buffer.from(text);
  const header = payload.length < 126 ? Buffer.from([0x81, 0x80 | payload.length]) : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  return Buffer.concat([header, Buffer.alloc(4), payload]);
}
