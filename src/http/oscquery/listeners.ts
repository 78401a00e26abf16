import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { Clock } from '../../clock.js';
import type { Logger } from '../../log.js';
import { encodeMessage, type OscArg } from '../../osc/codec.js';
import type { OscQueryNode } from './node.js';

/** How many clients and how much of each the WebSocket takes on. [PROTOCOL §18] */
export interface ListenLimits {
  maxSockets: number;
  maxListensPerSocket: number;
  /** A socket with more than this waiting to be written is a slow reader: it is terminated. */
  maxBufferedBytes: number;
  /** How often the levels (rms, meters) are compared with what was sent, while any socket is open. */
  pollMs: number;
  /** How often the whole namespace is: paths added and removed, ports, states, tracks. */
  lookMs: number;
}

export const DEFAULT_LISTEN_LIMITS: ListenLimits = { maxSockets: 16, maxListensPerSocket: 256, maxBufferedBytes: 1024 * 1024, pollMs: 100, lookMs: 1000 };

/** A client's text frames are one small JSON command; anything bigger is not one of ours. */
const MAX_PAYLOAD_BYTES = 4096;
const MAX_PATH_LENGTH = 1024;

interface Session {
  socket: WebSocket;
  listening: Set<string>;
}

/** What the live part of the namespace holds at one look: every node there, by FULL_PATH. */
export type Look = () => Map<string, OscQueryNode>;

/** The values that move fast (each plugin's rms, each meter's reading) by FULL_PATH: cheap to read ten times a second. */
export type Levels = () => Map<string, number>;

/**
 * The OSCQuery WebSocket: LISTEN / IGNORE from clients; PATH_ADDED / PATH_REMOVED and each listened VALUE
 * change (one binary frame, one OSC message) to them. It looks at the studio on a timer only while a socket
 * is open, so the UDP path never knows it exists.
 */
export class Listeners {
  private readonly server = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD_BYTES });
  private readonly sessions = new Set<Session>();
  private last: Map<string, OscQueryNode> | undefined;
  /** The VALUE each path was last sent (or seen) with. */
  private readonly sent = new Map<string, ReadonlyArray<number | string>>();
  private ticks = 0;
  private timer: unknown;
  private closed = false;

  constructor(
    private readonly look: Look,
    private readonly levels: Levels,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly limits: ListenLimits,
  ) {}

  get count(): number {
    return this.sessions.size;
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.closed || this.sessions.size >= this.limits.maxSockets) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      socket.destroy();
      return;
    }
    this.server.handleUpgrade(req, socket, head, (ws) => this.accept(ws));
  }

  close(): void {
    this.closed = true;
    for (const session of this.sessions) session.socket.terminate();
    this.sessions.clear();
    this.stopTimer();
    this.server.close();
  }

  private accept(socket: WebSocket): void {
    const session: Session = { socket, listening: new Set() };
    this.sessions.add(session);
    if (this.timer === undefined) {
      this.last = this.look();
      for (const [path, node] of this.last) if (node.VALUE !== undefined) this.sent.set(path, node.VALUE);
      this.schedule();
    }
    socket.on('message', (data, isBinary) => {
      if (!isBinary) this.command(session, data);
    });
    socket.on('error', (error) => this.logger.debug({ err: error }, 'OSCQuery WebSocket error'));
    socket.on('close', () => {
      this.sessions.delete(session);
      if (this.sessions.size === 0) this.stopTimer();
    });
  }

  /** `{"COMMAND":"LISTEN"|"IGNORE","DATA":"/path"}`; anything else is ignored, as the proposal lets a server do. */
  private command(session: Session, data: RawData): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(data.toString());
    } catch {
      return;
    }
    if (typeof parsed !== 'object' || parsed === null) return;
    const { COMMAND: command, DATA: path } = parsed as { COMMAND?: unknown; DATA?: unknown };
    if (typeof path !== 'string' || !path.startsWith('/') || path.length > MAX_PATH_LENGTH) return;
    if (command === 'LISTEN') {
      if (session.listening.size < this.limits.maxListensPerSocket) session.listening.add(path);
      else this.logger.debug({ path }, 'OSCQuery LISTEN past the per-socket limit ignored');
    } else if (command === 'IGNORE') {
      session.listening.delete(path);
    }
  }

  private schedule(): void {
    this.timer = this.clock.setTimeout(() => {
      // The whole namespace every lookMs; only the levels in between: a look of 1000 plugins costs milliseconds.
      if (++this.ticks * this.limits.pollMs >= this.limits.lookMs) {
        this.ticks = 0;
        this.poll();
      } else {
        this.pollLevels();
      }
      if (this.sessions.size > 0 && !this.closed) this.schedule();
      else this.timer = undefined;
    }, this.limits.pollMs);
  }

  private stopTimer(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.last = undefined;
    this.sent.clear();
    this.ticks = 0;
  }

  /** Each listened level that moved since it was last sent, as one frame to each socket listening to it. */
  private pollLevels(): void {
    const wanted = this.wanted();
    if (wanted.size === 0) return;
    const levels = this.levels();
    const frames = new Map<string, Uint8Array>();
    for (const path of wanted) {
      const value = levels.get(path);
      if (value === undefined || sameValue(this.sent.get(path), [value])) continue;
      this.sent.set(path, [value]);
      frames.set(path, encodeMessage({ address: path, args: [{ type: 'f', value }] }));
    }
    if (frames.size === 0) return;
    for (const session of this.sessions) this.deliver(session, [], frames);
  }

  private wanted(): Set<string> {
    const wanted = new Set<string>();
    for (const session of this.sessions) for (const path of session.listening) wanted.add(path);
    return wanted;
  }

  /** Compares the namespace with the last look and tells each socket what it asked to hear. */
  private poll(): void {
    const previous = this.last ?? new Map<string, OscQueryNode>();
    const current = this.look();
    this.last = current;
    for (const path of this.sent.keys()) if (!current.has(path)) this.sent.delete(path);
    const texts: string[] = [];
    // Only the top of each added or removed subtree is named: a new plugin is one PATH_ADDED, not five.
    for (const [path] of previous) {
      if (!current.has(path) && current.has(parentOf(path))) texts.push(JSON.stringify({ COMMAND: 'PATH_REMOVED', DATA: path }));
    }
    for (const [path, node] of current) {
      // The node rides along: libossia reads a PATH_ADDED's own attributes (CONTENTS included) as the new node's.
      if (!previous.has(path) && previous.has(parentOf(path))) texts.push(JSON.stringify({ COMMAND: 'PATH_ADDED', DATA: path, ...node }));
    }
    // Only what someone listens to is encoded: a thousand plugins' levels change ten times a second.
    const frames = new Map<string, Uint8Array>();
    for (const path of this.wanted()) {
      const node = current.get(path);
      if (node?.VALUE === undefined || sameValue(this.sent.get(path), node.VALUE)) continue;
      this.sent.set(path, node.VALUE);
      const frame = valueFrame(node);
      if (frame) frames.set(path, frame);
    }
    if (texts.length === 0 && frames.size === 0) return;
    for (const session of this.sessions) this.deliver(session, texts, frames);
  }

  private deliver(session: Session, texts: readonly string[], frames: ReadonlyMap<string, Uint8Array>): void {
    const { socket } = session;
    if (socket.readyState !== socket.OPEN) return;
    for (const text of texts) socket.send(text);
    for (const path of session.listening) {
      const frame = frames.get(path);
      if (frame) socket.send(frame, { binary: true });
    }
    if (socket.bufferedAmount > this.limits.maxBufferedBytes) {
      this.logger.warn({ bufferedBytes: socket.bufferedAmount }, 'OSCQuery WebSocket client reads too slowly: dropped');
      socket.terminate();
    }
  }
}

/** `/plugins/x/rms` -> `/plugins/x`; a top-level path's parent is the root, which the look never holds. */
function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/'));
}

function sameValue(before: ReadonlyArray<number | string> | undefined, after: ReadonlyArray<number | string>): boolean {
  return before !== undefined && before.length === after.length && before.every((value, index) => value === after[index]);
}

/** The node's VALUE as one OSC message to its own address, each argument typed as its TYPE says. */
function valueFrame(node: OscQueryNode): Uint8Array | undefined {
  const tags = node.TYPE ?? '';
  const values = node.VALUE ?? [];
  if (tags.length !== values.length) return undefined;
  const args: OscArg[] = [];
  for (const [index, tag] of [...tags].entries()) {
    const value = values[index];
    if ((tag === 'i' || tag === 'f') && typeof value === 'number') args.push({ type: tag, value });
    else if (tag === 's' && typeof value === 'string') args.push({ type: 's', value });
    else return undefined;
  }
  return encodeMessage({ address: node.FULL_PATH, args });
}
