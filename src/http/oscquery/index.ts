import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Clock } from '../../clock.js';
import type { Logger } from '../../log.js';
import type { Studio } from '../studio.js';
import { DEFAULT_LISTEN_LIMITS, Listeners, type ListenLimits } from './listeners.js';
import { flatten, liveNodes, namespaceRoot, nodeAt } from './namespace.js';
import { ATTRIBUTES, type Attribute, type OscQueryNode } from './node.js';
import { MESSAGES } from '../../osc/contract.js';
import { escapeAddressPart } from './escape.js';
import { protocolNodes } from './protocol-nodes.js';

export interface OscQueryOptions {
  studio: Studio;
  oscHost: string;
  oscPort: number;
  logger: Logger;
  clock: Clock;
  /** The WebSocket's bounds; the defaults are PROTOCOL §18's. */
  limits?: Partial<ListenLimits>;
}

/**
 * What HOST_INFO promises: only what this server does. The WebSocket shares the HTTP port, so WS_IP and
 * WS_PORT are left out, as the proposal asks (libossia and Chataigne then open it on the same host:port).
 */
const EXTENSIONS = {
  ACCESS: true,
  VALUE: true,
  RANGE: true,
  DESCRIPTION: true,
  UNIT: true,
  LISTEN: true,
  PATH_ADDED: true,
  PATH_REMOVED: true,
} as const;

/** The OSCQuery server: the namespace over HTTP, HOST_INFO, `?ATTR`, and the WebSocket. [PROTOCOL §18] */
export class OscQuery {
  private readonly protocol: OscQueryNode = protocolNodes(MESSAGES);
  private readonly listeners: Listeners;

  constructor(private readonly options: OscQueryOptions) {
    const { studio, clock, logger } = options;
    const look = () => {
      const { plugins, meters } = liveNodes(studio.snapshot());
      return flatten(meters, flatten(plugins));
    };
    this.listeners = new Listeners(look, () => levelPaths(studio), clock, logger, { ...DEFAULT_LISTEN_LIMITS, ...options.limits });
  }

  /** WebSocket clients connected now. */
  get sockets(): number {
    return this.listeners.count;
  }

  /** A GET or HEAD the server did not route elsewhere (Host already checked): an OSCQuery path, `?HOST_INFO`, `?ATTR`. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): void {
    // `?HOST_INFO` and `?HOST_INFO=1` (libossia asks both) name the attribute; its value is not read.
    const attribute = url.search === '' ? undefined : [...url.searchParams.keys()][0] ?? url.search.slice(1);
    if (attribute === 'HOST_INFO') return reply(req, res, 200, this.hostInfo());
    const node = nodeAt(namespaceRoot(this.protocol, this.options.studio.snapshot()), url.pathname);
    if (!node) return reply(req, res, 404, { error: 'no such node' });
    if (attribute === undefined) return reply(req, res, 200, node);
    if (!(ATTRIBUTES as readonly string[]).includes(attribute)) return reply(req, res, 400, { error: `unsupported attribute ${attribute}` });
    const value = node[attribute as Attribute];
    // The proposal: an attribute this node does not have is 204, no body.
    if (value === undefined) return reply(req, res, 204, undefined);
    reply(req, res, 200, { [attribute]: value });
  }

  /** A WebSocket upgrade (Host already checked). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.listeners.upgrade(req, socket, head);
  }

  close(): void {
    this.listeners.close();
  }

  private hostInfo(): Record<string, unknown> {
    const { studio, oscHost, oscPort } = this.options;
    // A wildcard bind is no address to send to: without OSC_IP, clients use the host they asked.
    const wildcard = oscHost === '0.0.0.0' || oscHost === '::';
    return { NAME: studio.name, EXTENSIONS, ...(wildcard ? {} : { OSC_IP: oscHost }), OSC_PORT: oscPort, OSC_TRANSPORT: 'UDP' };
  }
}

function reply(req: IncomingMessage, res: ServerResponse, status: number, body: unknown): void {
  if (status === 204) {
    res.writeHead(204).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(req.method === 'HEAD' ? undefined : text);
}

/** The studio's levels by the FULL_PATH of their nodes: `/plugins/<tempID>/rms`, `/meters/<processor>/<param>`. */
function levelPaths(studio: Studio): Map<string, number> {
  const paths = new Map<string, number>();
  for (const [tempId, value] of studio.pluginLevels()) paths.set(`/plugins/${escapeAddressPart(tempId)}/rms`, value);
  for (const { processor, param, value } of studio.meterReadings()) paths.set(`/meters/${escapeAddressPart(processor)}/${escapeAddressPart(param)}`, value);
  return paths;
}
