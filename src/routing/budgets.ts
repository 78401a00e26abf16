import type { Clock } from '../clock.js';

export interface SenderBudgetsOptions {
  clock: Clock;
  /** Plugin datagrams a sender may cause a second (sends, and a gather's probes). */
  datagramsPerSecond: number;
  /** Gathers a sender may have waiting for answers at once. */
  gathersInFlight: number;
  /** Plugin datagrams all senders together may cause a second. */
  totalDatagramsPerSecond: number;
  /** Gathers all senders together may have waiting at once. */
  totalGathersInFlight: number;
}

interface Budget {
  /** Datagrams it may still cause, refilled at its rate, up to a second's worth. */
  tokens: number;
  refilledAt: number;
  /** The queryIDs of its gathers still waiting. */
  gathers: Set<string>;
}

/** Senders remembered at once: a flood of spoofed sources cannot grow the table. */
const MAX_SENDERS = 4096;

/**
 * [PROTOCOL §13, §14] What controllers may cost the plugins: a budget of plugin datagrams a second
 * (a token bucket holding a second's worth), and of gathers in flight, for each sender and for all
 * of them together. One controller cannot take the coordinator from the others, and many sockets
 * cannot take it from the plugins: past a budget a request is refused (`busy`).
 */
export class SenderBudgets {
  private readonly senders = new Map<string, Budget>();
  private readonly total: Budget;

  constructor(private readonly options: SenderBudgetsOptions) {
    this.total = { tokens: options.totalDatagramsPerSecond, refilledAt: options.clock.now(), gathers: new Set() };
  }

  /** Takes `datagrams` from the sender's budget and the shared one: why not, and nothing taken, when either has not that many. */
  spend(sender: string, datagrams: number): string | undefined {
    const { datagramsPerSecond, totalDatagramsPerSecond } = this.options;
    const budget = this.budgetOf(sender);
    if (budget.tokens < datagrams) return `${datagrams} plugin datagrams would pass this sender's budget of ${datagramsPerSecond} a second`;
    this.refill(this.total, totalDatagramsPerSecond);
    if (this.total.tokens < datagrams) return `${datagrams} plugin datagrams would pass the budget of ${totalDatagramsPerSecond} a second that all senders share`;
    budget.tokens -= datagrams;
    this.total.tokens -= datagrams;
    return undefined;
  }

  /** A gather starts: why not, when its queryID is already waiting or the sender, or all of them, have their most in flight. */
  startGather(sender: string, queryId: string): string | undefined {
    const { gathers } = this.budgetOf(sender);
    if (gathers.has(queryId)) return `queryID ${queryId} is already waiting for its answers`;
    if (gathers.size >= this.options.gathersInFlight) return `${gathers.size} gathers are waiting already, the most at once`;
    if (this.total.gathers.size >= this.options.totalGathersInFlight) return `${this.total.gathers.size} gathers from all senders are waiting already, the most at once`;
    gathers.add(queryId);
    this.total.gathers.add(`${sender} ${queryId}`);
    return undefined;
  }

  endGather(sender: string, queryId: string): void {
    this.senders.get(sender)?.gathers.delete(queryId);
    this.total.gathers.delete(`${sender} ${queryId}`);
  }

  private budgetOf(sender: string): Budget {
    const { clock, datagramsPerSecond } = this.options;
    let budget = this.senders.get(sender);
    if (!budget) {
      if (this.senders.size >= MAX_SENDERS) this.forgetIdle();
      budget = { tokens: datagramsPerSecond, refilledAt: clock.now(), gathers: new Set() };
      this.senders.set(sender, budget);
      return budget;
    }
    this.refill(budget, datagramsPerSecond);
    return budget;
  }

  private refill(budget: Budget, perSecond: number): void {
    const now = this.options.clock.now();
    budget.tokens = Math.min(perSecond, budget.tokens + ((now - budget.refilledAt) * perSecond) / 1000);
    budget.refilledAt = now;
  }

  /** Senders with a full budget and nothing in flight are no different from new ones. */
  private forgetIdle(): void {
    const { datagramsPerSecond } = this.options;
    for (const [sender, budget] of this.senders) {
      this.refill(budget, datagramsPerSecond);
      if (budget.tokens >= datagramsPerSecond && budget.gathers.size === 0) this.senders.delete(sender);
    }
    // Every one busy: the oldest makes room. Its gathers still count in the shared book until they end.
    if (this.senders.size >= MAX_SENDERS) this.senders.delete(this.senders.keys().next().value!);
  }
}
