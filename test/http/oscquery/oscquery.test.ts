import { once } from 'node:events';
import { decode } from 'node-osc';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { isValidOscAddress } from '../../../src/http/oscquery/escape.js';
import type { OscQueryNode } from '../../../src/http/oscquery/node.js';
import type { Coordinator } from '../../../src/main.js';
import { testCoordinator } from '../../helpers/coordinator.js';
import { ManualPlugin } from '../../helpers/manual-plugin.js';
import { f, s } from '../../helpers/peer.js';

/** Ports 27100-27149 of RANGES.http (the HTTP helper's tests take 27050-27099). */
const POOL = [27100, 27149] as const;

const plugins: ManualPlugin[] = [];
const clients: WebSocket[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.terminate();
  await Promise.all(plugins.splice(0).map((plugin) => plugin.close()));
});

/** A coordinator with its HTTP surface on loopback: OSCQuery answers every path the server does not route elsewhere. */
async function studio(): Promise<{ coordinator: Coordinator; base: string }> {
  const coordinator = await testCoordinator(POOL, { httpPort: 0 });
  return { coordinator, base: `http://127.0.0.1:${coordinator.http!.port}` };
}

async function verified(tempId: string, coordinator: Coordinator): Promise<ManualPlugin> {
  const plugin = await ManualPlugin.verified(tempId, coordinator.port);
  plugins.push(plugin);
  return plugin;
}

function telemetry(plugin: ManualPlugin, coordinator: Coordinator, level: number): void {
  plugin.sender.send(coordinator.port, '/aiplayer/telemetry', s(plugin.tempId), f(level), f(0), f(0), f(0), f(0));
}

async function json(url: string): Promise<{ status: number; body: any; type: string | null }> {
  const response = await fetch(url);
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text), type: response.headers.get('content-type') };
}

/** A WebSocket client that keeps every text command and every binary frame (decoded by node-osc) it gets. */
async function listener(base: string) {
  const socket = new WebSocket(base.replace('http', 'ws'));
  clients.push(socket);
  const texts: Array<{ COMMAND: string; DATA: string } & Partial<OscQueryNode>> = [];
  const frames: Array<{ address: string; values: unknown[]; tags: string }> = [];
  socket.on('message', (data: Buffer, isBinary) => {
    if (!isBinary) return void texts.push(JSON.parse(data.toString()));
    const message = decode(data) as { address: string; args: Array<{ value: unknown }> };
    const tagStart = data.indexOf(',');
    frames.push({ address: message.address, values: message.args.map((arg) => arg.value), tags: data.subarray(tagStart + 1, data.indexOf(0, tagStart)).toString() });
  });
  await once(socket, 'open');
  const command = (COMMAND: string, DATA: string) => socket.send(JSON.stringify({ COMMAND, DATA }));
  return { socket, texts, frames, command };
}

/** Whether a new WebSocket is taken (kept open) or refused with 503. */
async function connects(base: string): Promise<boolean> {
  const socket = new WebSocket(base.replace('http', 'ws'));
  socket.on('error', () => {});
  const outcome = await Promise.race([
    once(socket, 'open').then(() => true),
    once(socket, 'unexpected-response').then(([, response]) => {
      expect((response as { statusCode: number }).statusCode).toBe(503);
      return false;
    }),
  ]);
  if (outcome) clients.push(socket);
  return outcome;
}

function everyNode(node: OscQueryNode, visit: (node: OscQueryNode, path: string) => void, path = ''): void {
  visit(node, path === '' ? '/' : path);
  for (const [name, child] of Object.entries(node.CONTENTS ?? {})) everyNode(child, visit, `${path}/${name}`);
}

describe('OSCQuery over HTTP [PROTOCOL §18]', () => {
  it('serves the namespace: the contract\'s addresses, each plugin with its port, state and level', async () => {
    const { coordinator, base } = await studio();
    const loud = await verified('AIplayer_loud', coordinator);
    const quiet = await verified('AIplayer quiet/1', coordinator);
    telemetry(loud, coordinator, 0.75);
    await expect.poll(() => coordinator.studio.levels().rms.AIplayer_loud).toBe(0.75);

    const { status, body: root, type } = await json(`${base}/`);
    expect(status).toBe(200);
    expect(type).toBe('application/json');
    expect(root.FULL_PATH).toBe('/');
    expect(Object.keys(root.CONTENTS).sort()).toEqual(['aiplayer', 'atlas', 'coordinator', 'meters', 'plugins']);
    expect(Object.keys(root.CONTENTS.plugins.CONTENTS).sort()).toEqual(['AIplayer%20quiet%2F1', 'AIplayer_loud']);
    expect(root.CONTENTS.plugins.CONTENTS.AIplayer_loud).toEqual({
      FULL_PATH: '/plugins/AIplayer_loud',
      DESCRIPTION: 'Plugin instance AIplayer_loud',
      CONTENTS: {
        port: { FULL_PATH: '/plugins/AIplayer_loud/port', TYPE: 'i', ACCESS: 1, VALUE: [loud.port], DESCRIPTION: expect.any(String) },
        state: { FULL_PATH: '/plugins/AIplayer_loud/state', TYPE: 's', ACCESS: 1, VALUE: ['bound'], DESCRIPTION: expect.any(String) },
        rms: { FULL_PATH: '/plugins/AIplayer_loud/rms', TYPE: 'f', ACCESS: 1, VALUE: [0.75], RANGE: [{ MIN: 0, MAX: 1 }], DESCRIPTION: expect.any(String) },
      },
    });
    const silent = root.CONTENTS.plugins.CONTENTS['AIplayer%20quiet%2F1'];
    expect(silent.CONTENTS.port.VALUE).toEqual([quiet.port]);
    expect(silent.CONTENTS.rms).not.toHaveProperty('VALUE');
    expect(silent.CONTENTS).not.toHaveProperty('track');

    const requestPort = root.CONTENTS.aiplayer.CONTENTS.request_port;
    expect(requestPort).toMatchObject({ FULL_PATH: '/aiplayer/request_port', TYPE: 'sii', ACCESS: 2 });
    expect(requestPort.DESCRIPTION).toContain(',si ,sii');
    expect(root.CONTENTS.aiplayer.CONTENTS.port_assignment).toMatchObject({ TYPE: 'sis', ACCESS: 1 });
    // A request the coordinator answers and a notice it sends to controllers share this address: TYPE is what it accepts.
    expect(root.CONTENTS.coordinator.CONTENTS.lease).toMatchObject({ TYPE: 'ss', ACCESS: 3, DESCRIPTION: expect.stringContaining('A lease changed') });
    expect(root.CONTENTS.coordinator.CONTENTS.send).toMatchObject({ TYPE: 'ss', ACCESS: 2, DESCRIPTION: expect.stringContaining('more arguments follow') });
    expect(root.CONTENTS.atlas.CONTENTS.subscribe).toMatchObject({ TYPE: 'sss', ACCESS: 2 });

    let nodes = 0;
    everyNode(root, (node, path) => {
      nodes++;
      expect(node.FULL_PATH).toBe(path);
      if (path !== '/') expect(isValidOscAddress(node.FULL_PATH), node.FULL_PATH).toBe(true);
      expect(node.CONTENTS !== undefined || node.TYPE !== undefined, path).toBe(true);
    });
    expect(nodes).toBeGreaterThan(40);
  });

  it('answers any node\'s path, a trailing slash or not, and 404 for a path that is none', async () => {
    const { coordinator, base } = await studio();
    const plugin = await verified('AIplayer 1', coordinator);
    expect((await json(`${base}/plugins/AIplayer%201`)).body.CONTENTS.port.VALUE).toEqual([plugin.port]);
    expect((await json(`${base}/plugins/AIplayer%201/`)).body.FULL_PATH).toBe('/plugins/AIplayer%201');
    expect((await json(`${base}/plugins/AIplayer%201/port`)).body).toMatchObject({ FULL_PATH: '/plugins/AIplayer%201/port', VALUE: [plugin.port] });
    expect((await json(`${base}/aiplayer/release`)).body).toMatchObject({ TYPE: 's', ACCESS: 2 });
    for (const missing of ['/plugins/AIplayer_2', '/plugins/AIplayer%201/volume', '/nothing', '/aiplayer/release/more']) {
      expect((await json(`${base}${missing}`)).status, missing).toBe(404);
    }
  });

  it('answers ?ATTR with that one attribute, 204 where the node lacks it and 400 where the server has none', async () => {
    const { coordinator, base } = await studio();
    const plugin = await verified('AIplayer_attr', coordinator);
    expect(await json(`${base}/plugins/AIplayer_attr/port?VALUE`)).toEqual({ status: 200, body: { VALUE: [plugin.port] }, type: 'application/json' });
    expect((await json(`${base}/plugins/AIplayer_attr/rms?RANGE`)).body).toEqual({ RANGE: [{ MIN: 0, MAX: 1 }] });
    expect((await json(`${base}/plugins/AIplayer_attr/state?TYPE`)).body).toEqual({ TYPE: 's' });
    expect((await json(`${base}/plugins/AIplayer_attr/port?RANGE`)).status).toBe(204);
    expect((await json(`${base}/plugins/AIplayer_attr/rms?VALUE`)).status).toBe(204);
    expect((await json(`${base}/plugins/AIplayer_attr/port?CLIPMODE`)).status).toBe(400);
    expect((await json(`${base}/plugins/AIplayer_attr/port?LISTEN`)).status).toBe(400);
    expect((await json(`${base}/plugins/AIplayer_gone/port?VALUE`)).status).toBe(404);
  });

  it('answers HEAD with the headers and no body', async () => {
    const { base } = await studio();
    const got = await fetch(`${base}/aiplayer`);
    const head = await fetch(`${base}/aiplayer`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('application/json');
    expect(head.headers.get('content-length')).toBe(got.headers.get('content-length'));
    expect(await head.text()).toBe('');
  });

  it('answers ?HOST_INFO on any path with the name, the coordinator\'s UDP address and what it implements', async () => {
    const { coordinator, base } = await studio();
    const expected = {
      NAME: coordinator.studio.name,
      OSC_IP: '127.0.0.1',
      OSC_PORT: coordinator.port,
      OSC_TRANSPORT: 'UDP',
      EXTENSIONS: { ACCESS: true, VALUE: true, RANGE: true, DESCRIPTION: true, UNIT: true, LISTEN: true, PATH_ADDED: true, PATH_REMOVED: true },
    };
    expect(await json(`${base}/?HOST_INFO`)).toEqual({ status: 200, body: expected, type: 'application/json' });
    expect((await json(`${base}/?HOST_INFO=1`)).body).toEqual(expected);
    expect((await json(`${base}/plugins?HOST_INFO`)).body).toEqual(expected);
    expect(expected.NAME).toMatch(/^oscport on /);
  });
});

describe('OSCQuery over the WebSocket [PROTOCOL §18]', () => {
  it('streams a listened value as one binary OSC message per change, until IGNORE', async () => {
    const { coordinator, base } = await studio();
    const first = await verified('AIplayer_first', coordinator);
    const second = await verified('AIplayer_second', coordinator);
    const client = await listener(base);
    client.command('LISTEN', '/plugins/AIplayer_first/rms');
    // The server reads commands in order: once the second LISTEN is heard, so was the first.
    client.command('LISTEN', '/plugins/AIplayer_second/rms');
    telemetry(second, coordinator, 0.125);
    await expect.poll(() => client.frames.length).toBe(1);
    telemetry(first, coordinator, 0.5);
    await expect.poll(() => client.frames).toEqual([
      { address: '/plugins/AIplayer_second/rms', values: [0.125], tags: 'f' },
      { address: '/plugins/AIplayer_first/rms', values: [0.5], tags: 'f' },
    ]);

    client.command('IGNORE', '/plugins/AIplayer_first/rms');
    client.command('LISTEN', '/plugins/AIplayer_first/port');
    // Commands come as text: a binary frame is OSC, and a LISTEN in one is not one.
    client.socket.send(Buffer.from(JSON.stringify({ COMMAND: 'LISTEN', DATA: '/plugins/AIplayer_first/rms' })));
    telemetry(first, coordinator, 0.25);
    await expect.poll(() => coordinator.studio.levels().rms.AIplayer_first).toBe(0.25);
    telemetry(second, coordinator, 0.375);
    await expect.poll(() => client.frames.length).toBe(3);
    expect(client.frames[2]).toEqual({ address: '/plugins/AIplayer_second/rms', values: [0.375], tags: 'f' });
    // An unchanged value (the port) sends nothing, and a command the server does not know changes nothing.
    client.socket.send('{"COMMAND":"PATH_CHANGED","DATA":"/plugins"}');
    client.socket.send('not json');
    telemetry(second, coordinator, 0.5);
    await expect.poll(() => client.frames.length).toBe(4);
    expect(client.frames.slice(2).map((frame) => frame.address)).toEqual(['/plugins/AIplayer_second/rms', '/plugins/AIplayer_second/rms']);
  });

  it('sends PATH_ADDED with the new node when a plugin binds, and PATH_REMOVED when it releases', async () => {
    const { coordinator, base } = await studio();
    const client = await listener(base);
    const plugin = await verified('AIplayer new', coordinator);
    await expect.poll(() => client.texts.filter((text) => text.COMMAND === 'PATH_ADDED').map((text) => text.DATA)).toEqual(['/plugins/AIplayer%20new']);
    const added = client.texts.find((text) => text.COMMAND === 'PATH_ADDED')!;
    expect(added.FULL_PATH).toBe('/plugins/AIplayer%20new');
    expect(Object.keys(added.CONTENTS ?? {})).toEqual(expect.arrayContaining(['port', 'state', 'rms']));
    plugin.sender.send(coordinator.port, '/aiplayer/release', s('AIplayer new'));
    await expect.poll(() => client.texts.filter((text) => text.COMMAND === 'PATH_REMOVED')).toEqual([{ COMMAND: 'PATH_REMOVED', DATA: '/plugins/AIplayer%20new' }]);
    expect(client.texts.filter((text) => text.COMMAND === 'PATH_ADDED')).toHaveLength(1);
  });

  it('takes at most 16 sockets, and after a refusal takes one again when one leaves', async () => {
    const { base } = await studio();
    const sixteen = await Promise.all(Array.from({ length: 16 }, () => listener(base)));
    expect(await connects(base)).toBe(false);
    sixteen[0]!.socket.close();
    await expect.poll(() => connects(base)).toBe(true);
    expect(await connects(base)).toBe(false);
  });

  it('keeps at most 256 LISTENs per socket', async () => {
    const { coordinator, base } = await studio();
    const plugin = await verified('AIplayer_many', coordinator);
    const client = await listener(base);
    for (let index = 0; index < 256; index++) client.command('LISTEN', `/plugins/nobody_${index}/rms`);
    client.command('LISTEN', '/plugins/AIplayer_many/rms');
    const other = await listener(base);
    other.command('LISTEN', '/plugins/AIplayer_many/rms');
    telemetry(plugin, coordinator, 0.5);
    await expect.poll(() => other.frames.length).toBe(1);
    // Both sockets got this tick's frames together: the 257th LISTEN was not kept.
    const pong = once(client.socket, 'pong');
    client.socket.ping();
    await pong;
    expect(client.frames).toEqual([]);
    client.command('IGNORE', '/plugins/nobody_0/rms');
    client.command('LISTEN', '/plugins/AIplayer_many/rms');
    telemetry(plugin, coordinator, 0.25);
    await expect.poll(() => client.frames.map((frame) => frame.values)).toEqual([[0.25]]);
  });
});
