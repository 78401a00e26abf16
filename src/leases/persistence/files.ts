import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { errorCode } from '../../files.js';
import { open as openFile } from 'node:fs/promises';

/** The journal's file operations, each failing as one JournalError that names the path and says what it was doing. */

export class JournalError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = 'JournalError';
  }
}

export function moveAside(path: string, now: number): string {
  const stamp = new Date(now).toISOString().replace(/[-:]/g, '').slice(0, 15); // UTC YYYYMMDDTHHMMSS
  let target = `${path}.corrupt-${stamp}`;
  for (let n = 1; existsSync(target); n++) target = `${path}.corrupt-${stamp}-${n}`;
  fsCall(path, 'move aside', () => renameSync(path, target));
  return target;
}

export function readIfExists(path: string): Buffer | null {
  try {
    return readFileSync(path);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return null;
    throw fsError(error, path, 'read');
  }
}

export async function syncPathAsync(path: string): Promise<void> {
  const handle = await openFile(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export function syncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function writeAll(fd: number, text: string): void {
  const bytes = Buffer.from(text, 'utf8');
  for (let offset = 0; offset < bytes.length; ) offset += writeSync(fd, bytes, offset);
}

export function rmQuietly(path: string): void {
  // Already gone, or not ours to remove: either way nothing is left to do.
  attempt(() => unlinkSync(path));
}

/** `run`'s result, or undefined when it throws. */
export function attempt<T>(run: () => T): T | undefined {
  try {
    return run();
  } catch {
    return undefined;
  }
}

export function fsCall<T>(path: string, action: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    throw fsError(error, path, action);
  }
}


export function fsError(error: unknown, path: string, action: string): JournalError {
  if (error instanceof JournalError) return error;
  const code = errorCode(error);
  if (code === 'EACCES' || code === 'EPERM') return new JournalError(path, `permission denied: cannot ${action} ${path} (check its owner and mode)`);
  return new JournalError(path, `cannot ${action} ${path}: ${error instanceof Error ? error.message : String(error)}`);
}
