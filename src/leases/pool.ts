export type PortState = 'free' | 'taken' | 'quarantined' | 'reserved' | 'outside';

export interface PoolOptions {
  low: number;
  high: number;
  reserved: readonly number[];
  quarantineMs: number;
  now: () => number;
}

const FREE = 0;
const TAKEN = 1;
const QUARANTINED = 2;
const RESERVED = 3;
const NONE = -1;

/**
 * The port pool. Free ports sit in a doubly linked FIFO threaded through typed
 * arrays, so taking the oldest, taking a named port and giving one back are all
 * O(1) whatever the fill, with no allocation. FIFO means the port released
 * longest ago is reused first. Quarantine is a FIFO too: every port gets the
 * same duration, so the queue is ordered by expiry and can be drained lazily.
 */
export class PortPool {
  readonly low: number;
  readonly high: number;
  readonly size: number;
  private readonly state: Uint8Array;
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly quarantinedUntil: Float64Array;
  private head = NONE;
  private tail = NONE;
  private freeCount = 0;
  /** Pairs of (port index, deadline), oldest first. */
  private quarantineQueue: number[] = [];
  private quarantineHead = 0;
  private quarantineCount = 0;
  private readonly quarantineMs: number;
  private readonly now: () => number;

  constructor(options: PoolOptions) {
    const { low, high } = options;
    if (!Number.isInteger(low) || !Number.isInteger(high) || low < 1 || high > 65535 || low > high) {
      throw new RangeError(`invalid pool ${low}-${high}`);
    }
    this.low = low;
    this.high = high;
    this.quarantineMs = options.quarantineMs;
    this.now = options.now;
    const span = high - low + 1;
    this.state = new Uint8Array(span);
    this.next = new Int32Array(span).fill(NONE);
    this.prev = new Int32Array(span).fill(NONE);
    this.quarantinedUntil = new Float64Array(span);
    for (const port of options.reserved) if (port >= low && port <= high) this.state[port - low] = RESERVED;
    for (let i = 0; i < span; i++) if (this.state[i] === FREE) this.append(i);
    this.size = this.freeCount;
  }

  get free(): number {
    this.expireQuarantine();
    return this.freeCount;
  }

  get quarantined(): number {
    this.expireQuarantine();
    return this.quarantineCount;
  }

  stateOf(port: number): PortState {
    if (!Number.isInteger(port) || port < this.low || port > this.high) return 'outside';
    this.expireQuarantine();
    switch (this.state[port - this.low]) {
      case FREE:
        return 'free';
      case TAKEN:
        return 'taken';
      case QUARANTINED:
        return 'quarantined';
      default:
        return 'reserved';
    }
  }

  /** The port `take()` would hand out next, without taking it; null when none is free. */
  peek(): number | null {
    this.expireQuarantine();
    return this.head === NONE ? null : this.head + this.low;
  }

  /** The next `limit` free ports in the order they would be handed out. */
  peekFree(limit: number): number[] {
    this.expireQuarantine();
    const ports: number[] = [];
    for (let index = this.head; index !== NONE && ports.length < limit; index = this.next[index]!) ports.push(index + this.low);
    return ports;
  }

  /** Takes `preferred` if it is free, else the port released longest ago; null when none is free. */
  take(preferred?: number): number | null {
    this.expireQuarantine();
    if (preferred !== undefined && this.stateOf(preferred) === 'free') {
      this.unlink(preferred - this.low);
      return preferred;
    }
    if (this.head === NONE) return null;
    const index = this.head;
    this.unlink(index);
    return index + this.low;
  }

  /** Takes a port that is free or quarantined (a plugin proved it is on it). */
  claim(port: number): boolean {
    const state = this.stateOf(port);
    if (state === 'free') {
      this.unlink(port - this.low);
      return true;
    }
    if (state === 'quarantined') {
      this.state[port - this.low] = TAKEN;
      this.quarantineCount--;
      return true;
    }
    return false;
  }

  release(port: number): void {
    const index = port - this.low;
    const state = this.stateOf(port);
    if (state === 'taken') this.append(index);
    else if (state === 'quarantined') {
      this.quarantineCount--;
      this.append(index);
    }
  }

  /** A free port goes to the back of the queue, as if just released: others are offered first. */
  moveToBack(port: number): void {
    if (this.stateOf(port) !== 'free') return;
    const index = port - this.low;
    this.unlink(index);
    this.append(index);
  }

  /** Keeps a taken or free port out of circulation for `quarantineMs`. */
  quarantine(port: number): void {
    const index = port - this.low;
    const state = this.stateOf(port);
    if (state === 'free') this.unlink(index);
    else if (state !== 'taken') return;
    this.state[index] = QUARANTINED;
    this.quarantineCount++;
    const until = this.now() + this.quarantineMs;
    this.quarantinedUntil[index] = until;
    this.quarantineQueue.push(index, until);
  }

  private expireQuarantine(): void {
    const queue = this.quarantineQueue;
    if (this.quarantineHead === queue.length) return;
    const now = this.now();
    while (this.quarantineHead < queue.length) {
      const index = queue[this.quarantineHead]!;
      const until = queue[this.quarantineHead + 1]!;
      // An entry is stale once its port was claimed, released, or quarantined again since.
      const live = this.state[index] === QUARANTINED && this.quarantinedUntil[index] === until;
      if (live && until > now) break;
      this.quarantineHead += 2;
      if (live) {
        this.quarantineCount--;
        this.append(index);
      }
    }
    if (this.quarantineHead > 2048 && this.quarantineHead * 2 > queue.length) {
      this.quarantineQueue = queue.slice(this.quarantineHead);
      this.quarantineHead = 0;
    }
  }

  private append(index: number): void {
    this.state[index] = FREE;
    this.prev[index] = this.tail;
    this.next[index] = NONE;
    if (this.tail === NONE) this.head = index;
    else this.next[this.tail] = index;
    this.tail = index;
    this.freeCount++;
  }

  private unlink(index: number): void {
    const before = this.prev[index]!;
    const after = this.next[index]!;
    if (before === NONE) this.head = after;
    else this.next[before] = after;
    if (after === NONE) this.tail = before;
    else this.prev[after] = before;
    this.prev[index] = NONE;
    this.next[index] = NONE;
    this.state[index] = TAKEN;
    this.freeCount--;
  }
}
