import type dgram from 'node:dgram';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { describeHolders, findUdpPortHolders, type PortHolder } from '../net/port-holder.js';
import { BindError, bindExclusive, closeSocket } from '../net/udp.js';
import type { AtlasCounters } from './counters.js';
import { datagramLines, KEEPALIVE_PARAM, parseLine } from './protocol.js';
import type { Warn } from './session.js';

/** Where the meter socket hands what the processors send. */
export interface MeterSink {
  /** A value from the processor with this id: the subscription table sends it on. */
  deliver(processorId: string, param: string, value: number | string): void;
  /** The processor answered a keep-alive (it answers on TCP, and again here). */
  keepAliveAnswered(processorId: string): void;
}

/** Objects read from one datagram: a real one holds a handful; past this the rest is dropped unread. */
export const MAX_LINES_PER_DATAGRAM = 64;
/** Updates taken from one processor per second (20 meters at 50 Hz are 1,000): past this they are dropped. */
export const MAX_UPDATES_PER_SECOND = 5000;

export interface MeterSocketOptions {
  host: string;
  port: number;
  /** Wait between attempts to bind a port someone else holds. */
  rebindMs: number;
  clock: Clock;
  logger: Logger;
  warn: Warn;
  counters: AtlasCounters;
  sink: MeterSink;
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

/**
 * The one UDP socket a host has for Atlas meters. Every processor sends its meters to this port, and each datagram
 * reaches exactly one socket whatever the socket options (ATLAS.md), so it is bound exclusively, never with
 * SO_REUSEADDR. Each datagram is told apart by its source address, parsed, and its values handed
 * straight to the sink: socket, parse, deliver.
 */
export class MeterSocket {
  private readonly options: MeterSocketOptions;
  private socket: dgram.Socket | undefined;
  /** The processor id at each source address. */
  private readonly processors = new Map<string, string>();
  /** Each processor's updates in the current second: [second, count]. */
  private readonly budgets = new Map<string, [number, number]>();
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

  route(address: string, processorId: string): void {
    this.processors.set(address, processorId);
  }

  unroute(address: string): void {
    const processorId = this.processors.get(address);
    this.processors.delete(address);
    if (processorId !== undefined) this.budgets.delete(processorId);
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

  /** The processor's count of updates in `second`, started over when a new second begins. */
  private budgetOf(processorId: string, second: number): [number, number] {
    let budget = this.budgets.get(processorId);
    if (!budget) this.budgets.set(processorId, (budget = [second, 0]));
    else if (budget[0] !== second) {
      budget[0] = second;
      budget[1] = 0;
    }
    return budget;
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
    const { counters, warn, sink, clock } = this.options;
    counters.datagrams++;
    const processorId = this.processors.get(address);
    if (processorId === undefined) {
      counters.unknownSources++;
      warn('unknown-source', { address }, 'atlas: dropped a datagram from an address no processor is configured at');
      return;
    }
    const lines = datagramLines(datagram);
    if (lines.length > MAX_LINES_PER_DATAGRAM) {
      counters.droppedLines += lines.length - MAX_LINES_PER_DATAGRAM;
      warn(`packed:${address}`, { address, lines: lines.length }, `atlas: a datagram of more than ${MAX_LINES_PER_DATAGRAM} objects: the rest dropped`);
      lines.length = MAX_LINES_PER_DATAGRAM;
    }
    const budget = this.budgetOf(processorId, Math.floor(clock.now() / 1000));
    for (const line of lines) {
      const parsed = parseLine(line);
      if (!parsed.ok) {
        counters.badLines++;
        warn(`bad-udp:${address}`, { address, ...parsed.error }, 'atlas: dropped a bad line from the device (UDP)');
        continue;
      }
      const { message } = parsed;
      // Updates and answers carry values; a request from the device has nothing for us.
      if (message.kind !== 'values' && message.kind !== 'result') continue;
      for (const { param, value } of message.values) {
        if (param === KEEPALIVE_PARAM) sink.keepAliveAnswered(processorId);
        else if (budget[1]++ < MAX_UPDATES_PER_SECOND) sink.deliver(processorId, param, value);
        else counters.droppedUpdates++;
      }
    }
  }
}
