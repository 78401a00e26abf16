import { describe, expect, it } from 'vitest';
import { PortPool } from '../../src/leases/pool.js';

function pool(low = 9000, high = 9009, reserved: number[] = [], quarantineMs = 1000) {
  let now = 0;
  const p = new PortPool({ low, high, reserved, quarantineMs, now: () => now });
  return { p, advance: (ms: number) => (now += ms) };
}

describe('PortPool', () => {
  it('leaves reserved ports out and hands out the rest in order', () => {
    const { p } = pool(9000, 9004, [9000, 9001]);
    expect(p.size).toBe(3);
    expect([p.take(), p.take(), p.take(), p.take()]).toEqual([9002, 9003, 9004, null]);
    expect(p.stateOf(9001)).toBe('reserved');
    expect(p.stateOf(8999)).toBe('outside');
  });

  it('honours a preferred port when it is free, and falls back when it is not', () => {
    const { p } = pool();
    expect(p.take(9005)).toBe(9005);
    expect(p.take(9005)).toBe(9000);
    expect(p.take(12345)).toBe(9001);
  });

  it('reuses the port released longest ago first', () => {
    const { p } = pool(9000, 9002);
    const [a, b, c] = [p.take()!, p.take()!, p.take()!];
    p.release(b);
    p.release(a);
    p.release(c);
    expect([p.take(), p.take(), p.take()]).toEqual([b, a, c]);
  });

  it('keeps a quarantined port out until its time is up, then returns it', () => {
    const { p, advance } = pool(9000, 9001);
    const port = p.take()!;
    p.quarantine(port);
    expect(p.stateOf(port)).toBe('quarantined');
    expect(p.quarantined).toBe(1);
    expect(p.take()).toBe(9001);
    expect(p.take()).toBeNull();
    advance(999);
    expect(p.take()).toBeNull();
    advance(1);
    expect(p.take()).toBe(port);
    expect(p.quarantined).toBe(0);
  });

  it('a port quarantined again restarts its time, and its old entry does not free it early', () => {
    const { p, advance } = pool(9000, 9000);
    p.take();
    p.quarantine(9000);
    advance(500);
    expect(p.claim(9000)).toBe(true);
    p.quarantine(9000);
    advance(600);
    expect(p.stateOf(9000)).toBe('quarantined');
    advance(400);
    expect(p.stateOf(9000)).toBe('free');
    expect(p.free).toBe(1);
  });

  it('claims a free or quarantined port for a plugin that proved it is on it, never a taken one', () => {
    const { p } = pool(9000, 9002);
    expect(p.claim(9001)).toBe(true);
    expect(p.claim(9001)).toBe(false);
    const q = p.take()!;
    p.quarantine(q);
    expect(p.claim(q)).toBe(true);
    expect(p.quarantined).toBe(0);
    expect(p.claim(70000)).toBe(false);
  });

  it('counts free ports exactly through every operation', () => {
    const { p } = pool(9000, 9009);
    const taken = [p.take()!, p.take(9007)!, p.take()!];
    expect(p.free).toBe(7);
    p.quarantine(taken[0]!);
    p.release(taken[1]!);
    expect(p.free).toBe(8);
    expect(p.quarantined).toBe(1);
    p.release(taken[1]!);
    expect(p.free).toBe(8);
  });

  it('moves a free port to the back of the queue, and leaves others alone', () => {
    const { p } = pool(9000, 9002);
    p.moveToBack(9000);
    const taken = p.take()!;
    p.moveToBack(taken);
    expect([taken, p.take(), p.take()]).toEqual([9001, 9002, 9000]);
    expect(p.free).toBe(0);
  });

  it('rejects an impossible range', () => {
    expect(() => pool(9010, 9000)).toThrow(RangeError);
    expect(() => pool(0, 10)).toThrow(RangeError);
  });

  it('stays constant-time at any fill: a full cycle of a 64k pool is linear', () => {
    const { p } = pool(1, 65535);
    const ports: number[] = [];
    for (let port = p.take(); port !== null; port = p.take()) ports.push(port);
    expect(ports.length).toBe(65535);
    for (const port of ports) p.release(port);
    expect(p.free).toBe(65535);
  });
});
