import type { Clock } from './clock.js';

interface Entry<K> {
  at: number;
  key: K;
}

/**
 * One absolute deadline per key, all driven by a single clock timer armed for
 * the earliest: thousands of leases cost one JS timer, not thousands. Entries
 * live in a binary min-heap; replacing or cancelling a key leaves its old entry
 * behind, recognised as stale when it surfaces.
 */
export class Deadlines<K> {
  private heap: Array<Entry<K>> = [];
  /** Each key's live entry; the same object sits in the heap, recognised as stale once replaced here. */
  private readonly current = new Map<K, Entry<K>>();
  private timer: unknown;
  private armedFor = Infinity;

  constructor(
    private readonly clock: Clock,
    private readonly onDue: (key: K) => void,
  ) {}

  /** Sets `key`'s deadline to `at` (clock time), replacing any earlier one. */
  set(key: K, at: number): void {
    const entry = { at, key };
    this.current.set(key, entry);
    this.push(entry);
    if (this.heap.length > 64 && this.heap.length > 4 * this.current.size) this.rebuild();
    if (at < this.armedFor) this.arm(at);
  }

  cancel(key: K): void {
    this.current.delete(key);
  }

  get size(): number {
    return this.current.size;
  }

  stop(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Infinity;
    this.heap = [];
    this.current.clear();
  }

  private arm(at: number): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.armedFor = at;
    this.timer = this.clock.setTimeout(() => this.fire(), Math.max(0, at - this.clock.now()));
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = Infinity;
    const now = this.clock.now();
    const due: K[] = [];
    while (this.heap.length > 0 && this.heap[0]!.at <= now) {
      const entry = this.pop();
      if (this.current.get(entry.key) !== entry) continue;
      this.current.delete(entry.key);
      due.push(entry.key);
    }
    this.dropStaleTop();
    // Callbacks may set new deadlines; arm for what is left first, so they compare against it.
    if (this.heap.length > 0) this.arm(this.heap[0]!.at);
    for (const key of due) this.onDue(key);
  }

  /** Stale entries outnumber live ones: start the heap again from the live deadlines. */
  private rebuild(): void {
    this.heap = [];
    for (const entry of this.current.values()) this.push(entry);
  }

  private dropStaleTop(): void {
    while (this.heap.length > 0) {
      const top = this.heap[0]!;
      if (this.current.get(top.key) === top) return;
      this.pop();
    }
  }

  private push(entry: Entry<K>): void {
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= entry.at) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = entry;
  }

  private pop(): Entry<K> {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= heap.length) break;
        const right = left + 1;
        const child = right < heap.length && heap[right]!.at < heap[left]!.at ? right : left;
        if (heap[child]!.at >= last.at) break;
        heap[i] = heap[child]!;
        i = child;
      }
      heap[i] = last;
    }
    return top;
  }
}
