import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../log.js';
import { errorCode } from '../../files.js';
import { fsError, readIfExists, rmQuietly } from './files.js';
import { JournalError } from './files.js';

const LOCK_NAME = 'oscport.lock';

/**
 * A lock file holding our PID keeps a second coordinator off the data directory; a lock whose
 * process is gone (or a zombie) is taken over. Returns the lock's path. [PROTOCOL §8]
 */
export function acquireLock(dir: string, logger: Logger): string {
  const lockPath = join(dir, LOCK_NAME);
  for (let tries = 0; tries < 3; tries++) {
    try {
      writeFileSync(lockPath, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return lockPath;
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') throw fsError(error, lockPath, 'create the lock file');
    }
    const text = (readIfExists(lockPath)?.toString('utf8') ?? '').trim();
    const pid = /^[1-9]\d{0,9}$/.test(text) ? Number(text) : null;
    if (pid !== null && isAlive(pid)) {
      throw new JournalError(dir, `data directory ${dir} is in use by PID ${pid} (lock file ${lockPath}; remove it if that process is not oscport)`);
    }
    logger.info({ lockPath, pid }, `taking over lock file ${lockPath}: ${pid === null ? 'it names no PID' : `PID ${pid} is not running`}`);
    rmQuietly(lockPath);
  }
  throw new JournalError(dir, `could not take lock file ${lockPath}: another process keeps creating it`);
}

/** Running: it answers kill(pid, 0) (or exists under another user), and is no zombie waiting to be reaped. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return errorCode(error) === 'EPERM';
  }
  return !isGone(pid, '/proc');
}

/**
 * A killed coordinator not yet reaped by its parent still answers kill(pid, 0), but is gone; so is
 * one that exits between that and reading its /proc entry. (Without /proc, as on macOS, no more is known.)
 */
export function isGone(pid: number, procRoot: string): boolean {
  try {
    const stat = readFileSync(`${procRoot}/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch (error) {
    return errorCode(error) === 'ENOENT' && existsSync(`${procRoot}/self`);
  }
}
