/**
 * Updates per second of one subscription: the count of the last whole second. Two numbers and no allocation per
 * update, since it runs for every meter value.
 */
export class UpdateRate {
  private windowStart = 0;
  private current = 0;
  private previous = 0;

  tick(now: number): void {
    this.roll(now);
    this.current++;
  }

  perSecond(now: number): number {
    this.roll(now);
    return this.previous;
  }

  private roll(now: number): void {
    const elapsed = now - this.windowStart;
    if (elapsed < 1000) return;
    if (elapsed < 2000) {
      this.previous = this.current;
      this.windowStart += 1000;
    } else {
      // The last whole second saw nothing; a new window starts now.
      this.previous = 0;
      this.windowStart = now;
    }
    this.current = 0;
  }
}
