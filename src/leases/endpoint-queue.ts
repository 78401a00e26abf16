interface Endpoint {
  /** Instances waiting for an assignment, in arrival order. */
  waiting: Set<string>;
  /** The instance whose assignment is in flight, if any. */
  turn: string | undefined;
}

/**
 * One assignment in flight per response endpoint. Deployed plugins all listen on
 * one shared port where only the newest socket receives, and each closes that
 * socket as soon as it takes an assignment: a second assignment sent before the
 * first is answered would die with the socket. So the next goes out only once
 * the previous one is confirmed, failed or timed out. [PROTOCOL §3]
 */
export class EndpointQueue {
  private readonly endpoints = new Map<string, Endpoint>();

  enqueue(endpoint: string, tempId: string): void {
    let entry = this.endpoints.get(endpoint);
    if (!entry) {
      entry = { waiting: new Set(), turn: undefined };
      this.endpoints.set(endpoint, entry);
    }
    if (entry.turn !== tempId) entry.waiting.add(tempId);
  }

  /** Gives the turn to the longest-waiting instance, if the endpoint is idle. */
  takeTurn(endpoint: string): string | undefined {
    const entry = this.endpoints.get(endpoint);
    if (!entry || entry.turn !== undefined) return undefined;
    const first = entry.waiting.values().next();
    if (first.done) {
      this.endpoints.delete(endpoint);
      return undefined;
    }
    entry.waiting.delete(first.value);
    entry.turn = first.value;
    return first.value;
  }

  /** Ends `tempId`'s turn; true when it held it. */
  endTurn(endpoint: string, tempId: string): boolean {
    const entry = this.endpoints.get(endpoint);
    if (!entry || entry.turn !== tempId) return false;
    entry.turn = undefined;
    if (entry.waiting.size === 0) this.endpoints.delete(endpoint);
    return true;
  }

  withdraw(endpoint: string, tempId: string): void {
    const entry = this.endpoints.get(endpoint);
    if (!entry) return;
    entry.waiting.delete(tempId);
    if (entry.waiting.size === 0 && entry.turn === undefined) this.endpoints.delete(endpoint);
  }

  /** Instances still waiting behind the current turn. */
  waitingAt(endpoint: string): number {
    return this.endpoints.get(endpoint)?.waiting.size ?? 0;
  }

  turnHolder(endpoint: string): string | undefined {
    return this.endpoints.get(endpoint)?.turn;
  }

  /** Something is waiting or in flight at `endpoint`. */
  isActive(endpoint: string): boolean {
    return this.endpoints.has(endpoint);
  }

  holdsTurn(endpoint: string, tempId: string): boolean {
    return this.endpoints.get(endpoint)?.turn === tempId;
  }

  get size(): number {
    return this.endpoints.size;
  }
}
