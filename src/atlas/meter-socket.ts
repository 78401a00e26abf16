import type dgram from 'node:dgram';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { describeHolders, findUdpPortHolders, type PortHolder } from '../net/port-holder.js';
import { BindError, bindExclusive, closeSocket } from '../net/udp.js';
import type { AtlasCounters } from './counters.js';
import { datagramLines, parseLine, type AtlasMessage } from './protocol.js';
import type { Warn } from './session.js';

export interface MeterSocketOptions {
  host: string;
  port: number;
  /** Wait between attempts to bind a port someone else holds. */
  rebindMs: number;
  clock: Clock;
  logger: Logger;
  warn: Warn;
  counters: AtlasCounters;
}

export interface MeterSocketStatus {
  host: string;
  /** The port bound, or the one asked for while it cannot be. */
  port: number;
  bound: boolean;
  /** Why it is not bound, and who holds the port, when known. */
  error: string | undefined;
  holders: PortHolder[];
}

export type MeterSink = (message: AtlasMessage) => void;

/**
 * The one UDP socket a host has for Atlas meters. Every processor sends its meters to this port, and each datagram
 * reaches exactly one socket whatever the socket options (ATLAS.md), so it is bound exclusively, never with
 * SO_REUSEADDR, and each datagram goes to the processor configured at its source address.
 */
export class MeterSocket {
  private readonly options: MeterSocketOptions;
  private socket: dgram.Socket | undefined;
  private readonly routes = new Map<string, MeterSink>();
  private state: MeterSocketStatus;
  private retry: unknown;
  private closed = false;

  /** Resolves once the first bind attempt is over, bound or not: a taken port is reported, never fatal. */
  static async open(options: MeterSocketOptions): Promise<MeterSocket> {
    const meters = new MeterSocket(options);
    await meters.bind();
    return meters;
  }

  private constructor(options: MeterSocketOptions) {
    this.options = options;
    this.state = { host: options.host, port: options.port, bound: false, error: undefined, holders: [] };
  }

  route(address: string, sink: MeterSink): void {
    this.routes.set(address, sink);
  }

  unroute(address: string): void {
    this.routes.delete(address);
  }

  status(): MeterSocketStatus {
    return { ...this.state, holders: [...this.state.holders] };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retry !== undefined) this.options.clock.clearTimeout(this.retry);
    if (this.socket) await closeSocket(this.socket);
    this.socket = undefined;
  }

  private async bind(): Promise<void> {
    const { host, port, logger, clock, rebindMs } = this.options;
    this.retry = undefined;
    try {
      const socket = await bindExclusive(host, port);
      if (this.closed) {
        await closeSocket(socket);
        return;
      }
      this.socket = socket;
      socket.on('message', (datagram, from) => this.receive(datagram, from.address));
      socket.on('error', (err) => logger.error({ err }, 'atlas: meter socket error'));
      this.state = { host, port: socket.address().port, bound: true, error: undefined, holders: [] };
      logger.info({ host, port: this.state.port }, 'atlas: receiving meters');
    } catch (err) {
      if (this.closed) return;
      const inUse = err instanceof BindError && err.code === 'EADDRINUSE';
      const holders = inUse ? await findUdpPortHolders(port) : [];
      const error = inUse
        ? `UDP ${host}:${port} is already in use by ${holders.length > 0 ? describeHolders(holders) : 'another process'}`
        : (err as Error).message;
      // Said once, and again only when the reason changes (another holder): the retries themselves are routine.
      if (error !== this.state.error) logger.warn({ host, port, holders, retryInMs: rebindMs }, `atlas: meters are off: ${error}`);
      this.state = { host, port, bound: false, error, holders };
      if (!this.closed) this.retry = clock.setTimeout(() => void this.bind(), rebindMs);
    }
  }

  private receive(datagram: Buffer, address: string): void {
    const { counters, warn } = this.options;
    counters.datagrams++;
    const sink = this.routes.get(address);
    if (!sink) {
      counters.unknownSources++;
      warn('unknown-source', { address }, 'atlas: dropped a datagram from an address no processor is configured at');
      return;
    }
    for (const line of datagramLines(datagram)) {
      const parsed = parseLine(line);
      if (parsed.ok) {
        sink(parsed.message);
      } else {
        counters.badLines++;
        warn(`bad-udp:${address}`, { address, ...parsed.error }, 'atlas: dropped a bad line from the device (UDP)');
      }
    }
  }
}
