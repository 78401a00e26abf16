import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Studio, StudioLevels } from './studio.js';

export interface ViewRoutesOptions {
  studio: Studio;
  clock: Clock;
  logger: Logger;
  /** Event streams open at once; one more gets 503. */
  maxEventStreams: number;
  /** Bytes a stream may have waiting unsent before its reader counts as too slow and is dropped. */
  slowReaderBytes: number;
  /** How often each stream gets the levels that moved, and the whole snapshot. [PROTOCOL §17] */
  levelsIntervalMs: number;
  snapshotIntervalMs: number;
  /** The page's files; the package's `web/` unless a test says otherwise. */
  webRoot?: string;
}

interface StaticFile {
  /** Where the file is: in `web/`, or (the vendored module) wherever node resolves it. */
  path: () => string;
  type: string;
}

const JAVASCRIPT = 'text/javascript; charset=utf-8';

/** One event stream: its response, and the levels last sent to it (what the next levels event is a change from). */
interface EventStream {
  res: ServerResponse;
  sent: StudioLevels;
}

/**
 * The web view's routes [PROTOCOL §17]: the page's files (a fixed list, never a path joined from the
 * request), `/view/state` (the studio's snapshot) and `/view/events` (server-sent events). The events
 * run on one timer shared by every stream, started with the first and stopped with the last: with no
 * page open, the view costs nothing.
 */
export class ViewRoutes {
  private readonly files: ReadonlyMap<string, StaticFile>;
  private readonly streams = new Set<EventStream>();
  private timer: unknown = null;
  private lastSnapshotAt = 0;
  private dropped = 0;

  constructor(private readonly options: ViewRoutesOptions) {
    const web = options.webRoot ?? join(packageRoot(), 'web');
    const page: StaticFile = { path: () => join(web, 'index.html'), type: 'text/html; charset=utf-8' };
    this.files = new Map([
      ['/view', page],
      ['/view/', page],
      ['/view/app.js', { path: () => join(web, 'app.js'), type: JAVASCRIPT }],
      ['/view/style.css', { path: () => join(web, 'style.css'), type: 'text/css; charset=utf-8' }],
      // Preact, its hooks and htm in one ES module: the page imports it with no build step.
      ['/view/vendor/preact.js', { path: () => fileURLToPath(import.meta.resolve('htm/preact/standalone')), type: JAVASCRIPT }],
    ]);
  }

  /** Event streams open now. */
  get eventStreams(): number {
    return this.streams.size;
  }

  /** Event streams dropped because their reader was too slow. */
  get slowReadersDropped(): number {
    return this.dropped;
  }

  /** Answers `/view` and everything under it; false for any other path. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    const path = url.pathname;
    if (path !== '/view' && !path.startsWith('/view/')) return false;
    if (path === '/view/state') {
      sendBody(req, res, 200, 'application/json; charset=utf-8', JSON.stringify(this.options.studio.snapshot()));
    } else if (path === '/view/events') {
      this.openStream(req, res);
    } else {
      const file = this.files.get(path);
      if (file) void this.sendFile(req, res, file);
      else sendBody(req, res, 404, 'text/plain; charset=utf-8', 'not found\n');
    }
    return true;
  }

  /** Ends every event stream; the timer stops with the last. */
  close(): void {
    for (const stream of this.streams) stream.res.destroy();
    this.streams.clear();
    this.stopTimer();
  }

  private async sendFile(req: IncomingMessage, res: ServerResponse, file: StaticFile): Promise<void> {
    let body: Buffer;
    try {
      body = await readFile(file.path());
    } catch (err) {
      this.options.logger.warn({ err }, 'a file of the web view cannot be read');
      sendBody(req, res, 404, 'text/plain; charset=utf-8', 'not found\n');
      return;
    }
    sendBody(req, res, 200, file.type, body);
  }

  private openStream(req: IncomingMessage, res: ServerResponse): void {
    if (this.streams.size >= this.options.maxEventStreams) {
      res.setHeader('Retry-After', '5');
      sendBody(req, res, 503, 'text/plain; charset=utf-8', `too many event streams (at most ${this.options.maxEventStreams})\n`);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache' });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const stream: EventStream = { res, sent: { rms: {}, meters: {} } };
    this.streams.add(stream);
    res.on('close', () => {
      this.streams.delete(stream);
      if (this.streams.size === 0) this.stopTimer();
    });
    const { studio } = this.options;
    stream.sent = studio.levels();
    this.write(stream, `event: snapshot\ndata: ${JSON.stringify(studio.snapshot())}\n\n`);
    if (this.timer === null && this.streams.size > 0) {
      this.lastSnapshotAt = this.options.clock.now();
      this.scheduleTick();
    }
  }

  private scheduleTick(): void {
    this.timer = this.options.clock.setTimeout(() => this.tick(), this.options.levelsIntervalMs);
  }

  private stopTimer(): void {
    if (this.timer === null) return;
    this.options.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  /** Every 100 ms the levels that moved, to each stream its own; every 1000 ms the snapshot, built once for all. */
  private tick(): void {
    this.timer = null;
    if (this.streams.size === 0) return;
    const { studio, clock, snapshotIntervalMs } = this.options;
    const levels = studio.levels();
    const now = clock.now();
    const due = now - this.lastSnapshotAt >= snapshotIntervalMs;
    if (due) this.lastSnapshotAt = now;
    const snapshot = due ? `event: snapshot\ndata: ${JSON.stringify(studio.snapshot())}\n\n` : null;
    for (const stream of [...this.streams]) {
      const moved = changedSince(stream.sent, levels);
      if (moved) this.write(stream, `event: levels\ndata: ${JSON.stringify(moved)}\n\n`);
      stream.sent = levels;
      if (snapshot) this.write(stream, snapshot);
    }
    if (this.streams.size > 0) this.scheduleTick();
  }

  /** Writes an event, or drops a reader that lets more than `slowReaderBytes` pile up unsent. */
  private write(stream: EventStream, event: string): void {
    const { res } = stream;
    if (res.destroyed) return;
    res.write(event);
    if (res.writableLength > this.options.slowReaderBytes) {
      this.options.logger.info({ waiting: res.writableLength }, 'event stream dropped: its reader is too slow');
      this.dropped++;
      this.streams.delete(stream);
      res.destroy();
      if (this.streams.size === 0) this.stopTimer();
    }
  }
}

/** The levels in `now` that differ from `sent` (new ones included); null when none moved. */
function changedSince(sent: StudioLevels, now: StudioLevels): StudioLevels | null {
  const moved: StudioLevels = { rms: {}, meters: {} };
  let any = false;
  for (const [key, value] of Object.entries(now.rms)) {
    if (sent.rms[key] !== value) {
      moved.rms[key] = value;
      any = true;
    }
  }
  for (const [key, value] of Object.entries(now.meters)) {
    if (sent.meters[key] !== value) {
      moved.meters[key] = value;
      any = true;
    }
  }
  return any ? moved : null;
}

/** A whole answer: its headers, and its body unless the request was HEAD. */
export function sendBody(req: IncomingMessage, res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-cache' });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** The package's root: the nearest folder above this module with a package.json (the module runs from src/ or dist/src/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('oscport: no package.json above the HTTP server module');
    dir = parent;
  }
  return dir;
}
