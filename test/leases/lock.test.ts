import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isGone } from '../../src/leases/persistence/lock.js';
import { testDataDir } from '../helpers/temp-dir.js';

/** A /proc-style tree: `self`, and a stat line for each pid given its state letter. */
function procTree(withSelf: boolean, processes: Record<number, string>): string {
  const root = testDataDir('proc-');
  if (withSelf) mkdirSync(join(root, 'self'));
  for (const [pid, state] of Object.entries(processes)) {
    mkdirSync(join(root, pid));
    writeFileSync(join(root, pid, 'stat'), `${pid} (node (a) b) ${state} 1 ${pid} ${pid} 0 -1`);
  }
  return root;
}

describe('a process the lock names, answering kill(pid, 0)', () => {
  it('is gone when it is a zombie its parent has not reaped', () => {
    expect(isGone(42, procTree(true, { 42: 'Z' }))).toBe(true);
    expect(isGone(42, procTree(true, { 42: 'S' }))).toBe(false);
  });

  it('is gone when its /proc entry vanished between the two looks (it exited)', () => {
    expect(isGone(42, procTree(true, {}))).toBe(true);
  });

  it('is taken as alive where there is no /proc at all (macOS): nothing more is known', () => {
    expect(isGone(42, procTree(false, {}))).toBe(false);
  });
});
