import type { Clock } from './clock.js';
import type { Logger } from './log.js';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/** Logs a line of one kind at most once per interval; what it keeps quiet is counted and told once the interval ends. */
export interface RateLimitedLog {
  (kind: string, level: LogLevel, details: Record<string, unknown>, message: string): void;
  /** Tells the counts still held back, and stops the timer. */
  close(): void;
}

interface Kind {
  loggedAt: number;
  suppressed: number;
  level: LogLevel;
  message: string;
}

/**
 * Every log line a remote datagram can cause goes through here, so a flood of
 * garbage, requests or confirmations becomes at most one line per kind per
 * interval, plus one line with the count of those kept quiet. [PROTOCOL, Robustness]
 */
export function createRateLimitedLog(logger: Logger, intervalMs: number, clock: Clock): RateLimitedLog {
  const kinds = new Map<string, Kind>();
  let flushTimer: unknown;

  const tellSuppressed = (kind: string, entry: Kind) => {
    if (entry.suppressed === 0) return;
    logger[entry.level]({ kind, suppressed: entry.suppressed }, `${entry.message} (${entry.suppressed} more kept quiet)`);
    entry.suppressed = 0;
  };

  const flush = () => {
    flushTimer = undefined;
    const now = clock.now();
    let pending = false;
    for (const [kind, entry] of kinds) {
      if (now - entry.loggedAt >= intervalMs) {
        tellSuppressed(kind, entry);
        kinds.delete(kind);
      } else pending = true;
    }
    if (pending) flushTimer = clock.setTimeout(flush, intervalMs);
  };

  const log = ((kind, level, details, message) => {
    const now = clock.now();
    const entry = kinds.get(kind);
    if (entry && now - entry.loggedAt < intervalMs) {
      entry.suppressed++;
      flushTimer ??= clock.setTimeout(flush, intervalMs - (now - entry.loggedAt));
      return;
    }
    if (entry) tellSuppressed(kind, entry);
    kinds.set(kind, { loggedAt: now, suppressed: 0, level, message });
    logger[level](details, message);
  }) as RateLimitedLog;

  log.close = () => {
    if (flushTimer !== undefined) clock.clearTimeout(flushTimer);
    flushTimer = undefined;
    for (const [kind, entry] of kinds) tellSuppressed(kind, entry);
    kinds.clear();
  };
  return log;
}
