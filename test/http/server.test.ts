import { connect, createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startCoordinator } from '../../src/main.js';
import { HttpBindError } from '../../src/http/server.js';
import { RANGES, testCoordinator } from '../helpers/coordinator.js';
import { ask, closed, EventStreamReader } from '../helpers/http.js';
import { Peer } from '../helpers/peer.js';
import { freeUdpPort } from '../helpers/ports.js';

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

async function served() {
  const coordinator = await testCoordinator(RANGES.http, { httpPort: 0 });
  return { coordinator, http: coordinator.http! };
}

describe('the HTTP server [PROTOCOL §17]', () => {
  it('is off unless asked for, and says where it listens when it is on', async () => {
    const off = await testCoordinator(RANGES.http);
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
    // Its own Host goes on to OSCQuery (the stub closes it; the WebSocket answers 101).
    expect(await rawExchange(http.port, upgrade(`localhost:${http.port}`))).not.toMatch(/^HTTP\/1\.1 421 /);
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
      for (const headers of [{}, { origin: 'http://evil.example' }, { origin: 'http://evil.example', 'access-control-request-method': 'GET' }]) {
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
    // The stub answers 404; the namespace, when it lands, answers / with JSON. Either way, not the view's page.
    const root = await ask(http.port, '/');
    expect(root.headers['content-type']).not.toContain('text/html');
    expect((await ask(http.port, '/nowhere/at/all')).status).toBe(404);
  });

  it('names the TCP port and stops the whole start when the HTTP port is taken, leaving no UDP socket bound', async () => {
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const taken = (squatter.address() as { port: number }).port;
    try {
      const port = await freeUdpPort();
      const start = startCoordinator({ host: '127.0.0.1', port, poolLow: RANGES.http[0], poolHigh: RANGES.http[1], extraPorts: [], sweepPorts: [], httpPort: taken, dnssd: false });
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
