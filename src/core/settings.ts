import type { AssignmentSettings } from '../../machines/port-assignment.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface CoordinatorSettings extends AssignmentSettings {
  host: string;
  port: number;
  poolLow: number;
  poolHigh: number;
  /** Ports of the pool range never offered, besides the coordinator's own port. */
  reserved: number[];
  /** How long a port that failed a binding stays out of circulation. */
  quarantineMs: number;
  /** SO_RCVBUF asked for: a 1000-instance burst must not overflow the socket. */
  receiveBufferBytes: number;
  /** Instances known at once (pending and bound); more get `pool_exhausted`. */
  maxInstances: number;
  logLevel: LogLevel;
  /** A bound lease silent this long is probed. */
  livenessIntervalMs: number;
  /** A bound lease is probed at least this often, however chatty: a stolen port still sends. */
  reverifyIntervalMs: number;
  /** Where leases persist; null keeps them in memory only. */
  dataDir: string | null;
}

export const DEFAULT_SETTINGS: Readonly<CoordinatorSettings> = Object.freeze({
  host: '127.0.0.1',
  port: 9001,
  poolLow: 9000,
  poolHigh: 9999,
  // Old plugins still listen on 9000. The coordinator's own port is always left out.
  reserved: [9000],
  quarantineMs: 60_000,
  receiveBufferBytes: 8 * 1024 * 1024,
  maxInstances: 4096,
  logLevel: 'info',
  // A DAW loading a project runs every plugin's constructor on the message thread that also
  // handles OSC: answers can take seconds, so waits start at 1 s and double.
  assignTimeoutMs: 1000,
  assignTimeoutMaxMs: 16_000,
  assignResends: 5,
  probeTimeoutMs: 1000,
  probeAttempts: 4,
  maxTries: 5,
  livenessIntervalMs: 10_000,
  reverifyIntervalMs: 60_000,
  livenessProbes: 3,
  dataDir: null,
});

export class SettingsError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`${key}: ${message}`);
    this.name = 'SettingsError';
  }
}

export function parseInteger(key: string, text: string, min: number, max: number): number {
  const trimmed = text.trim();
  if (!/^-?\d+$/.test(trimmed)) throw new SettingsError(key, `"${text}" is not a whole number`);
  const value = Number(trimmed);
  if (value < min || value > max) throw new SettingsError(key, `${value} is outside ${min}-${max}`);
  return value;
}

export function parsePort(key: string, text: string): number {
  return parseInteger(key, text, 1, 65535);
}

/** "127.0.0.1:9001" */
export function parseHostPort(key: string, text: string): { host: string; port: number } {
  const match = /^(.+):(\d+)$/.exec(text.trim());
  if (!match) throw new SettingsError(key, `"${text}" is not HOST:PORT`);
  return { host: match[1]!, port: parsePort(key, match[2]!) };
}

/** "9000-9999" */
export function parseRange(key: string, text: string): { low: number; high: number } {
  const match = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(text);
  if (!match) throw new SettingsError(key, `"${text}" is not a range LOW-HIGH`);
  const low = parsePort(key, match[1]!);
  const high = parsePort(key, match[2]!);
  if (low > high) throw new SettingsError(key, `${low} is above ${high}`);
  return { low, high };
}

/** "9000,9001" or "" for none */
export function parsePortList(key: string, text: string): number[] {
  if (text.trim() === '') return [];
  return text.split(',').map((part) => parsePort(key, part));
}

export function parseLogLevel(key: string, text: string): LogLevel {
  const level = text.trim().toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new SettingsError(key, `"${text}" is not one of ${LOG_LEVELS.join(', ')}`);
  }
  return level as LogLevel;
}

/** Checks what no single field can: the pool must leave ports to offer. */
export function validateSettings(settings: CoordinatorSettings): CoordinatorSettings {
  if (settings.poolLow > settings.poolHigh) throw new SettingsError('pool', `${settings.poolLow} is above ${settings.poolHigh}`);
  const reserved = new Set(settings.reserved);
  reserved.add(settings.port);
  let usable = 0;
  for (let port = settings.poolLow; port <= settings.poolHigh; port++) if (!reserved.has(port)) usable++;
  if (usable === 0) throw new SettingsError('pool', 'no port left to offer after the reserved ones');
  for (const [key, value] of Object.entries(settings)) {
    if (typeof value === 'number' && (!Number.isFinite(value) || value < 0)) {
      throw new SettingsError(key, `${value} must be a number of 0 or more`);
    }
  }
  if (settings.maxTries < 1) throw new SettingsError('maxTries', 'must be at least 1');
  if (settings.probeAttempts < 1) throw new SettingsError('probeAttempts', 'must be at least 1');
  if (settings.livenessProbes < 1) throw new SettingsError('livenessProbes', 'must be at least 1');
  if (settings.livenessIntervalMs < 1) throw new SettingsError('livenessIntervalMs', 'must be at least 1');
  if (settings.reverifyIntervalMs < 1) throw new SettingsError('reverifyIntervalMs', 'must be at least 1');
  return settings;
}
