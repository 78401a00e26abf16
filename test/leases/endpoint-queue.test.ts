import { describe, expect, it } from 'vitest';
import { EndpointQueue } from '../../src/leases/endpoint-queue.js';

describe('EndpointQueue', () => {
  it('gives one turn at a time per endpoint, in arrival order', () => {
    const q = new EndpointQueue();
    q.enqueue('e', 'A');
    q.enqueue('e', 'B');
    q.enqueue('e', 'C');
    expect(q.takeTurn('e')).toBe('A');
    expect(q.takeTurn('e')).toBeUndefined();
    expect(q.waitingAt('e')).toBe(2);
    expect(q.endTurn('e', 'A')).toBe(true);
    expect(q.takeTurn('e')).toBe('B');
  });

  it('keeps endpoints independent', () => {
    const q = new EndpointQueue();
    q.enqueue('e1', 'A');
    q.enqueue('e2', 'B');
    expect(q.takeTurn('e1')).toBe('A');
    expect(q.takeTurn('e2')).toBe('B');
  });

  it('only the holder ends a turn', () => {
    const q = new EndpointQueue();
    q.enqueue('e', 'A');
    q.takeTurn('e');
    expect(q.endTurn('e', 'B')).toBe(false);
    expect(q.holdsTurn('e', 'A')).toBe(true);
  });

  it('a withdrawn instance never gets a turn', () => {
    const q = new EndpointQueue();
    q.enqueue('e', 'A');
    q.enqueue('e', 'B');
    q.withdraw('e', 'A');
    expect(q.takeTurn('e')).toBe('B');
  });

  it('re-enqueued instances go to the back; the turn holder is not queued twice', () => {
    const q = new EndpointQueue();
    q.enqueue('e', 'A');
    q.enqueue('e', 'B');
    q.takeTurn('e');
    q.enqueue('e', 'A');
    expect(q.waitingAt('e')).toBe(1);
    q.endTurn('e', 'A');
    q.enqueue('e', 'A');
    expect(q.takeTurn('e')).toBe('B');
  });

  it('forgets idle endpoints so they cannot leak', () => {
    const q = new EndpointQueue();
    q.enqueue('e', 'A');
    q.takeTurn('e');
    q.endTurn('e', 'A');
    expect(q.isActive('e')).toBe(false);
    q.enqueue('f', 'B');
    q.withdraw('f', 'B');
    expect(q.size).toBe(0);
  });
});
