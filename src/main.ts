import { hostname } from 'node:os';
import { leaseMachine } from '../machines/lease.js';
import { realClock, type Clock } from './clock.js';
import { createCounters } from './counters.js';
import { receiveDatagram, type Hub } from './handlers/index.js';
import { leaseCollaborators } from './leases/collaborators.js';
import { Sweeps } from './leases/sweeps.js';
import { checkDurationMs } from './leases/rules.js';
import { leaseEffects, refuse } from './leases/effects.js';
import { openJournal } from './leases/persistence/journal.js';
import { LeaseRegistry } from './leases/registry.js';
import { silentLogger, type Logger } from './log.js';
import { createPortCheck, type PortCheck } from './net/port-check.js';
import { describeHolders, findUdpPortHolders } from './net/port-holder.js';
import { bindExclusive, BindError, closeSocket, growReceiveBuffer, type SendBytes } from './net/udp.js';
import { createNonce } from './nonce.js';
import { createRateLimitedLog } from './rate-limited-log.js';
import { AtlasBridge } from './atlas/bridge.js';
import { controller as controllerConsumer } from './atlas/subscriptions.js';
import { SenderBudgets } from './routing/budgets.js';
import { Controllers } from './routing/controllers.js';
import { advertise } from './http/dnssd.js';
import { startHttpSurface, type HttpLimits, type HttpSurface } from './http/server.js';
import { Studio } from './http/studio.js';
import { PluginLevels } from './leases/levels.js';
import { announceLeases } from './routing/lease-events.js';
import { DEFAULT_SETTINGS, portsOf, validateSettings, type AtlasSettings, type CoordinatorSettings } from './settings/index.js';
import type { CoordinatorStats, UnavailablePort } from './status.js';

export interface CoordinatorOptions extends Partial<Omit<CoordinatorSettings, 'atlas'>> {
  /** Any Atlas settings given here; the rest keep their defaults. */
  atlas?: Partial<AtlasSettings>;
  logger?: Logger;
  /** Monotonic time and timers: everything that waits. */
  clock?: Clock;
  /** Wall-clock time (ms since the epoch), for what outlives the process: the journal's times. */
  wallNow?: () => number;
  portCheck?: PortCheck;
  createNonce?: () => string;
  /** The HTTP server's bounds (tests lower them). */
  httpLimits?: Partial<HttpLimits>;
}

export interface Coordinator {
  readonly host: string;
  readonly port: number;
  readonly settings: Readonly<CoordinatorSettings>;
  readonly leases: LeaseRegistry;
  /** Each lease's last rms. */
  readonly levels: PluginLevels;
  /** Everything the studio's views show (the web view, OSCQuery, metrics). */
  readonly studio: Studio;
  /** The Atlas bridge, its processors and subscriptions in full. */
  readonly atlas: AtlasBridge;
  /** The HTTP surface (web view, OSCQuery, metrics) [PROTOCOL §17]; null when `httpPort` is off. */
  readonly http: { host: string; port: number; url: string } | null;
  stats(): CoordinatorStats;
  close(): Promise<void>;
}

/** The composition root: builds the whole coordinator from its settings, every machine's effects provided here. */
export async function startCoordinator(options: CoordinatorOptions = {}): Promise<Coordinator> {
  const { logger = silentLogger, clock = realClock, wallNow = Date.now, portCheck = createPortCheck(), createNonce: nonce = createNonce, httpLimits, ...given } = options;
  // Atlas is the one nested section: a partial one given in code keeps the defaults of the rest.
  const settings = validateSettings({ ...DEFAULT_SETTINGS, ...withoutUndefined(given), atlas: { ...DEFAULT_SETTINGS.atlas, ...given.atlas } });
  // The port first: a second `oscport start` must be told who holds the port, not the data directory.
  const socket = await bindExclusive(settings.host, settings.port);
  const opened = await orClose(socket, () => (settings.dataDir === null ? undefined : openJournal(settings.dataDir, { logger, now: wallNow })));
  const { port } = socket.address();
  const { extraSockets, unavailable } = await bindExtraPorts(settings.host, settings.extraPorts.filter((extra) => extra !== port), logger);
  const receiveBuffer = growReceiveBuffer(socket, settings.receiveBufferBytes);
  const counters = createCounters();
  const log = createRateLimitedLog(logger, 1000, clock);
  const startedAt = clock.now();
  let closed = false;
  // No callback: a failed send is an 'error' event on the socket, logged below at a bounded rate.
  const send: SendBytes = (bytes, host, toPort) => closed || socket.send(bytes, toPort, host);

  // The lease core [PROTOCOL §1-§9]: the machine decides, its effects act on these collaborators.
  const core = leaseCollaborators({ settings, ownPort: port, send, portCheck, store: opened?.journal, clock, wallNow, createNonce: nonce, counters, log, logger });
  const machine = leaseMachine.provide({ actions: leaseEffects(core) });
  const leases = new LeaseRegistry({ ...core, machine, refuse: (endpoint, tempId, code, detail) => refuse(send, endpoint, tempId, code, detail) });
  const { pool } = core.ledger;

  const stats = (): CoordinatorStats => ({
    uptimeMs: Math.round(clock.now() - startedAt),
    ports: { listening: [port, ...extraSockets.map((extra) => extra.address().port)], unavailable },
    dataDir: settings.dataDir,
    pool: { size: pool.size, free: pool.free, quarantined: pool.quarantined },
    leases: leases.countByState(),
    counters: { ...counters },
    receiveBuffer,
    controllers: controllers.list().map((controller) => controller.key),
    atlas: atlas.summary(),
    journal: opened ? { compactions: opened.journal.compactions.count, longestCompactionBlockMs: Math.round(opened.journal.compactions.longestBlockMs * 100) / 100 } : null,
  });
  // Routing [PROTOCOL §11-§14]: controllers hear plugin traffic and lease events, and reach plugins through leases.
  const controllers = new Controllers({
    ...{ clock, send, counters, allow: settings.controllersAllow, max: settings.maxControllers, ttlMs: settings.controllerTtlMs, createToken: nonce },
    onLeave: (key) => void atlas.dropConsumer(controllerConsumer(key)),
  });
  for (const standing of settings.controllers) controllers.subscribe(standing.host, standing.port, { standing: true });
  announceLeases(leases, controllers);
  // The Atlas meter bridge [PROTOCOL §15]: its meter socket is bound when the first processor arrives.
  const atlas = new AtlasBridge({ settings: settings.atlas, leases, controllers, send, clock, logger });

  const budgets = new SenderBudgets({
    clock,
    datagramsPerSecond: settings.sendBudget,
    gathersInFlight: settings.maxGathers,
    totalDatagramsPerSecond: settings.sendBudgetTotal,
    totalGathersInFlight: settings.maxGathersTotal,
  });
  const levels = new PluginLevels(leases);
  const studio = new Studio({ name: `oscport on ${hostname()}`, clock, stats, leases, levels, atlas, controllers });
  const hub: Hub = { leases, levels, probes: core.probes, controllers, budgets, atlas, counters, log, send, clock, settings, status: stats };
  // [PROTOCOL §16] Every port is the coordinator's own: the same handlers, and replies from the port that was asked.
  for (const listening of [socket, ...extraSockets]) {
    const replies: Hub = listening === socket ? hub : { ...hub, send: (bytes, host, toPort) => closed || listening.send(bytes, toPort, host) };
    listening.on('message', (datagram, from) => receiveDatagram(replies, datagram, from));
    listening.on('error', (err) => log('socket_error', 'error', { err }, 'socket error'));
  }
  // [PROTOCOL §16] Instances the coordinator never heard from: at start, and on the response ports every few seconds.
  const sweeps = new Sweeps({
    ...{ leases, probes: core.probes, send, portCheck, clock, counters, log },
    responsePorts: settings.sweepPorts.flatMap(portsOf),
    intervalMs: settings.sweepIntervalMs,
    answerWindowMs: checkDurationMs({ probeTimeoutMs: settings.probeTimeoutMs, livenessProbes: settings.probeAttempts }),
  });

  let http: HttpSurface | null = null;
  let advertised: { close(): Promise<void> } | null = null;
  let listening = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await advertised?.close();
    await http?.close();
    sweeps.close();
    leases.close();
    controllers.close();
    await atlas.close();
    log.close();
    await Promise.all([socket, ...extraSockets].map(closeSocket));
    opened?.journal.close();
    if (listening) logger.info('coordinator stopped');
  };

  if (opened) leases.restore(opened.restored);
  sweeps.start();
  await atlas.start();
  // [PROTOCOL §17] Last, so a port held elsewhere stops the start with everything above closed again: nothing left half-started.
  try {
    if (settings.httpPort !== null) {
      http = await startHttpSurface({ host: settings.httpHost, port: settings.httpPort, studio, oscHost: settings.host, oscPort: port, clock, logger, limits: httpLimits });
      if (settings.dnssd) advertised = await advertise({ name: studio.name, httpPort: http.port, oscPort: port, logger });
    }
  } catch (err) {
    await close();
    throw err;
  }
  logger.info(
    {
      host: settings.host,
      port,
      extraPorts: extraSockets.map((extra) => extra.address().port),
      pool: `${settings.poolLow}-${settings.poolHigh}`,
      ports: pool.size,
      dataDir: settings.dataDir,
      restored: opened?.restored.leases.size ?? 0,
      http: http?.url ?? null,
    },
    'coordinator listening',
  );
  listening = true;
  logger[receiveBuffer.granted < receiveBuffer.asked ? 'warn' : 'info'](receiveBuffer, 'receive buffer');

  return {
    host: settings.host,
    port,
    settings,
    leases,
    levels,
    studio,
    atlas,
    http: http && { host: http.host, port: http.port, url: http.url },
    stats,
    close,
  };
}

/**
 * [PROTOCOL §16] The extra ports, each bound exclusively as the main one. One held elsewhere (today's
 * ChattyChannels binds 8999 itself) does not stop the start: it is named, with its holder and what
 * that means, once in the log and in the status.
 */
async function bindExtraPorts(host: string, ports: readonly number[], logger: Logger) {
  const extraSockets: Awaited<ReturnType<typeof bindExclusive>>[] = [];
  const unavailable: UnavailablePort[] = [];
  for (const extra of new Set(ports)) {
    try {
      extraSockets.push(await bindExclusive(host, extra));
    } catch (err) {
      if (!(err instanceof BindError)) throw err;
      const holders = err.code === 'EADDRINUSE' ? describeHolders(await findUdpPortHolders(extra)) : '';
      const reason = err.code === 'EADDRINUSE' ? `in use${holders ? ` by ${holders}` : ''}` : `cannot bind: ${err.code ?? err.message}`;
      unavailable.push({ port: extra, reason });
      logger.warn(
        { port: extra, reason },
        `UDP ${host}:${extra} is ${reason}: plugins that send there (today's AIplayer builds send to 8999) will not reach this coordinator`,
      );
    }
  }
  return { extraSockets, unavailable };
}

/** What `open` returns; if it throws, the socket is closed first, so a failed start leaves nothing bound. */
async function orClose<T>(socket: Parameters<typeof closeSocket>[0], open: () => T): Promise<T> {
  try {
    return open();
  } catch (err) {
    await closeSocket(socket);
    throw err;
  }
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
