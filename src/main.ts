import type dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { AdminProbes } from './admin-probes.js';
import { Assignments } from './leases/registry.js';
import type { Clock } from './leases/lease.js';
import { decodeDatagram, encodeMessage, type OscMessage } from './osc/codec.js';
import { DEFAULT_SETTINGS, validateSettings, type CoordinatorSettings } from './settings/index.js';
import { createCounters, type Counters } from './counters.js';
import { dispatch, type Hub } from './handlers/index.js';
import { openJournal, type Journal } from './leases/persistence/journal.js';
import { silentLogger, type Logger } from './log.js';
import { createNonce } from './nonce.js';
import { createPortCheck, type PortIsFree } from './net/port-check.js';
import { createRateLimitedLog } from './rate-limited-log.js';
import { bindExclusive, closeSocket, growReceiveBuffer } from './net/udp.js';

export interface CoordinatorOptions extends Partial<CoordinatorSettings> {
  logger?: Logger;
  clock?: Clock;
  portIsFree?: PortIsFree;
  createNonce?: () => string;
}

export interface CoordinatorStats {
  uptimeMs: number;
  dataDir: string | null;
  pool: { size: number; free: number; quarantined: number };
  leases: Record<string, number>;
  counters: Counters;
  receiveBuffer: { asked: number; granted: number };
  /** Background compactions of the lease journal, and the longest any of their steps held the event loop. */
  journal: { compactions: number; longestCompactionBlockMs: number } | null;
}

export interface Coordinator {
  readonly host: string;
  readonly port: number;
  readonly settings: Readonly<CoordinatorSettings>;
  readonly assignments: Assignments;
  stats(): CoordinatorStats;
  close(): Promise<void>;
}

export const realClock: Clock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as NodeJS.Timeout),
  now: () => performance.now(),
};

/** Builds and starts the whole coordinator: one exclusive UDP socket, the assignments, the handlers. */
export async function startCoordinator(options: CoordinatorOptions = {}): Promise<Coordinator> {
  const { logger = silentLogger, clock = realClock, portIsFree = createPortCheck(), createNonce: nonce = createNonce, ...overrides } = options;
  const settings = validateSettings({ ...DEFAULT_SETTINGS, ...withoutUndefined(overrides) });
  // The port first: a second `oscport start` must be told who holds the port, not the data directory.
  const socket = await bindExclusive(settings.host, settings.port);
  let opened: ReturnType<typeof openJournal> | undefined;
  try {
    opened = settings.dataDir === null ? undefined : openJournal(settings.dataDir, { logger });
  } catch (err) {
    await closeSocket(socket);
    throw err;
  }
  const { port } = socket.address();
  const receiveBuffer = growReceiveBuffer(socket, settings.receiveBufferBytes);
  const counters = createCounters();
  const startedAt = clock.now();
  let closed = false;

  const send = (message: OscMessage, host: string, toPort: number): void => {
    if (closed) return;
    socket.send(encodeMessage(message), toPort, host, (err) => {
      if (err) logger.debug({ err, host, port: toPort, address: message.address }, 'send failed');
    });
  };

  const journal: Journal | undefined = opened?.journal;
  const log = createRateLimitedLog(logger, 1000, clock);
  const assignments = new Assignments({
    settings: { ...settings, reserved: [...settings.reserved, port] },
    send,
    portIsFree,
    createNonce: nonce,
    clock,
    logger,
    log,
    counters,
    ...(journal ? { store: journal } : {}),
  });
  const stats = (): CoordinatorStats => ({
    uptimeMs: Math.round(clock.now() - startedAt),
    dataDir: settings.dataDir,
    pool: { size: assignments.pool.size, free: assignments.pool.free, quarantined: assignments.pool.quarantined },
    leases: assignments.countByState(),
    counters: { ...counters },
    receiveBuffer,
    journal: journal
      ? { compactions: journal.compactions.count, longestCompactionBlockMs: Math.round(journal.compactions.longestBlockMs * 100) / 100 }
      : null,
  });
  const hub: Hub = {
    assignments,
    counters,
    log,
    adminProbes: new AdminProbes(clock, send, nonce, settings.probeTimeoutMs),
    send,
    status: stats,
  };

  socket.on('message', (data, rinfo) => onDatagram(hub, data, rinfo));
  socket.on('error', (err) => logger.error({ err }, 'socket error'));

  if (opened) assignments.restore(opened.restored);
  logger.info(
    {
      host: settings.host,
      port,
      pool: `${settings.poolLow}-${settings.poolHigh}`,
      ports: assignments.pool.size,
      dataDir: settings.dataDir,
      restored: opened?.restored.leases.size ?? 0,
    },
    'coordinator listening',
  );
  const level = receiveBuffer.granted < receiveBuffer.asked ? 'warn' : 'info';
  logger[level](receiveBuffer, 'receive buffer');

  return {
    host: settings.host,
    port,
    settings,
    assignments,
    stats,
    close: async () => {
      if (closed) return;
      closed = true;
      assignments.close();
      log.close();
      await closeSocket(socket);
      journal?.close();
      logger.info('coordinator stopped');
    },
  };
}

function onDatagram(hub: Hub, data: Buffer, rinfo: dgram.RemoteInfo): void {
  hub.counters.datagrams++;
  const decoded = decodeDatagram(data);
  if (!decoded.ok) {
    hub.counters.malformed++;
    hub.log('malformed', 'warn', { source: `${rinfo.address}:${rinfo.port}`, bytes: data.byteLength, ...decoded.error }, 'malformed datagram dropped');
    return;
  }
  const source = { address: rinfo.address, port: rinfo.port };
  for (const message of decoded.messages) {
    try {
      dispatch(hub, message, source);
    } catch (err) {
      // A bug met by one message must not stop the coordinator serving everyone else.
      hub.log('handler_failed', 'error', { err, address: message.address }, 'handler failed');
    }
  }
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
