import { isIPv4 } from 'node:net';
import { homedir } from 'node:os';
import type { LeaseSettings } from '../../machines/lease.js';
import { defaultDataDir } from './data-dir.js';
import { checkSettings, fixedDefaults } from './resolve.js';
import { settingsFor, type SettingsTable } from './table.js';
import { cidr, list, oneOf, onOff, optionalPath, path, port, portOrOff, portRange, portSeries, portsOf, record, SettingsError, text, wholeNumber, type PortSeries } from './values.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface AtlasProcessor {
  id: string;
  /** The device's IPv4 address: meter datagrams are told apart by it. */
  host: string;
  tcpPort: number;
}

/** A standing meter mapping: every update of `param` on `processor` goes to `to` (a tempID or trackID). */
export interface AtlasMeter {
  processor: string;
  param: string;
  to: string;
}

/** The Atlas meter bridge (PROTOCOL §15). */
export interface AtlasSettings {
  meterPort: number;
  meterHost: string;
  /** Wait between attempts to bind a meter port someone else holds. */
  meterRebindMs: number;
  /** Wait for a TCP connection to a processor before it counts as failed. */
  connectTimeoutMs: number;
  /** Wait after a keep-alive answer before the next keep-alive. */
  keepaliveMs: number;
  /** Wait for the answer to a keep-alive before the link counts as dead. */
  keepaliveTimeoutMs: number;
  /** First wait before reconnecting; doubles with each failed attempt, up to `reconnectMaxMs`. */
  reconnectMs: number;
  reconnectMaxMs: number;
  /** How long a link must stay up before its failures are forgotten and the backoff starts over. */
  linkStableMs: number;
  /** Bytes sent to a processor with no word back on TCP, past which it is taken for not reading and its link is dropped. */
  maxUnansweredBytes: number;
  processors: AtlasProcessor[];
  meters: AtlasMeter[];
}

/** A controller registered for as long as the coordinator runs, with no subscription to renew. [PROTOCOL §11] */
export interface StandingController {
  host: string;
  port: number;
}

export interface CoordinatorSettings extends LeaseSettings {
  host: string;
  port: number;
  /** More ports it owns and serves exactly as its own: where today's AIplayer builds send (8999). */
  extraPorts: number[];
  poolLow: number;
  poolHigh: number;
  /** Ports of the pool range never offered, besides the coordinator's own port. */
  reserved: number[];
  /** How long a port that failed a binding stays out of circulation. */
  quarantineMs: number;
  /** SO_RCVBUF asked for: a 1000-instance burst must not overflow the socket. */
  receiveBufferBytes: number;
  /** Instances known at once (pending and bound); past it the oldest never verified is evicted, else `busy`. */
  maxInstances: number;
  /** Instances waiting at one response endpoint; more get `busy`. 512: a DAW's worth of deployed plugins on 50000. */
  maxWaitingPerEndpoint: number;
  /** The deployed plugin's response ports, swept for instances whose request was never heard. [PROTOCOL §16] */
  sweepPorts: PortSeries[];
  /** Between sweeps of the response ports; 0 sweeps them at start only. */
  sweepIntervalMs: number;
  logLevel: LogLevel;
  /** JSON log lines appended here as well as stdout, reopened on SIGHUP; "" for stdout only. */
  logFile: string;
  /** A bound lease silent this long is probed. */
  livenessIntervalMs: number;
  /** A bound lease is probed at least this often, however chatty: a stolen port still sends. */
  reverifyIntervalMs: number;
  /** Where leases persist; null keeps them in memory only. */
  dataDir: string | null;
  /** Beyond loopback, the address ranges controllers may register and send from. [PROTOCOL §11] */
  controllersAllow: string[];
  /** Controllers registered at once. */
  maxControllers: number;
  /** A controller that does not renew within this long is dropped. */
  controllerTtlMs: number;
  /** Plugin datagrams one sender may cause a second, through sends and gathers. [PROTOCOL §13] */
  sendBudget: number;
  /** Gathers one sender may have waiting for answers at once. [PROTOCOL §14] */
  maxGathers: number;
  /** Plugin datagrams all senders together may cause a second. [PROTOCOL §13] */
  sendBudgetTotal: number;
  /** Gathers all senders together may have waiting at once. [PROTOCOL §14] */
  maxGathersTotal: number;
  /** Controllers registered from the start, for as long as it runs (today's ChattyChannels on 8998). */
  controllers: StandingController[];
  /** TCP port of the HTTP surface (the web view, OSCQuery, metrics); `off` for no server. [PROTOCOL §17] */
  httpPort: number | 'off';
  /** Address the HTTP server binds. */
  httpHost: string;
  /** Advertise the OSCQuery service and the OSC port over DNS-SD (mDNS). [PROTOCOL §18] */
  dnssd: boolean;
  atlas: AtlasSettings;
}

/** The assignment wait doubles up to this; not a setting of `start`. */
const ASSIGN_TIMEOUT_MAX_MS = 16_000;

const { setting, section } = settingsFor<CoordinatorSettings>();
const atlas = settingsFor<AtlasSettings>();
const ms = (min: number) => wholeNumber({ min, argument: 'MS' });
const count = (min: number) => wholeNumber({ min });

/**
 * The settings of `oscport start`, in the order --help, --print-config and docs/configuration.md show them.
 * A row is all a new setting needs: its flag, variable, config key, checks and docs line follow.
 */
export const COORDINATOR_SETTINGS: SettingsTable<CoordinatorSettings> = [
  setting({
    key: 'port',
    short: '-p',
    type: port,
    default: 9001,
    fills: 'port',
    // The library and the tests let the OS pick; from the command line nobody could find that coordinator.
    apiAlsoAccepts: [0],
    description: 'UDP port the coordinator owns (exclusively)',
  }),
  setting({ key: 'host', type: text('ADDR'), default: '127.0.0.1', fills: 'host', description: 'IPv4 address it binds' }),
  setting({
    key: 'extraPorts',
    type: list(port),
    // OSC_CHATTY_CHANNELS_PORT in today's AIplayer builds: every message they send goes there.
    default: [8999],
    fills: 'extraPorts',
    description: 'more UDP ports it owns (exclusively) and serves as its own: today\'s AIplayer builds send to 8999 (`""` for none)',
  }),
  setting({
    key: 'pool',
    type: portRange,
    default: { low: 9000, high: 9999 },
    fills: { write: ({ low, high }) => ({ poolLow: low, poolHigh: high }), read: ({ poolLow, poolHigh }) => ({ low: poolLow, high: poolHigh }) },
    description: 'ports handed out',
  }),
  setting({
    key: 'reserve',
    type: list(port),
    // Old plugins still listen on 9000.
    default: [9000],
    fills: 'reserved',
    description: "pool ports never handed out (`\"\"` for none); the coordinator's own port is always left out",
  }),
  setting({ key: 'logLevel', type: oneOf(LOG_LEVELS, 'LEVEL'), default: 'info', fills: 'logLevel', description: LOG_LEVELS.join(', ') }),
  setting({
    key: 'logFile',
    type: optionalPath('PATH'),
    default: '',
    fills: 'logFile',
    description: 'also append JSON log lines to this file, reopened on SIGHUP so logrotate can move it (`""` for stdout only)',
  }),
  // A DAW loading a project runs every plugin's constructor on the message thread that also
  // handles OSC: answers can take seconds, so waits start at 1 s and double.
  setting({
    key: 'assignTimeout',
    type: ms(1),
    default: 1000,
    fills: 'assignTimeoutMs',
    description: `first wait for a confirmation before re-sending an assignment; doubles, up to ${ASSIGN_TIMEOUT_MAX_MS / 1000} s`,
  }),
  setting({ key: 'assignResends', type: count(0), default: 5, fills: 'assignResends', description: 're-sends before an unconfirmed offer lapses' }),
  setting({ key: 'probeTimeout', type: ms(1), default: 1000, fills: 'probeTimeoutMs', description: 'first wait for a probe answer; doubles' }),
  setting({ key: 'probeAttempts', type: count(1), default: 4, fills: 'probeAttempts', description: 'probes before a binding counts as failed' }),
  setting({ key: 'maxTries', type: count(1), default: 5, fills: 'maxTries', description: 'binding attempts per request, then `retries_exhausted`' }),
  setting({ key: 'quarantine', type: ms(0), default: 60_000, fills: 'quarantineMs', description: 'how long a port that failed a binding is kept out' }),
  setting({
    key: 'maxInstances',
    type: count(1),
    default: 4096,
    fills: 'maxInstances',
    description: 'instances tracked at once; past it the oldest instance never verified is evicted, else `busy`',
  }),
  setting({
    key: 'maxWaitingPerEndpoint',
    type: count(1),
    default: 512,
    fills: 'maxWaitingPerEndpoint',
    description: 'instances waiting at one response endpoint; more get `busy`',
  }),
  setting({
    key: 'dataDir',
    type: path('DIR'),
    computeDefault: (env) => defaultDataDir(env, process.platform, homedir()),
    documentedDefault: 'see below',
    fills: 'dataDir',
    // startCoordinator without a data directory keeps leases in memory.
    apiAlsoAccepts: [null],
    description: 'where leases persist',
  }),
  setting({
    key: 'sweepPorts',
    type: list(portSeries),
    default: [{ low: 50000, high: 59900, step: 100 }],
    fills: 'sweepPorts',
    description: 'response ports where deployed plugins wait, swept for instances whose request was never heard (`""` for none)',
  }),
  setting({
    key: 'sweepInterval',
    type: ms(0),
    default: 5000,
    fills: 'sweepIntervalMs',
    description: 'between sweeps of the response ports; 0 sweeps them at start only',
  }),
  setting({ key: 'livenessInterval', type: ms(1), default: 10_000, fills: 'livenessIntervalMs', description: 'silence after which a bound lease is probed' }),
  setting({
    key: 'reverifyInterval',
    type: ms(1),
    default: 60_000,
    fills: 'reverifyIntervalMs',
    description: 'longest time between probes of a bound lease, however chatty',
  }),
  setting({ key: 'livenessProbes', type: count(1), default: 3, fills: 'livenessProbes', description: 'unanswered probes before a lease expires' }),
  setting({
    key: 'controllersAllow',
    type: list(cidr),
    default: [],
    fills: 'controllersAllow',
    description: 'address ranges, beyond loopback, that may register as controllers and send to plugins (`""` for none)',
  }),
  setting({ key: 'maxControllers', type: count(1), default: 16, fills: 'maxControllers', description: 'controllers registered at once' }),
  setting({
    key: 'sendBudget',
    type: count(1),
    default: 20_000,
    fills: 'sendBudget',
    description: 'plugin datagrams one controller may cause a second (sends, and gathers\' probes); past it, `busy`',
  }),
  setting({ key: 'maxGathers', type: count(1), default: 4, fills: 'maxGathers', description: 'calibration gathers one controller may have waiting at once; past it, `busy`' }),
  setting({
    key: 'sendBudgetTotal',
    type: count(1),
    default: 50_000,
    fills: 'sendBudgetTotal',
    description: 'plugin datagrams all controllers together may cause a second; past it, `busy`',
  }),
  setting({ key: 'maxGathersTotal', type: count(1), default: 16, fills: 'maxGathersTotal', description: 'calibration gathers all controllers together may have waiting at once; past it, `busy`' }),
  setting({
    key: 'controllerTtl',
    type: ms(1000),
    default: 30_000,
    fills: 'controllerTtlMs',
    description: 'a controller that does not renew its subscription within this long is dropped',
  }),
  setting({
    key: 'controllers',
    type: list(record({ host: text('ADDR'), port })),
    configOnly: true,
    default: [],
    fills: 'controllers',
    description: 'controllers registered from the start, never to renew: `{ host, port }` (config file only)',
  }),
  setting({
    key: 'httpPort',
    type: portOrOff,
    // TCP, so no clash with the UDP ports; outside the pool so a reader of netstat never confuses the two.
    default: 8900,
    fills: 'httpPort',
    // The library and the tests let the OS pick.
    apiAlsoAccepts: [0],
    description: 'TCP port of the web view, OSCQuery and /metrics (`off` for no HTTP server)',
  }),
  setting({
    key: 'httpHost',
    type: text('ADDR'),
    default: '127.0.0.1',
    fills: 'httpHost',
    description: 'address the HTTP server binds; requests must name it, localhost or 127.0.0.1 as their Host',
  }),
  setting({ key: 'dnssd', type: onOff, default: true, fills: 'dnssd', description: 'advertise OSCQuery (`_oscjson._tcp`) and the OSC port (`_osc._udp`) over DNS-SD' }),
  section('atlas', [
    atlas.setting({
      key: 'meterPort',
      type: port,
      default: 3131,
      fills: 'meterPort',
      apiAlsoAccepts: [0],
      description: 'UDP port where every Atlas processor sends its meters (one socket for the host)',
    }),
    atlas.setting({ key: 'meterHost', type: text('ADDR'), default: '0.0.0.0', fills: 'meterHost', description: 'address the meter socket binds (the processors are on the LAN)' }),
    atlas.setting({
      key: 'meterRebind',
      type: ms(1),
      default: 10_000,
      fills: 'meterRebindMs',
      description: 'wait between attempts to bind a meter port another process holds',
    }),
    atlas.setting({ key: 'connectTimeout', type: ms(1), default: 5000, fills: 'connectTimeoutMs', description: 'wait for a TCP connection to a processor' }),
    atlas.setting({
      key: 'keepaliveMs',
      type: wholeNumber({ min: 1000, max: 240_000, argument: 'MS' }),
      default: 60_000,
      fills: 'keepaliveMs',
      description: "keep-alive to each processor, well inside the device's 5-minute idle limit",
    }),
    atlas.setting({
      key: 'keepaliveTimeout',
      type: ms(1),
      default: 5000,
      fills: 'keepaliveTimeoutMs',
      description: 'wait for the answer to a keep-alive before the link counts as dead and is reconnected',
    }),
    atlas.setting({ key: 'reconnect', type: ms(1), default: 1000, fills: 'reconnectMs', description: 'first wait before reconnecting to a processor; doubles' }),
    atlas.setting({ key: 'reconnectMax', type: ms(1), default: 60_000, fills: 'reconnectMaxMs', description: 'longest wait between reconnects' }),
    atlas.setting({
      key: 'linkStable',
      type: ms(1),
      default: 30_000,
      fills: 'linkStableMs',
      description: 'a link up this long has its failures forgotten: the reconnect wait starts over from `reconnect`',
    }),
    atlas.setting({
      key: 'maxUnansweredBytes',
      type: count(256),
      default: 65_536,
      fills: 'maxUnansweredBytes',
      description: 'bytes sent to a processor with no word back on TCP before it counts as not reading and its link is dropped',
    }),
    atlas.setting({
      key: 'processors',
      type: list(record({ id: text('ID'), host: text('ADDR'), tcpPort: port })),
      configOnly: true,
      default: [],
      fills: 'processors',
      description: 'Atlas processors to connect to: `{ id, host, tcpPort }` (config file only)',
    }),
    atlas.setting({
      key: 'meters',
      type: list(record({ processor: text('ID'), param: text('PARAM'), to: text('ID') })),
      configOnly: true,
      default: [],
      fills: 'meters',
      description: 'standing meter mappings: `{ processor, param, to }`, `to` a tempID or trackID (config file only)',
    }),
  ]),
];

export const DEFAULT_SETTINGS: Readonly<CoordinatorSettings> = Object.freeze({
  ...(fixedDefaults(COORDINATOR_SETTINGS) as Omit<CoordinatorSettings, 'receiveBufferBytes' | 'assignTimeoutMaxMs' | 'dataDir'>),
  // Not settings of `start`: tuned here, or given in code.
  receiveBufferBytes: 8 * 1024 * 1024,
  assignTimeoutMaxMs: ASSIGN_TIMEOUT_MAX_MS,
  dataDir: null,
  // A coordinator built in code serves HTTP only when asked to (`oscport start` does, on 8900): a library
  // user or a test never finds a TCP port taken behind its back.
  httpPort: 'off',
});

/** Checks settings given in code: each field as its row allows, then what no single field can (the pool must leave ports to offer). */
export function validateSettings(settings: CoordinatorSettings): CoordinatorSettings {
  checkSettings(COORDINATOR_SETTINGS, settings);
  for (const [key, value] of Object.entries(settings)) {
    if (typeof value === 'number' && (!Number.isFinite(value) || value < 0)) {
      throw new SettingsError(key, `${value} must be a number of 0 or more`);
    }
  }
  checkAtlas(settings.atlas);
  checkPorts(settings);
  for (const [n, { host }] of settings.controllers.entries()) {
    if (!isIPv4(host)) throw new SettingsError(`controllers[${n}].host`, `"${host}" is not an IPv4 address`);
  }
  if (settings.controllers.length > settings.maxControllers) {
    throw new SettingsError('controllers', `${settings.controllers.length} standing controllers, more than maxControllers (${settings.maxControllers})`);
  }
  const reserved = new Set(settings.reserved);
  reserved.add(settings.port);
  let usable = 0;
  for (let candidate = settings.poolLow; candidate <= settings.poolHigh; candidate++) if (!reserved.has(candidate)) usable++;
  if (usable === 0) throw new SettingsError('pool', 'no port left to offer after the reserved ones');
  return settings;
}

/**
 * Ports the coordinator owns or sweeps are never the pool's: it would hand out a port it holds, or a
 * sweep could send an assignment where a bound lease lives (the deployed plugin obeys any). [PROTOCOL §16]
 */
function checkPorts({ extraPorts, sweepPorts, poolLow, poolHigh }: CoordinatorSettings): void {
  const inPool = (port: number) => port >= poolLow && port <= poolHigh;
  for (const [n, extra] of extraPorts.entries()) {
    if (inPool(extra)) throw new SettingsError(`extraPorts[${n}]`, `${extra} is inside the pool ${poolLow}-${poolHigh}`);
  }
  for (const [n, series] of sweepPorts.entries()) {
    const overlap = portsOf(series).find(inPool);
    if (overlap !== undefined) throw new SettingsError(`sweepPorts[${n}]`, `${overlap} is inside the pool ${poolLow}-${poolHigh}: only response ports are swept`);
  }
}

/** What no single Atlas row can check: ids and hosts unique, addresses IPv4, mappings naming a processor. */
function checkAtlas({ processors, meters }: AtlasSettings): void {
  const ids = new Set<string>();
  const hosts = new Set<string>();
  for (const [n, { id, host }] of processors.entries()) {
    if (ids.has(id)) throw new SettingsError(`atlas.processors[${n}].id`, `"${id}" is the id of an earlier processor`);
    if (!isIPv4(host)) throw new SettingsError(`atlas.processors[${n}].host`, `"${host}" is not an IPv4 address (meters are told apart by it)`);
    if (hosts.has(host)) throw new SettingsError(`atlas.processors[${n}].host`, `${host} is the host of an earlier processor`);
    ids.add(id);
    hosts.add(host);
  }
  for (const [n, { processor }] of meters.entries()) {
    if (!ids.has(processor)) throw new SettingsError(`atlas.meters[${n}].processor`, `no processor "${processor}" in atlas.processors`);
  }
}
