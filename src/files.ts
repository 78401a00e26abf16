import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/** File-system helpers for whoever writes files: the journal and the log file. */

export const errorCode = (error: unknown): string | undefined => (error as NodeJS.ErrnoException | undefined)?.code;

/**
 * `mkdir -p`. Node 20's recursive mkdir never returns where the kernel refuses to create a
 * directory in a parent that exists (anywhere under /proc): it tries the parent and the child
 * again forever. So the parents are made first, then the directory itself on its own, which fails.
 */
export function makeDirectory(path: string, mode = 0o777): void {
  try {
    if (statSync(path).isDirectory()) return;
  } catch {
    // Not there yet: made below.
  }
  const parent = dirname(path);
  if (parent !== path) makeDirectory(parent, mode);
  try {
    mkdirSync(path, { mode });
  } catch (error) {
    // Made meanwhile by someone else is fine; a file in the way is not.
    if (errorCode(error) !== 'EEXIST' || !statSync(path).isDirectory()) throw error;
  }
}
