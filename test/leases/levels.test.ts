import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { PluginLevels } from '../../src/leases/levels.js';
import type { LeaseDirectory } from '../../src/leases/directory.js';

describe('each lease\'s last level', () => {
  it('is clamped to 0..1, ignores what is not a number, and is forgotten when its lease ends', () => {
    const leases = new EventEmitter();
    const levels = new PluginLevels(leases as unknown as LeaseDirectory);
    levels.record('a', 0.5);
    levels.record('b', 3);
    levels.record('c', -1);
    levels.record('d', Number.NaN);
    expect([levels.get('a'), levels.get('b'), levels.get('c'), levels.get('d')]).toEqual([0.5, 1, 0, undefined]);
    leases.emit('change', { tempId: 'a', state: 'bound' }, 'verifying', 9000);
    expect(levels.get('a')).toBe(0.5);
    leases.emit('change', { tempId: 'a', state: 'expired' }, 'bound', 9000);
    expect(levels.get('a')).toBeUndefined();
  });
});
