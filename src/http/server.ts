import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { isIPv6 } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { METRICS_CONTENT_TYPE, renderMetrics } from './metrics.js';
import { OscQuery } from './oscquery/index.js';
import type { Studio } from './studio.js';
import { sendBody, ViewRoutes } from './view-routes.js';

/** Every client is bounded [PROTOCOL §17]: a page left open, a scraper or a misbehaving tool takes no more than this. */
export interface HttpLimits {
  /** TCP connections at once; past it node closes a new connection as it arrives. */
  maxConnections: number;
  /** `/view/events` streams at once; past it, 503. */
  maxEventStreams: number;
  /** Bytes an event stream may have waiting unsent before its reader is dropped. */
  slowReaderBytes: number;
  /** Time to send the request's headers. */
  headersTimeoutMs: number;
  /** Time to send the whole request. */
  requestTimeoutMs: number;
  /** An idle kept-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** How often each event stream gets the levels that moved, and the whole snapshot (tests quicken them). */
  levelsIntervalMs: number;
  snapshotIntervalMs: number;
}

export const DEFAULT_HTTP_LIMITS: Readonly<HttpLimits> = Object.freeze({
  maxConnections: 64,
  maxEventStreams: 16,
  slowReaderBytes: 1024 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5000,
  levelsIntervalMs: 100,
  snapshotIntervalMs: 1000,
});

export interface HttpSurfaceOptions {
  host: string;
  /** 0: any free port (library and tests). */
  port: number;
  studio: Studio;
  /** The coordinator's UDP address, as OSCQuery's HOST_INFO names it. */
  oscHost: string;
  oscPort: number;
  clock: Clock;
  logger: Logger;
  limits?: Partial<HttpLimits>;
  /** The web view's files; the package's `web/` unless a test says otherwise. */
  webRoot?: string;
}

/** The HTTP server as the coordinator exposes it. */
export interface HttpSurface {
  readonly host: string;
  readonly port: number;
  /** `http://HOST:PORT`, no trailing slash. */
  readonly url: string;
  /** Event streams open now. */
  eventStreams(): number;
  close(): Promise<void>;
}

/** The HTTP port could not be bound: named with its address, as the UDP port's BindError is. */
export class HttpBindError extends Error {
  constructor(
    readonly host: string,
    readonly port: number,
    readonly code: string | undefined,
  ) {
    super(`cannot listen on TCP ${host}:${port} (HTTP): ${code ?? 'unknown error'}`);
    this.name = 'HttpBindError';
  }
}

const PLAIN = 'text/plain; charset=utf-8';

/**
 * The HTTP surface [PROTOCOL §17]: the web view, `/metrics`, and OSCQuery [PROTOCOL §18] on one port.
 * Read-only: only GET and HEAD, so no page elsewhere can change anything through it, and no CORS header
 * is ever sent. Nothing here runs on the UDP receive path: each answer is built when it is asked for.
 */
export async function startHttpSurface(options: HttpSurfaceOptions): Promise<HttpSurface> {
  const limits = { ...DEFAULT_HTTP_LIMITS, ...options.limits };
  const { studio, clock, logger } = options;
  const { maxEventStreams, slowReaderBytes, levelsIntervalMs, snapshotIntervalMs } = limits;
  const view = new ViewRoutes({ studio, clock, logger, maxEventStreams, slowReaderBytes, levelsIntervalMs, snapshotIntervalMs, webRoot: options.webRoot });
  const oscQuery = new OscQuery({ studio, oscHost: options.oscHost, oscPort: options.oscPort, logger, clock });
  // Filled once the port is known (it may be 0 until then): the Host names a request may use.
  let allowedHosts = new Set<string>();

  const server = createServer({ headersTimeout: limits.headersTimeoutMs, requestTimeout: limits.requestTimeoutMs, keepAliveTimeout: limits.keepAliveTimeoutMs });
  server.maxConnections = limits.maxConnections;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    // [PROTOCOL §17] DNS rebinding: a page from elsewhere that resolves its own name to this address still sends its own Host.
    if (!allowedHosts.has((req.headers.host ?? '').toLowerCase())) {
      sendBody(req, res, 421, PLAIN, 'misdirected request: the Host must be this server\'s own address, localhost or 127.0.0.1, with its port\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      sendBody(req, res, 405, PLAIN, 'method not allowed: this server is read-only\n');
      return;
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      sendBody(req, res, 400, PLAIN, 'bad request target\n');
      return;
    }
    try {
      if (url.pathname === '/metrics') sendBody(req, res, 200, METRICS_CONTENT_TYPE, renderMetrics(studio.snapshot(), { eventStreams: view.eventStreams, slowReadersDropped: view.slowReadersDropped }));
      else if (!view.handle(req, res, url)) oscQuery.handle(req, res, url);
    } catch (err) {
      // One bad answer never takes the coordinator down: it is logged, and the client gets a 500.
      logger.error({ err, path: url.pathname }, 'HTTP request failed');
      if (!res.headersSent) sendBody(req, res, 500, PLAIN, 'internal error\n');
      else res.destroy();
    }
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!allowedHosts.has((req.headers.host ?? '').toLowerCase())) {
      socket.end('HTTP/1.1 421 Misdirected Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      socket.destroy();
      return;
    }
    oscQuery.upgrade(req, socket, head);
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // As node's default: a 400 (or 408 on a timeout) to a socket still open, then closed.
    if (socket.writable && err.code !== 'ECONNRESET') {
      socket.end(`HTTP/1.1 ${err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    }
    socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(new HttpBindError(options.host, options.port, err.code));
    server.once('error', onError);
    server.listen({ host: options.host, port: options.port, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => logger.error({ err }, 'HTTP server error'));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  const ownHost = isIPv6(options.host) ? `[${options.host}]` : options.host;
  allowedHosts = new Set([`${ownHost}:${port}`, `localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`].map((host) => host.toLowerCase()));
  // An address that is every interface is no address a browser can be sent to: the URL names loopback.
  const urlHost = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : ownHost;

  let closing: Promise<void> | null = null;
  return {
    host: options.host,
    port,
    url: `http://${urlHost}:${port}`,
    eventStreams: () => view.eventStreams,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        view.close();
        oscQuery.close();
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}
