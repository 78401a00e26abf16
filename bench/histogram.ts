/**
 * Latency histograms that merge across rounds and processes: 1 µs buckets up to 20 ms, then
 * 1 ms buckets up to 5 s, the last bucket holding everything slower. Percentiles read the upper
 * edge of the bucket they fall in.
 */
const FINE_MS = 20;
const FINE_PER_MS = 1000;
const COARSE_UNTIL_MS = 5000;
const FINE = FINE_MS * FINE_PER_MS;
export const HISTOGRAM_BUCKETS = FINE + (COARSE_UNTIL_MS - FINE_MS);

export function bucketOf(ms: number): number {
  if (ms < FINE_MS) return Math.max(0, Math.floor(ms * FINE_PER_MS));
  return Math.min(HISTOGRAM_BUCKETS - 1, FINE + Math.floor(ms - FINE_MS));
}

const upperEdge = (bucket: number) => (bucket < FINE ? (bucket + 1) / FINE_PER_MS : FINE_MS + (bucket - FINE + 1));

export interface Percentiles {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** `max` is the exact maximum, kept beside the histogram. */
export function percentiles(histogram: ArrayLike<number>, max: number): Percentiles {
  let count = 0;
  for (let b = 0; b < histogram.length; b++) count += histogram[b]!;
  const at = (q: number) => {
    const rank = Math.ceil(q * count);
    let seen = 0;
    for (let b = 0; b < histogram.length; b++) {
      seen += histogram[b]!;
      if (seen >= rank) return Math.min(upperEdge(b), max);
    }
    return NaN;
  };
  return { count, p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: count === 0 ? NaN : max };
}

export function mergeHistograms(histograms: ReadonlyArray<ArrayLike<number>>): number[] {
  const merged = new Array<number>(HISTOGRAM_BUCKETS).fill(0);
  for (const histogram of histograms) for (let b = 0; b < HISTOGRAM_BUCKETS; b++) merged[b] = merged[b]! + (histogram[b] ?? 0);
  return merged;
}
