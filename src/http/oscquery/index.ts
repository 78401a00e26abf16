import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Clock } from '../../clock.js';
import type { Logger } from '../../log.js';
import type { Studio } from '../studio.js';

export interface OscQueryOptions {
  studio: Studio;
  oscHost: string;
  oscPort: number;
  logger: Logger;
  clock: Clock;
}

/**
 * OSCQuery [PROTOCOL §18]. A stub until the namespace lands: every path is unknown and no
 * WebSocket is taken, so the server around it can be built and tested first.
 */
export class OscQuery {
  constructor(private readonly options: OscQueryOptions) {}

  /** A GET or HEAD the server did not route elsewhere (Host already checked): an OSCQuery path, `?HOST_INFO`, `?ATTR`. */
  handle(_req: IncomingMessage, res: ServerResponse, _url: URL): void {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('not found\n');
  }

  /** A WebSocket upgrade (Host already checked). */
  upgrade(_req: IncomingMessage, socket: Duplex, _head: Buffer): void {
    socket.destroy();
  }

  close(): void {
    void this.options;
  }
}
