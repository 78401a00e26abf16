import type { Clock } from './lease.js';
import { Deadlines } from '../deadlines.js';

export interface LivenessSettings {
  livenessIntervalMs: number;
  reverifyIntervalMs: number;
}

interface Timing {
  lastSeen: number;
  lastVerified: number;
}

/**
 * When each bound lease is next due for a probe [PROTOCOL §9]: after
 * `livenessIntervalMs` of silence, and at least every `reverifyIntervalMs`
 * however chatty it is (a plugin whose port was stolen keeps sending). Traffic
 * only moves `lastSeen`; the deadline is checked again when it comes due, so a
 * message costs one assignment, not a heap operation.
 */
export class Liveness {
  private readonly timings = new Map<string, Timing>();
  private readonly deadlines: Deadlines<string>;

  constructor(
    private readonly clock: Clock,
    private readonly settings: LivenessSettings,
    onDue: (tempId: string) => void,
  ) {
    this.deadlines = new Deadlines(clock, onDue);
  }

  /** The lease was just proved: count both intervals from now. */
  verified(tempId: string): void {
    const now = this.clock.now();
    const timing = this.timings.get(tempId);
    if (timing) {
      timing.lastVerified = now;
      timing.lastSeen = now;
    } else {
      this.timings.set(tempId, { lastSeen: now, lastVerified: now });
    }
  }

  seen(tempId: string): void {
    const timing = this.timings.get(tempId);
    if (timing) timing.lastSeen = this.clock.now();
  }

  lastSeen(tempId: string): number | undefined {
    return this.timings.get(tempId)?.lastSeen;
  }

  /** Arms the next check for a lease that is alive. */
  scheduleCheck(tempId: string): void {
    const due = this.dueAt(tempId);
    if (due !== undefined) this.deadlines.set(tempId, due);
  }

  /** Arms the wait for a liveness probe's answer. */
  scheduleTimeout(tempId: string, ms: number): void {
    this.deadlines.set(tempId, this.clock.now() + ms);
  }

  cancel(tempId: string): void {
    this.deadlines.cancel(tempId);
  }

  forget(tempId: string): void {
    this.deadlines.cancel(tempId);
    this.timings.delete(tempId);
  }

  stop(): void {
    this.deadlines.stop();
  }

  /** True when a due deadline is still due: traffic since may have moved it. */
  isDue(tempId: string): boolean {
    const due = this.dueAt(tempId);
    return due !== undefined && due <= this.clock.now();
  }

  private dueAt(tempId: string): number | undefined {
    const timing = this.timings.get(tempId);
    if (!timing) return undefined;
    return Math.min(
      timing.lastSeen + this.settings.livenessIntervalMs,
      timing.lastVerified + this.settings.reverifyIntervalMs,
    );
  }
}
