import { closeSync, fdatasyncSync, fsyncSync, openSync, renameSync } from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  applyRecord,
  bounded,
  formatEntries,
  formatRecord,
  formatState,
  JOURNAL_HEADER,
  parseBytes,
  parseJournal,
  readLease,
  readRecord,
  trimToBound,
  type JournalRecord,
  type JournalState,
  type JournalLease,
} from './format.js';
import type { Logger } from '../../log.js';
import { makeDirectory } from '../../files.js';
import { attempt, fsCall, fsError, JournalError, moveAside, readIfExists, rmQuietly, syncPath, syncPathAsync, writeAll } from './files.js';
import { acquireLock } from './lock.js';

export { formatRecord, parseJournal, type JournalRecord, type JournalState, type JournalLease } from './format.js';
export { JournalError } from './files.js';

export interface Journal {
  readonly path: string;
  /**
   * A lease became bound (or changed: port, trackId...). Throws JournalError only for an invalid lease or a closed
   * journal; a failing disk is logged and the file rewritten from memory on a later change.
   */
  put(lease: JournalLease): void;
  /** A lease ended (released, expired, stolen...); its port is remembered for affinity. Throws as put() does. */
  drop(tempId: string, port: number, reason: string): void;
  /** Rewrites the file from `state` (write new file, fsync, rename over, fsync the directory). */
  compact(state: JournalState): void;
  /** Resolves once no background compaction is under way. */
  whenIdle(): Promise<void>;
  /** Writes the records of this turn now, rather than at its end. */
  flush(): void;
  /** Background compactions done, and the longest the event loop was held by one of their steps. */
  readonly compactions: { readonly count: number; readonly longestBlockMs: number };
  /** Flushes (fdatasync), closes, and removes the lock. Idempotent. */
  close(): void;
}



const FILE_NAME = 'leases.jsonl';
const MAX_LISTED_PROBLEMS = 20;

export function openJournal(
  dir: string,
  options: { logger: Logger; now?: () => number; compactEvery?: number; maxRemembered?: number; syncDelayMs?: number },
): { journal: Journal; restored: JournalState } {
  const { logger, now = Date.now, compactEvery = 2000, maxRemembered = 4096, syncDelayMs = 200 } = options;
  const settings: Settings = { logger, now, compactEvery, maxRemembered, syncDelayMs };
  const path = join(dir, FILE_NAME);
  fsCall(dir, 'create the data directory', () => makeDirectory(dir, 0o700));
  const lockPath = acquireLock(dir, logger);
  try {
    // Left by a crash mid-compaction, when the journal itself was still whole.
    rmQuietly(`${path}.tmp`);
    rmQuietly(`${path}.compacting`);
    const bytes = readIfExists(path);
    const parsed = bytes === null ? parseJournal('') : parseBytes(bytes);
    const state = bounded(parsed.state, maxRemembered);
    if (parsed.problems.length > 0) {
      const movedTo = moveAside(path, now());
      const lines = parsed.problems.map((problem) => problem.line);
      const listed = lines.slice(0, MAX_LISTED_PROBLEMS).join(', ') + (lines.length > MAX_LISTED_PROBLEMS ? ', ...' : '');
      logger.warn(
        { path, lines, problems: parsed.problems.slice(0, MAX_LISTED_PROBLEMS), salvaged: parsed.records, movedTo },
        `lease journal ${path} is corrupt at line(s) ${listed}: salvaged ${parsed.records} record(s), moved the file aside to ${movedTo}`,
      );
    } else if (parsed.torn) {
      logger.info({ path }, `ignored a torn last line in lease journal ${path} (an interrupted write)`);
    }
    // Superseded records count like appends, so a daemon restarted often still compacts its file.
    const excess = Math.max(0, parsed.records - state.lastPorts.size);
    const clean = bytes !== null && parsed.header && parsed.problems.length === 0 && !parsed.torn && bytes.at(-1) === 0x0a;
    const rewrite = !clean || excess >= compactEvery;
    const journal = new FileJournal(path, dir, lockPath, bounded(state, maxRemembered), excess, rewrite, settings);
    return { journal, restored: state };
  } catch (error) {
    rmQuietly(lockPath);
    throw error;
  }
}

type Settings = { logger: Logger; now: () => number; compactEvery: number; maxRemembered: number; syncDelayMs: number };

/** Records formatted per turn of the event loop while compacting: each chunk blocks well under a millisecond. */
const COMPACTION_CHUNK = 256;

class FileJournal implements Journal {
  // null after a failed write or rewrite: the next append rewrites the file from memory instead.
  private fd: number | null = null;
  private syncTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private failing = false;
  /** Lines in the file now, header included: more than the state needs means superseded records. */
  private fileLines = 0;
  private compaction: Promise<void> | undefined;
  /** Records applied this turn, written at its end. */
  private readonly unwritten: string[] = [];
  /** Bumped by every synchronous rewrite: a background compaction started before it is stale and gives up. */
  private rewrites = 0;
  /** While a compaction runs: the records appended since its snapshot, written into the new file before it replaces the old. */
  private tail: string[] | undefined;
  readonly compactions = { count: 0, longestBlockMs: 0 };

  constructor(
    readonly path: string,
    private readonly dir: string,
    private readonly lockPath: string,
    private state: JournalState,
    private appended: number,
    rewrite: boolean,
    private readonly settings: Settings,
  ) {
    if (rewrite) this.compact(state);
    else {
      this.fileLines = this.neededLines() + appended;
      this.openForAppend();
    }
  }

  put(lease: JournalLease): void {
    const checked = readLease(lease);
    if (typeof checked === 'string') throw new JournalError(this.path, `refusing to journal an invalid lease: ${checked}`);
    this.append({ op: 'put', lease: checked, at: this.settings.now() });
  }

  drop(tempId: string, port: number, reason: string): void {
    const checked = readRecord({ op: 'drop', tempId, port, reason, at: this.settings.now() });
    if (typeof checked === 'string') throw new JournalError(this.path, `refusing to journal an invalid drop: ${checked}`);
    this.append(checked);
  }

  compact(state: JournalState): void {
    this.assertOpen();
    this.state = bounded(state, this.settings.maxRemembered);
    this.rewrite();
  }

  async whenIdle(): Promise<void> {
    while (this.compaction) await this.compaction;
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    try {
      // A clean stop leaves the file as small as the state: no superseded records for the next start to skip.
      if (this.fd !== null && this.fileLines > this.neededLines()) this.rewrite();
    } catch (error) {
      this.settings.logger.warn({ path: this.path, err: error }, `could not compact lease journal ${this.path} on close`);
    }
    this.closed = true;
    try {
      this.releaseFd(true);
    } finally {
      rmQuietly(this.lockPath);
    }
  }

  /** Header plus one record per remembered tempID, once trimmed to the bound. */
  private neededLines(): number {
    trimToBound(this.state, this.settings.maxRemembered);
    return 1 + this.state.lastPorts.size;
  }

  /** Synchronous: at open, on demand, after a failed write, and on close, never on the hot path. */
  private rewrite(): void {
    this.rewrites++;
    // The state holds every record not yet written.
    this.unwritten.length = 0;
    this.releaseFd(false);
    trimToBound(this.state, this.settings.maxRemembered);
    const temporary = `${this.path}.tmp`;
    try {
      const fd = openSync(temporary, 'w', 0o600);
      try {
        writeAll(fd, formatState(this.state));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temporary, this.path);
      // The rename is durable only once the directory is; Windows cannot open a directory to sync it.
      if (process.platform !== 'win32') syncPath(this.dir);
    } catch (error) {
      rmQuietly(temporary);
      throw fsError(error, this.path, 'rewrite');
    }
    this.appended = 0;
    this.fileLines = 1 + this.state.lastPorts.size;
    this.openForAppend();
  }

  private append(record: JournalRecord): void {
    this.assertOpen();
    applyRecord(this.state, record);
    const line = formatRecord(record);
    this.tail?.push(line);
    this.unwritten.push(line);
    // One write per turn of the event loop, however many leases changed in it (a burst binds hundreds).
    if (this.unwritten.length === 1) setImmediate(() => this.flush());
    if (++this.appended >= this.settings.compactEvery) this.compactInBackground();
  }

  flush(): void {
    if (this.unwritten.length === 0 || this.closed) return;
    const { logger } = this.settings;
    const text = this.unwritten.join('');
    const lines = this.unwritten.length;
    this.unwritten.length = 0;
    try {
      if (this.fd === null) this.rewrite();
      // Straight to the kernel with no user-space buffer: a SIGKILL after the turn that wrote them loses nothing.
      else {
        writeAll(this.fd, text);
        this.fileLines += lines;
      }
    } catch (error) {
      // A failing disk must not take the coordinator down with it: leases live on in memory, and as a partial line
      // may be on disk, the next write rewrites the whole file from them rather than extend it.
      this.releaseFd(false);
      if (!this.failing) logger.error({ path: this.path, err: error }, `cannot write lease journal ${this.path}: will rewrite it on the next change`);
      this.failing = true;
      return;
    }
    if (this.failing) logger.info({ path: this.path }, `lease journal ${this.path} is written again`);
    this.failing = false;
    this.scheduleSync();
  }

  private compactInBackground(): void {
    if (this.compaction !== undefined) return;
    this.compaction = this.compactIncrementally()
      .catch((error: unknown) => {
        rmQuietly(this.backgroundTemporary);
        this.settings.logger.error({ path: this.path, err: error }, `cannot compact lease journal ${this.path}: still appending to it`);
      })
      .finally(() => {
        this.compaction = undefined;
        this.tail = undefined;
        // Appends that came in while it ran may already call for the next one.
        if (!this.closed && this.appended >= this.settings.compactEvery) this.compactInBackground();
      });
  }

  /**
   * Write-new-then-rename without holding up the socket: the snapshot, each chunk of records and the final
   * swap are short synchronous steps; the writes and fsyncs in between are asynchronous. Records appended
   * meanwhile go to the old file as usual and, kept in `tail`, into the new one just before the rename.
   */
  private async compactIncrementally(): Promise<void> {
    let started = performance.now();
    trimToBound(this.state, this.settings.maxRemembered);
    const entries = [...this.state.lastPorts];
    const leases = new Map(this.state.leases);
    this.tail = [];
    this.appended = 0;
    this.noteBlock(started);
    const rewrites = this.rewrites;
    const temporary = this.backgroundTemporary;
    const handle = await openFile(temporary, 'w', 0o600);
    try {
      await handle.write(JOURNAL_HEADER);
      for (let i = 0; i < entries.length && !this.closed; i += COMPACTION_CHUNK) {
        started = performance.now();
        const text = formatEntries(entries.slice(i, i + COMPACTION_CHUNK), leases);
        this.noteBlock(started);
        await handle.write(text);
      }
      await handle.sync();
      // Closed or rewritten meanwhile: the file on disk is whole and newer than this snapshot.
      if (this.closed || this.rewrites !== rewrites) {
        rmQuietly(temporary);
        return;
      }
      started = performance.now();
      // This turn's records go to the old file as usual; the tail carries them into the new one.
      this.flush();
      const tail = this.tail.join('');
      writeAll(handle.fd, tail);
      renameSync(temporary, this.path);
      this.releaseFd(false);
      this.openForAppend();
      this.fileLines = 1 + entries.length + this.tail.length;
      this.tail = undefined;
      this.scheduleSync();
      this.noteBlock(started);
    } finally {
      await handle.close();
    }
    if (process.platform !== 'win32') await syncPathAsync(this.dir);
    this.compactions.count++;
  }

  /** Not the synchronous rewrite's name: the two never write one file. */
  private get backgroundTemporary(): string {
    return `${this.path}.compacting`;
  }

  private noteBlock(started: number): void {
    this.compactions.longestBlockMs = Math.max(this.compactions.longestBlockMs, performance.now() - started);
  }

  /** Batched fdatasync: a power loss may lose the last ~syncDelayMs (200 ms) of records, never older ones. */
  private scheduleSync(): void {
    this.syncTimer ??= setTimeout(() => {
      this.syncTimer = null;
      this.sync();
    }, this.settings.syncDelayMs).unref();
  }

  private sync(): void {
    if (this.fd === null) return;
    try {
      fdatasyncSync(this.fd);
    } catch (error) {
      this.settings.logger.warn({ path: this.path, err: error }, `could not flush lease journal ${this.path} to disk`);
    }
  }

  private releaseFd(flush: boolean): void {
    if (this.syncTimer !== null) clearTimeout(this.syncTimer);
    this.syncTimer = null;
    if (this.fd === null) return;
    if (flush) this.sync();
    const fd = this.fd;
    this.fd = null;
    // Whatever a close error means, this fd is done with: records come back from memory at the next rewrite.
    attempt(() => closeSync(fd));
  }

  private openForAppend(): void {
    this.fd = fsCall(this.path, 'open', () => openSync(this.path, 'a', 0o600));
  }

  private assertOpen(): void {
    if (this.closed) throw new JournalError(this.path, `lease journal ${this.path} is closed`);
  }
}
