/** A span (CLOCK_MONOTONIC ms) during which the sentinel (bench/programs/sentinel.ts) did not run: the machine paused. */
export interface Pause {
  start: number;
  end: number;
}

/**
 * What a pause disturbs: traffic sent during it, and after it for three times its length (at
 * least 50 ms) while the relay works off the queue it left. The same spans are taken out for
 * every relay, so what stays is what the relays themselves add.
 */
export function disturbedSpans(pauses: readonly Pause[]): Pause[] {
  return pauses.map(({ start, end }) => ({ start: start - 1, end: end + Math.max(50, 3 * (end - start)) }));
}

/** True when `t` falls in one of `spans` (sorted by start). */
export function within(t: number, spans: readonly Pause[]): boolean {
  for (const span of spans) {
    if (t < span.start) return false;
    if (t <= span.end) return true;
  }
  return false;
}
