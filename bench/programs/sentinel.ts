import { Worker, isMainThread, workerData } from 'node:worker_threads';
import { monotonicMs } from '../procnet.js';
import type { Pause } from '../pauses.js';

/**
 * The machine's own pauses, for the relay benchmarks: a process that does nothing but wake every
 * half millisecond (a thread blocked in Atomics.wait, so no event loop of its own delays it) and
 * records every wake-up that came more than PAUSE_MS late. On a virtual machine the whole guest
 * stops now and then (tens of milliseconds, every few seconds, on the project's 2-core VM), and
 * every process on it with it: a relay cannot be faster than that, and the benchmark says which
 * of its traffic was sent during such a pause.
 *
 * IPC: `{ type: 'pauses', from, to }` (CLOCK_MONOTONIC ms, bench/procnet.ts monotonicMs) is
 * answered by `{ type: 'pauses', pauses }`, every pause that overlaps the span.
 */
const PAUSE_MS = 5;
const TICK_MS = 0.5;
/** Pauses kept: [start, end] pairs, a ring. */
const CAPACITY = 4096;

interface Shared {
  pauses: SharedArrayBuffer;
  count: SharedArrayBuffer;
}

function watch({ pauses, count }: Shared): void {
  const now = monotonicMs();
  const spans = new Float64Array(pauses);
  const recorded = new Int32Array(count);
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  let last = now();
  for (;;) {
    Atomics.wait(sleeper, 0, 0, TICK_MS);
    const t = now();
    if (t - last > PAUSE_MS) {
      const slot = Atomics.load(recorded, 0) % CAPACITY;
      spans[2 * slot] = last;
      spans[2 * slot + 1] = t;
      Atomics.add(recorded, 0, 1);
    }
    last = t;
  }
}

if (isMainThread) {
  const shared: Shared = { pauses: new SharedArrayBuffer(16 * CAPACITY), count: new SharedArrayBuffer(4) };
  const spans = new Float64Array(shared.pauses);
  const recorded = new Int32Array(shared.count);
  const worker = new Worker(new URL(import.meta.url), { workerData: shared });
  worker.unref();
  process.on('message', (message: { type?: string; from?: number; to?: number }) => {
    if (message?.type !== 'pauses') return;
    const n = Math.min(Atomics.load(recorded, 0), CAPACITY);
    const found: Pause[] = [];
    for (let slot = 0; slot < n; slot++) {
      const start = spans[2 * slot]!;
      const end = spans[2 * slot + 1]!;
      if (end >= message.from! && start <= message.to!) found.push({ start, end });
    }
    process.send!({ type: 'pauses', pauses: found.sort((a, b) => a.start - b.start) });
  });
  process.on('disconnect', () => process.exit(0));
  process.send?.({ type: 'ready' });
} else {
  watch(workerData as Shared);
}
