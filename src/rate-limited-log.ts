import type { Logger } from './log.js';

/**
 * Logs a recurring problem at most once per interval, with the count of the
 * ones it kept quiet: a flood of garbage must not become a flood of log lines.
 */
export function createRateLimitedWarn(logger: Logger, intervalMs: number, now: () => number) {
  const lastLogged = new Map<string, number>();
  const suppressed = new Map<string, number>();
  return (key: string, details: Record<string, unknown>, message: string): void => {
    const at = now();
    const last = lastLogged.get(key);
    if (last !== undefined && at - last < intervalMs) {
      suppressed.set(key, (suppressed.get(key) ?? 0) + 1);
      return;
    }
    lastLogged.set(key, at);
    const quiet = suppressed.get(key) ?? 0;
    suppressed.delete(key);
    logger.warn(quiet > 0 ? { ...details, suppressed: quiet } : details, message);
  };
}
