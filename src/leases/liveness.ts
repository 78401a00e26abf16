import type { Clock } from '../clock.js';

export interface LivenessSettings {
  livenessIntervalMs: number;
  reverifyIntervalMs: number;
}

interface Timing {
  lastSeen: number;
  lastVerified: number;
}

/**
 * When each bound lease is next due for a probe [PROTOCOL §9]: after `livenessIntervalMs` of
 * silence, and at least every `reverifyIntervalMs` however chatty it is (a plugin whose port was
 * stolen keeps sending). Traffic only moves `lastSeen`: a message costs one assignment, and the
 * due time is checked again when it comes.
 */
export class Liveness {
  private readonly timings = new Map<string, Timing>();

  constructor(
    private readonly clock: Clock,
    private readonly settings: LivenessSettings,
  ) {}

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

  markSeen(tempId: string): void {
    const timing = this.timings.get(tempId);
    if (timing) timing.lastSeen = this.clock.now();
  }

  lastSeen(tempId: string): number | undefined {
    return this.timings.get(tempId)?.lastSeen;
  }

  dueAt(tempId: string): number | undefined {
    const timing = this.timings.get(tempId);
    if (!timing) return undefined;
    return Math.min(timing.lastSeen + this.settings.livenessIntervalMs, timing.lastVerified + this.settings.reverifyIntervalMs);
  }

  /** Traffic since the check was armed may have moved it later. */
  isDue(tempId: string): boolean {
    const due = this.dueAt(tempId);
    return due !== undefined && due <= this.clock.now();
  }

  forget(tempId: string): void {
    this.timings.delete(tempId);
  }
}
