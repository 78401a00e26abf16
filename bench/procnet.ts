import { readFileSync } from 'node:fs';

/**
 * Receive drops of single UDP sockets, by local port: the last column of /proc/net/udp (Linux),
 * the datagrams the kernel threw away because that socket's receive buffer was full. One entry per
 * port asked for: null where unavailable (not Linux, or no socket on that port).
 */
export function udpSocketDrops(ports: readonly number[]): Array<number | null> {
  let text: string;
  try {
    text = readFileSync('/proc/net/udp', 'utf8');
  } catch {
    return ports.map(() => null);
  }
  const byPort = new Map<number, number>();
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 13) continue;
    const port = parseInt(fields[1]!.split(':')[1]!, 16);
    byPort.set(port, (byPort.get(port) ?? 0) + Number(fields[fields.length - 1]));
  }
  return ports.map((port) => byPort.get(port) ?? null);
}

/** Nanosecond-grained monotonic milliseconds, the same clock in every thread and process (CLOCK_MONOTONIC). */
export function monotonicMs(): () => number {
  // performance.now() runs on the same clock from a per-thread origin: measure that origin once.
  // The sample read in the narrowest window is the most exact.
  let fixed = 0;
  let window = Infinity;
  for (let n = 0; n < 20; n++) {
    const before = performance.now();
    const mono = Number(process.hrtime.bigint()) / 1e6;
    const after = performance.now();
    if (after - before < window) {
      window = after - before;
      fixed = mono - (before + after) / 2;
    }
  }
  return () => performance.now() + fixed;
}

/**
 * Linux pressure stall information: microseconds, since boot, during which some runnable task
 * waited for a CPU (/proc/pressure/cpu, "some" total); null where unavailable. Its growth over a
 * span, divided by the span, is how contended the machine was.
 */
export function cpuPressureUs(): number | null {
  try {
    const match = /^some .*total=(\d+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}
