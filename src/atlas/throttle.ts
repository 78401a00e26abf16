import type { Logger } from '../log.js';

/**
 * Logs a recurring problem at most once per interval per key, with the count it kept quiet: a device (or a
 * stranger) sending garbage must not turn into a flood of log lines.
 */
export function createThrottledWarn(logger: Logger, intervalMs: number, now: () => number) {
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

export type ThrottledWarn = ReturnType<typeof createThrottledWarn>;
