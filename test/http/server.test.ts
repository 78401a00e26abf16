import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startCoordinator } from '../../src/main.js';
import { HttpBindError } from '../../src/http/server.js';
import { RANGES, testCoordinator } from '../helpers/coordinator.js';
import { ask, closed, EventStreamReader } from '../helpers/http.js';
import { Peer } from '../helpers/peer.js';
import { freeUdpPort } from '../helpers/ports.js';

// Ports 50-79 of the HTTP files' range (metrics.test.ts and start-http.test.ts take the rest).
const POOL = [RANGES.http[0] + 50, RANGES.http[0] + 79] as const;
const readers: EventStreamReader[] = [];
afterEach(() => {
  for (const reader of readers.splice(0)) reader.close();
});

/** Sends `text` on a fresh connection; resolves with all that came back once the server closes it. */
async function rawExchange(port: number, text: string): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port });
  let answer = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (answer += chunk));
  socket.write(text);
  await closed(socket);
  return answer;
}

/** Sends `text` on a fresh connection; resolves with the first bytes back (a WebSocket stays open after its 101). */
async function firstReply(port: number, text: string): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.setEncoding('utf8');
  socket.write(text);
  const [chunk] = (await once(socket, 'data')) as [string];
  socket.destroy();
  return chunk;
}

async function served() {
  const coordinator = await testCoordinator(POOL, { httpPort: 0 });
  return { coordinator, http: coordinator.http! };
}

describe('the HTTP server [PROTOCOL §17]', () => {
  it('is off unless asked for, and says where it listens when it is on', async () => {
    const off = await testCoordinator(POOL);
    expect(off.http).toBeNull();
    const { http } = await served();
    expect(http).toEqual({ host: '127.0.0.1', port: expect.any(Number), url: `http://127.0.0.1:${http.port}` });
    expect(http.port).not.toBe(8900);
    expect((await ask(http.port, '/metrics')).status).toBe(200);
  });

  it('answers only a Host that is its own address, localhost, 127.0.0.1 or [::1] with its port: anything else is 421 (DNS rebinding)', async () => {
    const { http } = await served();
    for (const host of [`127.0.0.1:${http.port}`, `localhost:${http.port}`, `LOCALHOST:${http.port}`, `[::1]:${http.port}`]) {
      expect((await ask(http.port, '/view/state', { headers: { host } })).status, host).toBe(200);
    }
    for (const host of [`evil.example:${http.port}`, 'localhost', '127.0.0.1', `localhost:${http.port + 1}`, `127.0.0.1.evil.example:${http.port}`]) {
      const answer = await ask(http.port, '/view/state', { headers: { host } });
      expect(answer.status, host).toBe(421);
      expect(answer.body).not.toContain('"leases"');
    }
    const metrics = await ask(http.port, '/metrics', { headers: { host: `evil.example:${http.port}` } });
    expect(metrics.status).toBe(421);
    // No Host at all (HTTP/1.0 may leave it out) is no Host of ours either.
    expect(await rawExchange(http.port, 'GET /view/state HTTP/1.0\r\n\r\n')).toMatch(/^HTTP\/1\.1 421 /);
  });

  it('refuses a WebSocket upgrade from a foreign Host with 421, before any upgrade', async () => {
    const { http } = await served();
    const upgrade = (host: string) =>
      [`GET / HTTP/1.1`, `Host: ${host}`, 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', '', ''].join('\r\n');
    expect(await rawExchange(http.port, upgrade(`evil.example:${http.port}`))).toMatch(/^HTTP\/1\.1 421 /);
    // Its own Host goes on to OSCQuery's WebSocket.
    expect(await firstReply(http.port, upgrade(`localhost:${http.port}`))).toMatch(/^HTTP\/1\.1 101 /);
  });

  it('is read-only: every method but GET and HEAD gets 405, with Allow', async () => {
    const { http } = await served();
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const answer = await ask(http.port, '/view/state', { method, headers: { origin: `http://127.0.0.1:${http.port}` } });
      expect(answer.status, method).toBe(405);
      expect(answer.headers.allow).toBe('GET, HEAD');
    }
    const head = await ask(http.port, '/view/state', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect(Number(head.headers['content-length'])).toBeGreaterThan(0);
  });

  it('never sends a CORS header, and an Origin from elsewhere changes nothing', async () => {
    const { http } = await served();
    const paths = ['/view', '/view/state', '/view/app.js', '/metrics', '/', '/nowhere', '/view/nothing'];
    for (const path of paths) {
      for (const headers of [{} as Record<string, string>, { origin: 'http://evil.example' }, { origin: 'http://evil.example', 'access-control-request-method': 'GET' }]) {
        const answer = await ask(http.port, path, { headers });
        expect(Object.keys(answer.headers).filter((name) => name.startsWith('access-control-')), `${path} ${JSON.stringify(headers)}`).toEqual([]);
      }
    }
    const plain = await ask(http.port, '/view/state');
    const foreign = await ask(http.port, '/view/state', { headers: { origin: 'http://evil.example' } });
    expect(foreign.status).toBe(plain.status);
    const preflight = await ask(http.port, '/view/state', { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } });
    expect(preflight.status).toBe(405);
    expect(Object.keys(preflight.headers).filter((name) => name.startsWith('access-control-'))).toEqual([]);
  });

  it('hands every path it does not serve itself to OSCQuery', async () => {
    const { http } = await served();
    const root = await ask(http.port, '/');
    expect(root.headers['content-type']).toContain('application/json');
    expect(JSON.parse(root.body)).toMatchObject({ FULL_PATH: '/' });
    expect((await ask(http.port, '/nowhere/at/all')).status).toBe(404);
  });

  it('bounds every client: a connection past the cap is closed, a sender too slow with its headers is cut with 408', async () => {
    const coordinator = await testCoordinator(POOL, { httpPort: 0, httpLimits: { maxConnections: 2, headersTimeoutMs: 300 } });
    const { port } = coordinator.http!;
    const held = await Promise.all([0, 1].map(() => EventStreamReader.open(port)));
    readers.push(...held);
    await Promise.all(held.map((reader) => reader.next('snapshot')));
    // The third connection is accepted by the kernel and closed by the server at once, unanswered.
    expect(await rawExchange(port, `GET /view/state HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`)).toBe('');
    held[0]!.close();
    await expect.poll(async () => (await ask(port, '/view/state').catch(() => ({ status: 0 }))).status).toBe(200);
    // Headers begun and never finished (slowloris): cut once their time is up, not held open.
    const started = Date.now();
    expect(await rawExchange(port, `GET /view/state HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`)).toMatch(/^HTTP\/1\.1 408 /);
    expect(Date.now() - started).toBeLessThan(3000);
    // Headers past node's 16 KiB: 431.
    expect(await rawExchange(port, `GET /view/state HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Big: ${'x'.repeat(20_000)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 431 /);
  });

  it('names the TCP port and stops the whole start when the HTTP port is taken, leaving no UDP socket bound', async () => {
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const taken = (squatter.address() as { port: number }).port;
    try {
      const port = await freeUdpPort();
      const start = startCoordinator({ host: '127.0.0.1', port, poolLow: POOL[0], poolHigh: POOL[1], extraPorts: [], sweepPorts: [], httpPort: taken, dnssd: false });
      await expect(start).rejects.toBeInstanceOf(HttpBindError);
      await expect(start).rejects.toMatchObject({ code: 'EADDRINUSE', host: '127.0.0.1', port: taken, message: expect.stringContaining(`127.0.0.1:${taken}`) });
      // Nothing left half-started: the UDP port is free again.
      const again = await Peer.bind(port);
      await again.close();
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it('closes with the coordinator: its port is free again and open streams end', async () => {
    const { coordinator, http } = await served();
    const reader = await EventStreamReader.open(http.port);
    readers.push(reader);
    await reader.next('snapshot');
    await coordinator.close();
    await expect.poll(() => reader.response.destroyed || reader.response.complete).toBe(true);
    const again = createServer();
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.listen({ host: '127.0.0.1', port: http.port }, resolve);
    });
    await new Promise((resolve) => again.close(resolve));
  });
});
