import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';

/** A data directory of this test's own, removed once the test and its afterEach hooks are done. */
export function testDataDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `oscport-${prefix}-`));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
