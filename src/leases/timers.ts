import type { LeaseEvent } from '../../machines/lease.js';
import type { Clock } from '../clock.js';
import { Deadlines } from '../deadlines.js';
import type { Liveness } from './liveness.js';

type WaitEvent = { type: 'TIMEOUT' } | { type: 'LIVENESS_DUE' };
const TIMEOUT: WaitEvent = { type: 'TIMEOUT' };
const LIVENESS_DUE: WaitEvent = { type: 'LIVENESS_DUE' };
const DEADLINE: LeaseEvent = { type: 'DEADLINE' };

/**
 * Every lease's two timer slots, on two shared heaps, so thousands of leases cost two JS timers:
 * its wait (a `TIMEOUT`, or in a bound lease the next liveness check), and its absolute deadline.
 * The machine arms and stops them with actions; they come back to it as events.
 */
export class LeaseTimers {
  private readonly waits: Deadlines<string>;
  private readonly waitEvents = new Map<string, WaitEvent>();
  private readonly deadlines: Deadlines<string>;

  constructor(
    private readonly clock: Clock,
    private readonly liveness: Liveness,
    deliver: (tempId: string, event: LeaseEvent) => void,
  ) {
    this.waits = new Deadlines(clock, (tempId) => {
      const event = this.waitEvents.get(tempId);
      this.waitEvents.delete(tempId);
      // Traffic since the check was armed moves it later: arm it again instead.
      if (event === LIVENESS_DUE && !liveness.isDue(tempId)) this.scheduleCheck(tempId);
      else if (event) deliver(tempId, event);
    });
    this.deadlines = new Deadlines(clock, (tempId) => deliver(tempId, DEADLINE));
  }

  startTimer(tempId: string, ms: number): void {
    this.waits.set(tempId, this.clock.now() + ms);
    this.waitEvents.set(tempId, TIMEOUT);
  }

  scheduleCheck(tempId: string): void {
    const due = this.liveness.dueAt(tempId);
    if (due === undefined) return;
    this.waits.set(tempId, due);
    this.waitEvents.set(tempId, LIVENESS_DUE);
  }

  stopTimer(tempId: string): void {
    this.waits.cancel(tempId);
    this.waitEvents.delete(tempId);
  }

  startDeadline(tempId: string, ms: number): void {
    this.deadlines.set(tempId, this.clock.now() + ms);
  }

  stopDeadline(tempId: string): void {
    this.deadlines.cancel(tempId);
  }

  forget(tempId: string): void {
    this.stopTimer(tempId);
    this.stopDeadline(tempId);
  }

  stop(): void {
    this.waits.stop();
    this.deadlines.stop();
    this.waitEvents.clear();
  }
}
