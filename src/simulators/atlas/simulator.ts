import dgram from 'node:dgram';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { silentLogger, type Logger } from '../../log.js';
import { describeHolders, findTcpPortHolders } from '../../net/port-holder.js';
import { closeSocket } from '../../net/udp.js';
import { describeSystemError } from '../../system-errors.js';
import {
  encodeLine,
  KEEPALIVE_PARAM,
  LineSplitter,
  parseLine,
  type AtlasMessage,
  type Fmt,
  type Id,
  type ParamRequest,
  type ParamValue,
} from '../../atlas/protocol.js';

export interface AtlasSimulatorOptions {
  /** Address it listens on and sends meters from (default 127.0.0.1; 127.0.0.2, .3 ... work on Linux loopback). */
  host?: string;
  /** TCP control port (default 5321; 0 = any free port). */
  tcpPort?: number;
  /** Port meters are sent to, at each subscriber's address (default 3131). */
  meterPort?: number;
  /** Meter params it has (default SourceMeter_0..13 and ZoneMeter_0..7). */
  meters?: readonly string[];
  /** Meter updates per second per subscribed meter (default 20; 0 sends none, for a benchmark that sends its own). */
  rateHz?: number;
  logger?: Logger;
}

export interface AtlasSimulator {
  readonly host: string;
  /** The TCP port it listens on (the one picked, for 0). */
  readonly tcpPort: number;
  /** Closes every TCP connection, and with them their subscriptions, as a device reboot would. */
  dropConnections(): void;
  /** Silent: keep-alives go unanswered and no meters are sent, as from a hung device. */
  setSilent(silent: boolean): void;
  /** Malformed, overlong and split lines to every TCP client, junk datagrams to every meter listener. */
  sendGarbage(): Promise<void>;
  /** The params subscribed now, over all connections, sorted. */
  subscriptions(): string[];
  connections(): number;
  close(): Promise<void>;
}

export const DEFAULT_METERS: readonly string[] = [
  ...Array.from({ length: 14 }, (_, i) => `SourceMeter_${i}`),
  ...Array.from({ length: 8 }, (_, i) => `ZoneMeter_${i}`),
];

/** JSON-RPC's codes where the manual gives none; -32604 is the one observed from devices. */
const ERROR = {
  parse: -32700,
  invalidRequest: -32600,
  readOnly: -32602,
  notFound: -32604,
} as const;

const MIN_DB = -80;
const MAX_DB = 0;
/** Updates per datagram when several are packed together, as devices sometimes do. */
const MAX_PACKED = 4;

type ParamKind = 'meter' | 'gain' | 'mute' | 'name';

interface Param {
  kind: ParamKind;
  value: number | string;
  /** Meters drift toward a target that moves now and then: levels that look like programme material. */
  target?: number;
}

interface Client {
  socket: net.Socket;
  address: string;
  subscribed: Map<string, Fmt>;
  errorsSent: number;
}

/**
 * A stand-in for an AZM4/AZM8 on the wire (ATLAS.md): JSON lines on TCP (set, bmp, get, sub, unsub, with acks and
 * errors), meters and keep-alive answers over UDP from its own address. For each `XMeter_N` it also has
 * `XGain_N`, `XMute_N` and the read-only `XName_N`.
 */
export async function startAtlasSimulator(options: AtlasSimulatorOptions = {}): Promise<AtlasSimulator> {
  const { host = '127.0.0.1', tcpPort = 5321, meterPort = 3131, meters = DEFAULT_METERS, rateHz = 20, logger = silentLogger } = options;
  const params = buildParams(meters);
  const clients = new Set<Client>();
  let silent = false;

  const udp = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    // Bound to the device's own address, so meters come from where the device is reached.
    udp.bind({ address: host, port: 0 }, () => {
      udp.off('error', reject);
      resolve();
    });
  });
  udp.on('error', (err) => logger.warn({ err }, 'atlas-sim: UDP error'));
  const sendUdp = (client: Client, datagram: string | Buffer) => udp.send(datagram, meterPort, client.address);

  const send = (client: Client, message: AtlasMessage) => {
    if (!client.socket.destroyed) client.socket.write(encodeLine(message));
  };
  const sendError = (client: Client, id: Id | undefined, code: number, message: string) => {
    // Observed: some firmware sends the error JSON-encoded in a string. Every other error here does.
    const asString = client.errorsSent++ % 2 === 1;
    if (!client.socket.destroyed) client.socket.write(encodeLine({ kind: 'error', id, code, message, param: undefined }, { errorAsString: asString }));
  };
  const notFound = (name: string) => `param '${name}' could not be found`;

  const handle = (client: Client, message: AtlasMessage) => {
    if (message.kind === 'write') return write(client, message.method, message.values, message.id);
    if (message.kind !== 'query') return sendError(client, undefined, ERROR.invalidRequest, 'Invalid Request');
    const unknown = message.params.find(({ param }) => param !== KEEPALIVE_PARAM && !params.has(param));
    if (unknown) {
      // Known params in the same request still take effect; the error names the first unknown one.
      const known = message.params.filter((p) => p !== unknown && params.has(p.param));
      if (message.method !== 'get') subscribe(client, message.method, known);
      return sendError(client, message.id, ERROR.notFound, notFound(unknown.param));
    }
    if (message.method === 'get') return get(client, message.params, message.id);
    subscribe(client, message.method, message.params);
    if (message.id !== undefined) send(client, { kind: 'result', id: message.id, values: [] });
  };

  const subscribe = (client: Client, method: 'sub' | 'unsub', requests: ParamRequest[]) => {
    for (const { param, fmt } of requests) {
      if (method === 'unsub') {
        client.subscribed.delete(param);
        continue;
      }
      client.subscribed.set(param, fmt);
      // Everything but meters reports its current value on TCP when subscribed.
      if (params.get(param)!.kind !== 'meter') send(client, { kind: 'values', method: 'update', values: [valueOf(params, param, fmt)] });
    }
  };

  const get = (client: Client, requests: ParamRequest[], id: Id | undefined) => {
    const keepAlive = requests.some(({ param }) => param === KEEPALIVE_PARAM);
    if (keepAlive && silent) return;
    const values = requests.map(({ param, fmt }) =>
      param === KEEPALIVE_PARAM ? { param, fmt: 'str' as const, value: 'OK' } : valueOf(params, param, fmt),
    );
    // Observed: a get with an id is answered as a result; the manual's getResp carries no id.
    const answer: AtlasMessage = id === undefined ? { kind: 'values', method: 'getResp', values } : { kind: 'result', id, values };
    send(client, answer);
    if (keepAlive) sendUdp(client, encodeLine({ kind: 'values', method: 'getResp', values }));
  };

  const write = (client: Client, method: 'set' | 'bmp', values: ParamValue[], id: Id | undefined) => {
    for (const { param, value } of values) {
      const target = params.get(param);
      if (!target) return sendError(client, id, ERROR.notFound, notFound(param));
      if (target.kind === 'meter' || target.kind === 'name') return sendError(client, id, ERROR.readOnly, `param '${param}' is read-only`);
      if (typeof value !== 'number') return sendError(client, id, ERROR.readOnly, `param '${param}' takes a number`);
      const next = method === 'bmp' ? (target.value as number) + value : value;
      target.value = target.kind === 'mute' ? (next >= 1 ? 1 : 0) : clamp(next, MIN_DB, MAX_DB);
      for (const other of clients) {
        const fmt = other.subscribed.get(param);
        if (fmt) send(other, { kind: 'values', method: 'update', values: [valueOf(params, param, fmt)] });
      }
    }
    if (id !== undefined) send(client, { kind: 'result', id, values: [] });
  };

  const server = net.createServer((socket) => {
    const client: Client = { socket, address: socket.remoteAddress!.replace(/^::ffff:/, ''), subscribed: new Map(), errorsSent: 0 };
    const splitter = new LineSplitter();
    clients.add(client);
    logger.info({ from: client.address }, 'atlas-sim: client connected');
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      for (const line of splitter.push(chunk)) {
        const parsed = parseLine(line);
        if (parsed.ok) handle(client, parsed.message);
        else sendError(client, undefined, ERROR.parse, `Parse error: ${parsed.error.detail}`);
      }
    });
    socket.on('error', () => {});
    // Subscriptions die with the connection (ATLAS.md).
    socket.on('close', () => clients.delete(client));
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port: tcpPort }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    // What it opened before must not keep the process alive after it has failed.
    await closeSocket(udp);
    throw await listenError(err as NodeJS.ErrnoException, host, tcpPort);
  }
  const { port: boundTcpPort } = server.address() as net.AddressInfo;
  logger.info({ host, tcpPort: boundTcpPort, meterPort, meters: meters.length, rateHz }, 'atlas-sim: listening');

  const tick = () => {
    for (const param of params.values()) if (param.kind === 'meter') drift(param);
    if (silent) return;
    for (const client of clients) {
      const lines: string[] = [];
      for (const [param, fmt] of client.subscribed) {
        if (params.get(param)!.kind === 'meter') lines.push(encodeLine({ kind: 'values', method: 'update', values: [valueOf(params, param, fmt)] }));
      }
      for (let i = 0; i < lines.length; ) {
        const packed = 1 + Math.floor(Math.random() * MAX_PACKED);
        sendUdp(client, lines.slice(i, i + packed).join(''));
        i += packed;
      }
    }
  };
  const timer = rateHz > 0 ? setInterval(tick, 1000 / rateHz) : undefined;

  return {
    host,
    tcpPort: boundTcpPort,
    dropConnections() {
      for (const { socket } of clients) socket.destroy();
      clients.clear();
    },
    setSilent(value) {
      silent = value;
    },
    async sendGarbage() {
      const keepAlive = Buffer.from(encodeLine({ kind: 'values', method: 'getResp', values: [{ param: KEEPALIVE_PARAM, fmt: 'str', value: 'OK' }] }));
      const half = keepAlive.length >> 1;
      for (const client of [...clients]) {
        client.socket.write('{"jsonrpc":"2.0","method":"update","params":{"param":\n');
        client.socket.write('this is not json\n');
        client.socket.write(`${'x'.repeat(70 * 1024)}\n`);
        client.socket.write(keepAlive.subarray(0, half));
        sendUdp(client, Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0xff]));
        sendUdp(client, '{"jsonrpc":"2.0","method":"update","params":[{"param":"SourceMeter_0"}]}\n');
      }
      // Written later, the rest travels in a later TCP segment: the reader must join the line across chunks.
      await sleep(10);
      for (const client of clients) if (!client.socket.destroyed) client.socket.write(keepAlive.subarray(half));
    },
    subscriptions() {
      return [...new Set([...clients].flatMap((client) => [...client.subscribed.keys()]))].sort();
    },
    connections() {
      return clients.size;
    },
    async close() {
      clearInterval(timer);
      for (const { socket } of clients) socket.destroy();
      await Promise.all([new Promise<void>((resolve) => server.close(() => resolve())), closeSocket(udp)]);
      logger.info({ host, tcpPort: boundTcpPort }, 'atlas-sim: stopped');
    },
  };
}

function buildParams(meters: readonly string[]): Map<string, Param> {
  const params = new Map<string, Param>();
  for (const meter of meters) {
    const level = MIN_DB + Math.random() * 60;
    params.set(meter, { kind: 'meter', value: level, target: level });
    const match = /^(.*)Meter_(\d+)$/.exec(meter);
    if (!match) continue;
    const [, prefix, index] = match;
    params.set(`${prefix}Gain_${index}`, { kind: 'gain', value: -20 });
    params.set(`${prefix}Mute_${index}`, { kind: 'mute', value: 0 });
    params.set(`${prefix}Name_${index}`, { kind: 'name', value: `${prefix} ${Number(index) + 1}` });
  }
  return params;
}

function drift(meter: Param): void {
  if (Math.random() < 0.03) meter.target = -60 + Math.random() * 54;
  const level = meter.value as number;
  meter.value = clamp(level + ((meter.target ?? level) - level) * 0.2 + (Math.random() - 0.5) * 4, MIN_DB, MAX_DB);
}

/** A param in the format asked for: dB (val), 0..100 (pct) or text (str). */
function valueOf(params: Map<string, Param>, name: string, fmt: Fmt): ParamValue {
  const { kind, value } = params.get(name)!;
  if (typeof value === 'string') return { param: name, fmt: 'str', value };
  if (fmt === 'str') return { param: name, fmt, value: kind === 'mute' ? String(value) : `${value.toFixed(1)} dB` };
  if (fmt === 'pct') return { param: name, fmt, value: Math.round(kind === 'mute' ? value * 100 : ((value - MIN_DB) / (MAX_DB - MIN_DB)) * 100) };
  return { param: name, fmt, value: Math.round(value * 10) / 10 };
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}

/** A TCP port it could not listen on, in the user's terms: who holds it, as `oscport start` says of its UDP port. */
async function listenError(err: NodeJS.ErrnoException, host: string, port: number): Promise<Error> {
  if (err.code !== 'EADDRINUSE') return new Error(`atlas-sim cannot listen on TCP ${host}:${port}: ${describeSystemError(err)}`);
  const holders = describeHolders(await findTcpPortHolders(port));
  return new Error(`TCP ${host}:${port} is already in use${holders ? ` by ${holders}` : ''}. Stop it, or choose another port with --tcp-port.`);
}
