import type { Clock } from '../clock.js';

export interface SenderBudgetsOptions {
  clock: Clock;
  /** Plugin datagrams a sender may cause a second (sends, and a gather's probes). */
  datagramsPerSecond: number;
  /** Gathers a sender may have waiting for answers at once. */
  gathersInFlight: number;
}

interface Budget {
  /** Datagrams it may still cause, refilled at `datagramsPerSecond`, up to a second's worth. */
  tokens: number;
  refilledAt: number;
  /** The queryIDs of its gathers still waiting. */
  gathers: Set<string>;
}

/** Senders remembered at once: a flood of spoofed sources cannot grow the table. */
const MAX_SENDERS = 4096;

/**
 * [PROTOCOL §13, §14] What each controller may cost the plugins: a budget of plugin datagrams a
 * second (a token bucket holding a second's worth), and of gathers in flight. One controller, or a
 * flood from anywhere, cannot take the coordinator from the others: past its budget a request is
 * refused (`busy`).
 */
export class SenderBudgets {
  private readonly senders = new Map<string, Budget>();

  constructor(private readonly options: SenderBudgetsOptions) {}

  /** Takes `datagrams` from the sender's budget: false, and nothing taken, when it has not that many. */
  spend(sender: string, datagrams: number): boolean {
    const budget = this.budgetOf(sender);
    if (budget.tokens < datagrams) return false;
    budget.tokens -= datagrams;
    return true;
  }

  /** A gather starts: why not, when its queryID is already waiting or the sender has its most in flight. */
  startGather(sender: string, queryId: string): string | undefined {
    const { gathers } = this.budgetOf(sender);
    if (gathers.has(queryId)) return `queryID ${queryId} is already waiting for its answers`;
    if (gathers.size >= this.options.gathersInFlight) return `${gathers.size} gathers are waiting already, the most at once`;
    gathers.add(queryId);
    return undefined;
  }

  endGather(sender: string, queryId: string): void {
    this.senders.get(sender)?.gathers.delete(queryId);
  }

  private budgetOf(sender: string): Budget {
    const { clock, datagramsPerSecond } = this.options;
    const now = clock.now();
    let budget = this.senders.get(sender);
    if (!budget) {
      if (this.senders.size >= MAX_SENDERS) this.forgetIdle(now);
      budget = { tokens: datagramsPerSecond, refilledAt: now, gathers: new Set() };
      this.senders.set(sender, budget);
      return budget;
    }
    budget.tokens = Math.min(datagramsPerSecond, budget.tokens + ((now - budget.refilledAt) * datagramsPerSecond) / 1000);
    budget.refilledAt = now;
    return budget;
  }

  /** Senders with a full budget and nothing in flight are no different from new ones. */
  private forgetIdle(now: number): void {
    const { datagramsPerSecond } = this.options;
    for (const [sender, budget] of this.senders) {
      const full = budget.tokens + ((now - budget.refilledAt) * datagramsPerSecond) / 1000 >= datagramsPerSecond;
      if (full && budget.gathers.size === 0) this.senders.delete(sender);
    }
    // Every one busy: the oldest makes room.
    if (this.senders.size >= MAX_SENDERS) this.senders.delete(this.senders.keys().next().value!);
  }
}
