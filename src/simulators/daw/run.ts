import { performance } from 'node:perf_hooks';
import { DeployedPlugin } from './deployed-plugin.js';

export interface SimulationOptions {
  plugins: number;
  coordinator: { host: string; port: number };
  /** Share of instances with the JUCE SO_REUSEADDR bug, 0..1. */
  juceBugRate: number;
  /** Default 50000, like the deployed plugin. */
  responsePort?: number;
  /** Default 50, like the deployed plugin. */
  bindDelayMs?: number;
  /** Default: 10 s plus 150 ms per buggy instance; Infinity waits until every instance is done or `signal` stops it. */
  timeoutMs?: number;
  onProgress?: (verified: number, failed: number, total: number) => void;
  /** Every request has left (none may arrive later, whoever starts listening after). */
  onAsked?: () => void;
  /** Keeps the plugins running (answering probes, holding their ports) until the promise it returns settles. */
  hold?: (summary: SimulationSummary) => Promise<void>;
  /** Stops waiting (Ctrl-C): the summary then tells what was bound so far. */
  signal?: AbortSignal;
}

export interface SimulationSummary {
  plugins: number;
  buggy: number;
  bound: number;
  failed: number;
  distinctPorts: boolean;
  timeToAllBoundMs: number | null;
  handshakeP50Ms: number | null;
  handshakeP99Ms: number | null;
  elapsedMs: number;
}

const DEFAULT_RESPONSE_PORT = 50000;
const DEFAULT_BIND_DELAY_MS = 50;
const BASE_TIMEOUT_MS = 10_000;
// Instances on one shared response port can only be served one after another.
const TIMEOUT_PER_BUGGY_MS = 150;

/** Evenly spread and deterministic: instance i is buggy when floor(i * rate) steps up at i + 1. */
function hasJuceBug(index: number, rate: number): boolean {
  return Math.floor((index + 1) * rate) > Math.floor(index * rate);
}

/**
 * Loads a project: starts every emulated plugin, then sends all their requests at once and waits until each
 * one is verified, has no way left to get a port, or the time is up. On the way out (after `hold`, too) every
 * instance that asked releases its lease, and every socket is closed.
 */
export async function runSimulation(options: SimulationOptions): Promise<SimulationSummary> {
  const { plugins: total, juceBugRate } = options;
  if (!Number.isInteger(total) || total < 0) throw new RangeError(`plugins must be a whole number >= 0, got ${total}`);
  if (!(juceBugRate >= 0 && juceBugRate <= 1)) throw new RangeError(`juceBugRate must be within 0..1, got ${juceBugRate}`);

  const startedAt = performance.now();
  const plugins = Array.from(
    { length: total },
    (_, i) =>
      new DeployedPlugin({
        tempId: `sim-${process.pid}-${i}`,
        coordinator: options.coordinator,
        responsePort: options.responsePort ?? DEFAULT_RESPONSE_PORT,
        juceBug: hasJuceBug(i, juceBugRate),
        bindDelayMs: options.bindDelayMs ?? DEFAULT_BIND_DELAY_MS,
      }),
  );
  const buggy = plugins.filter((_, i) => hasJuceBug(i, juceBugRate)).length;
  try {
    // One after another, as a DAW instantiates tracks: with the bug, the last one bound owns the shared port.
    for (const plugin of plugins) await plugin.start();
    await settle(plugins, options.timeoutMs ?? BASE_TIMEOUT_MS + TIMEOUT_PER_BUGGY_MS * buggy, options);
    const summary = summarize(plugins, buggy, performance.now() - startedAt);
    await options.hold?.(summary);
    return summary;
  } finally {
    // Like plugins that exit cleanly, every instance that asked gives its port back: no lease outlives the run.
    await Promise.all(
      plugins.map(async (plugin) => {
        if (plugin.requestSentAt !== undefined) await plugin.release();
        await plugin.close();
      }),
    );
  }
}

function settle(
  plugins: readonly DeployedPlugin[],
  timeoutMs: number,
  { onProgress, onAsked, signal }: Pick<SimulationOptions, 'onProgress' | 'onAsked' | 'signal'>,
): Promise<void> {
  const total = plugins.length;
  let verified = 0;
  let stranded = 0;
  const failed = new Set<DeployedPlugin>();
  return new Promise((resolve) => {
    const detachers: Array<() => void> = [];
    const timer = Number.isFinite(timeoutMs) ? setTimeout(finish, timeoutMs) : undefined;
    function finish() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', finish);
      for (const detach of detachers) detach();
      resolve();
    }
    signal?.addEventListener('abort', finish, { once: true });
    function changed() {
      onProgress?.(verified, failed.size, total);
      // A failed bind leaves the deployed plugin with no receiver: nothing more can reach it.
      if (verified + stranded === total) finish();
    }
    for (const plugin of plugins) {
      const onVerified = () => {
        verified++;
        failed.delete(plugin);
        changed();
      };
      const onErrorStatus = () => {
        if (plugin.verified) return;
        failed.add(plugin);
        changed();
      };
      const onBindFailed = () => {
        stranded++;
        failed.add(plugin);
        changed();
      };
      plugin.on('verified', onVerified).on('error-status', onErrorStatus).on('bind-failed', onBindFailed);
      detachers.push(() =>
        plugin.off('verified', onVerified).off('error-status', onErrorStatus).off('bind-failed', onBindFailed),
      );
    }
    if (total === 0 || signal?.aborted) finish();
    void Promise.all(plugins.map((plugin) => plugin.sendRequest())).then(onAsked);
  });
}

function summarize(plugins: readonly DeployedPlugin[], buggy: number, elapsedMs: number): SimulationSummary {
  const verified = plugins.filter((plugin) => plugin.verified);
  const latencies = verified
    .map((plugin) => (plugin.verifiedAt ?? 0) - (plugin.requestSentAt ?? 0))
    .sort((a, b) => a - b);
  const firstRequestAt = Math.min(...plugins.map((plugin) => plugin.requestSentAt ?? Infinity));
  const lastVerifiedAt = Math.max(...verified.map((plugin) => plugin.verifiedAt ?? -Infinity));
  const allBound = plugins.length > 0 && verified.length === plugins.length;
  return {
    plugins: plugins.length,
    buggy,
    bound: verified.length,
    failed: plugins.length - verified.length,
    distinctPorts: new Set(verified.map((plugin) => plugin.port)).size === verified.length,
    timeToAllBoundMs: allBound ? lastVerifiedAt - firstRequestAt : null,
    handshakeP50Ms: percentile(latencies, 50),
    handshakeP99Ms: percentile(latencies, 99),
    elapsedMs,
  };
}

export function formatSummary(summary: SimulationSummary): string {
  const ms = (value: number | null) => (value === null ? 'n/a' : `${value.toFixed(1)} ms`);
  const rows: Array<[string, string]> = [
    ['plugins', `${summary.plugins} (${summary.buggy} with the JUCE reuse bug)`],
    ['bound', `${summary.bound}`],
    ['failed', `${summary.failed}`],
    ['distinct ports', summary.distinctPorts ? 'yes' : 'NO: verified instances share a port'],
    ['time to all bound', ms(summary.timeToAllBoundMs)],
    ['handshake p50', ms(summary.handshakeP50Ms)],
    ['handshake p99', ms(summary.handshakeP99Ms)],
    ['elapsed', ms(summary.elapsedMs)],
  ];
  const width = Math.max(...rows.map(([label]) => label.length)) + 2;
  return rows.map(([label, value]) => `${label.padEnd(width)}${value}`).join('\n');
}

/** Nearest-rank percentile of values sorted ascending; null when there are none. */
export function percentile(sortedValues: readonly number[], p: number): number | null {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within 0..100, got ${p}`);
  if (sortedValues.length === 0) return null;
  // p * n before dividing keeps whole-number percentiles exact (0.57 * 100 is not 57 in floating point).
  const rank = Math.max(1, Math.ceil((p * sortedValues.length) / 100));
  return sortedValues[rank - 1]!;
}
