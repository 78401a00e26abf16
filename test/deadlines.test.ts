import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { Deadlines } from '../src/deadlines.js';

/** SimulatedClock.increment jumps to the end before firing: step to see each deadline at its own time. */
function advance(clock: SimulatedClock, ms: number, step = 10): void {
  for (let done = 0; done < ms; done += step) clock.increment(Math.min(step, ms - done));
}

function setup() {
  const clock = new SimulatedClock();
  let timers = 0;
  const counted = {
    setTimeout: (fn: (...args: unknown[]) => void, ms: number) => {
      timers++;
      return clock.setTimeout(fn, ms);
    },
    clearTimeout: (id: unknown) => clock.clearTimeout(id as number),
    now: () => clock.now(),
  };
  const fired: Array<[string, number]> = [];
  const deadlines = new Deadlines<string>(counted, (key) => fired.push([key, clock.now()]));
  return { clock, deadlines, fired, timers: () => timers };
}

describe('Deadlines', () => {
  it('fires each key once, in deadline order, at its time', () => {
    const { clock, deadlines, fired } = setup();
    deadlines.set('b', 200);
    deadlines.set('a', 100);
    deadlines.set('c', 300);
    advance(clock, 99, 1);
    expect(fired).toEqual([]);
    advance(clock, 201, 1);
    expect(fired).toEqual([['a', 100], ['b', 200], ['c', 300]]);
    expect(deadlines.size).toBe(0);
  });

  it('a new deadline for a key replaces the old one, earlier or later', () => {
    const { clock, deadlines, fired } = setup();
    deadlines.set('a', 100);
    deadlines.set('a', 500);
    deadlines.set('b', 300);
    deadlines.set('b', 50);
    advance(clock, 1000);
    expect(fired).toEqual([['b', 50], ['a', 500]]);
  });

  it('a cancelled key never fires', () => {
    const { clock, deadlines, fired } = setup();
    deadlines.set('a', 100);
    deadlines.cancel('a');
    clock.increment(200);
    expect(fired).toEqual([]);
  });

  it('a callback can set the next deadline of its own key', () => {
    const clock = new SimulatedClock();
    const seen: number[] = [];
    const deadlines: Deadlines<string> = new Deadlines(clock, () => {
      seen.push(clock.now());
      if (seen.length < 3) deadlines.set('tick', clock.now() + 100);
    });
    deadlines.set('tick', 100);
    advance(clock, 1000);
    expect(seen).toEqual([100, 200, 300]);
  });

  it('drives thousands of deadlines with one timer at a time', () => {
    const { clock, deadlines, fired, timers } = setup();
    for (let n = 0; n < 5000; n++) deadlines.set(`lease-${n}`, 1000 + (n % 7) * 10);
    expect(timers()).toBeLessThanOrEqual(2);
    for (let n = 0; n < 5000; n += 2) deadlines.set(`lease-${n}`, 5000);
    clock.increment(2000);
    expect(fired.length).toBe(2500);
    clock.increment(5000);
    expect(fired.length).toBe(5000);
    expect(timers()).toBeLessThan(20);
  });
});
