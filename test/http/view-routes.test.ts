import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { StudioLevels, StudioSnapshot } from '../../src/http/studio.js';
import type { CoordinatorOptions } from '../../src/main.js';
import { RANGES, testCoordinator } from '../helpers/coordinator.js';
import { ask, closed, EventStreamReader, stalledClient } from '../helpers/http.js';
import { ManualPlugin } from '../helpers/manual-plugin.js';
import { Peer, f, s } from '../helpers/peer.js';

const plugins: ManualPlugin[] = [];
const readers: EventStreamReader[] = [];
afterEach(async () => {
  for (const reader of readers.splice(0)) reader.close();
  await Promise.all(plugins.splice(0).map((plugin) => plugin.close()));
});

async function served(options: CoordinatorOptions = {}) {
  const coordinator = await testCoordinator(RANGES.view, { httpPort: 0, ...options });
  return { coordinator, port: coordinator.http!.port };
}

async function openStream(port: number): Promise<EventStreamReader> {
  const reader = await EventStreamReader.open(port);
  readers.push(reader);
  return reader;
}

const web = (name: string) => readFileSync(fileURLToPath(new URL(`../../web/${name}`, import.meta.url)), 'utf8');

describe('the web view\'s routes [PROTOCOL §17]', () => {
  it('serve the page, its script, its style and Preact with their types, never cached stale', async () => {
    const { port } = await served();
    const expected: Array<[string, string, string]> = [
      ['/view', 'text/html; charset=utf-8', web('index.html')],
      ['/view/', 'text/html; charset=utf-8', web('index.html')],
      ['/view/app.js', 'text/javascript; charset=utf-8', web('app.js')],
      ['/view/style.css', 'text/css; charset=utf-8', web('style.css')],
      ['/view/vendor/preact.js', 'text/javascript; charset=utf-8', readFileSync(fileURLToPath(import.meta.resolve('htm/preact/standalone')), 'utf8')],
    ];
    for (const [path, type, body] of expected) {
      const answer = await ask(port, path);
      expect(answer.status, path).toBe(200);
      expect(answer.headers['content-type'], path).toBe(type);
      expect(answer.headers['cache-control'], path).toBe('no-cache');
      expect(answer.body, path).toBe(body);
    }
    // Preact, its hooks and htm in one module, as the page imports them.
    expect(expected[4]![2]).toMatch(/export\s*\{[^}]*\bhtml\b/);
  });

  it('answer 404 for any other file, and never a file outside the list (no path traversal)', async () => {
    const { port } = await served();
    const outside = ['/view/x', '/view/index.html', '/view/vendor/', '/view/../package.json', '/view/%2e%2e/package.json', '/view/..%2fpackage.json',
      '/view/%2e%2e%2fpackage.json', '/view/vendor/..%2f..%2fpackage.json', '/view//etc/passwd', '/view/app.js/', '/view/app.js%00', '/view/./app.js/../../package.json', '/view/..\\package.json'];
    for (const path of outside) {
      const answer = await ask(port, path);
      expect(answer.status, path).toBe(404);
      expect(answer.body, path).not.toContain('"oscport"');
      expect(answer.body, path).not.toContain('root:');
    }
  });

  it('/view/state is the studio\'s snapshot', async () => {
    const { coordinator, port } = await served();
    const plugin = await ManualPlugin.verified('AIplayer_state', coordinator.port);
    plugins.push(plugin);
    const answer = await ask(port, '/view/state');
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
    const state = JSON.parse(answer.body) as StudioSnapshot;
    const { uptimeMs: _uptime, leases, ...settled } = coordinator.studio.snapshot();
    expect(state).toMatchObject(settled);
    expect(state.leases.map(({ tempId, port: leased, state: shown }) => ({ tempId, port: leased, state: shown }))).toEqual(
      leases.map(({ tempId, port: leased, state: shown }) => ({ tempId, port: leased, state: shown })),
    );
    expect(state.leases[0]).toMatchObject({ tempId: 'AIplayer_state', port: plugin.port, state: 'bound' });
  });

  it('/view/events sends the snapshot at once, then the levels that moved when a plugin reports', async () => {
    const { coordinator, port } = await served();
    const plugin = await ManualPlugin.verified('AIplayer_live', coordinator.port);
    plugins.push(plugin);
    const reader = await openStream(port);
    expect(reader.status).toBe(200);
    expect(reader.response.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(reader.response.headers['cache-control']).toBe('no-cache');
    const first = await reader.next<StudioSnapshot>('snapshot');
    expect(first.leases.map((lease) => lease.tempId)).toEqual(['AIplayer_live']);
    expect(reader.events[0]!.event).toBe('snapshot');

    plugin.sender.send(coordinator.port, '/aiplayer/telemetry', s('AIplayer_live'), f(0.5), f(0), f(0), f(0), f(0));
    const levels = await reader.next<StudioLevels>('levels');
    expect(levels).toEqual({ rms: { AIplayer_live: 0.5 }, meters: {} });
    // Only what changed: the same level again sends no levels event; a new one does.
    const seen = reader.events.length;
    plugin.sender.send(coordinator.port, '/aiplayer/telemetry', s('AIplayer_live'), f(0.5), f(0), f(0), f(0), f(0));
    await reader.next<StudioSnapshot>('snapshot', () => true, seen);
    expect(reader.events.slice(seen).filter((event) => event.event === 'levels')).toEqual([]);
    plugin.sender.send(coordinator.port, '/aiplayer/telemetry', s('AIplayer_live'), f(0.25), f(0), f(0), f(0), f(0));
    expect(await reader.next<StudioLevels>('levels', () => true, seen)).toEqual({ rms: { AIplayer_live: 0.25 }, meters: {} });
  });

  it('sends a snapshot every second to a stream left open', async () => {
    const { port } = await served();
    const reader = await openStream(port);
    const started = Date.now();
    await reader.next('snapshot');
    await reader.next('snapshot', () => true, 1);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThan(800);
    expect(elapsed).toBeLessThan(3000);
  });

  it('allows 16 event streams at once: the 17th gets 503 until one closes', async () => {
    const { port } = await served();
    const open = await Promise.all(Array.from({ length: 16 }, () => openStream(port)));
    await Promise.all(open.map((reader) => reader.next('snapshot')));
    const seventeenth = await ask(port, '/view/events');
    expect(seventeenth.status).toBe(503);
    expect(seventeenth.headers['retry-after']).toBeDefined();
    // The rest of the server still answers.
    expect((await ask(port, '/view/state')).status).toBe(200);
    open[0]!.close();
    await expect.poll(async () => (await ask(port, '/metrics')).body).toMatch(/^oscport_http_event_streams 15$/m);
    const again = await openStream(port);
    expect(again.status).toBe(200);
    await again.next('snapshot');
  });

  it('drops a stream whose reader does not read, once more than the cap waits unsent; the others go on', async () => {
    // Events ten times a millisecond-tick and a small cap: the kernel's buffers fill within a second or so.
    const { coordinator, port } = await served({ httpLimits: { slowReaderBytes: 64 * 1024, levelsIntervalMs: 1, snapshotIntervalMs: 1 } });
    const plugin = await ManualPlugin.verified('AIplayer_fast', coordinator.port);
    plugins.push(plugin);
    const reading = await openStream(port);
    const stalled = await stalledClient(port, `GET /view/events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    const sender = await Peer.bind();
    let level = 0;
    const moving = setInterval(() => sender.send(coordinator.port, '/aiplayer/telemetry', s('AIplayer_fast'), f((level = (level + 0.01) % 1)), f(0), f(0), f(0), f(0)), 1);
    try {
      await expect.poll(async () => (await ask(port, '/metrics')).body, { timeout: 15_000 }).toMatch(/^oscport_http_slow_readers_dropped_total 1$/m);
      expect((await ask(port, '/metrics')).body).toMatch(/^oscport_http_event_streams 1$/m);
      // Dropped, not buffered: once it reads again, the stream ends.
      stalled.resume();
      await closed(stalled);
      const seen = reading.events.length;
      await reading.next('levels', () => true, seen);
    } finally {
      clearInterval(moving);
      stalled.destroy();
      await sender.close();
    }
  });

  it('stops its timer when the last stream closes: no page open, no work', async () => {
    const { port } = await served();
    const reader = await openStream(port);
    await reader.next('snapshot');
    reader.close();
    await expect.poll(async () => (await ask(port, '/metrics')).body).toMatch(/^oscport_http_event_streams 0$/m);
  });
});
