import { once, type EventEmitter } from 'node:events';
import { dirname } from 'node:path';
import pino, { type DestinationStream, type Logger } from 'pino';
import { makeDirectory } from './files.js';
import pretty from 'pino-pretty';
import type { LogLevel } from './settings/index.js';

export type { Logger };

/** Human-readable lines on a terminal, JSON lines otherwise (files, pipes, journald). */
export function createLogger(level: LogLevel, stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout): Logger {
  return pino({ name: 'oscport', level }, stdoutDestination(stream));
}

/** `onBrokenPipe` is told once a line meets stdout with nobody reading it (`oscport start | head`). */
function stdoutDestination(stream: NodeJS.WritableStream & { isTTY?: boolean }, onBrokenPipe: () => void = () => {}): DestinationStream {
  if (stream.isTTY) return pretty({ destination: stream, colorize: true, sync: true, ignore: 'pid,hostname,name' });
  const destination = pino.destination({ dest: 1, sync: false });
  // pino's own listener makes the destination quiet after EPIPE; this one only hears of it.
  destination.on('error', (err: NodeJS.ErrnoException) => err.code === 'EPIPE' && onBrokenPipe());
  return destination;
}

/**
 * Resolves once the logger's destinations have written what they hold (or found they cannot), or
 * after `timeoutMs`. Wait for it before `process.exit`: on exit pino writes what is left
 * synchronously, and sonic-boom retries a write to a closed pipe (`oscport start | head`) forever;
 * written asynchronously first, the broken pipe is seen and the logger goes quiet instead.
 */
export async function flushLog(logger: Logger, timeoutMs = 250): Promise<void> {
  const stream = (logger as unknown as Record<symbol, EventEmitter & { streams?: Array<{ stream: EventEmitter }> }>)[pino.symbols.streamSym];
  const destinations = stream?.streams?.map((entry) => entry.stream) ?? (stream ? [stream] : []);
  const settled = new AbortController();
  const timer = setTimeout(() => settled.abort(), timeoutMs);
  await Promise.all(
    destinations.map((destination) =>
      Promise.race([once(destination, 'drain', { signal: settled.signal }), once(destination, 'error', { signal: settled.signal })]).catch(() => undefined),
    ),
  );
  clearTimeout(timer);
  settled.abort();
}

export interface LogOutput {
  logger: Logger;
  /** Opens the log file again (after logrotate moved it away): what SIGHUP does. */
  reopen(): void;
  /** Resolves when a log line met stdout with nobody left reading it. */
  readerGone: Promise<void>;
}

/**
 * The coordinator's logs: on stdout as `createLogger` writes them and, with `file`, also as JSON
 * lines appended to that file, which `reopen` opens again so logrotate can move it away.
 * Resolves once the file is open; rejects, naming it, when it cannot be.
 */
export async function openLogOutput(level: LogLevel, file: string, stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout): Promise<LogOutput> {
  let brokenPipe: () => void = () => {};
  const readerGone = new Promise<void>((resolve) => (brokenPipe = resolve));
  if (file === '') return { logger: pino({ name: 'oscport', level }, stdoutDestination(stream, brokenPipe)), reopen: () => {}, readerGone };
  // sonic-boom's own mkdir fails without a word: make the directory here, where a failure can be told.
  try {
    makeDirectory(dirname(file));
  } catch (err) {
    throw new LogFileError(file, err as NodeJS.ErrnoException);
  }
  const destination = pino.destination({ dest: file, sync: false, append: true });
  await new Promise<void>((resolve, reject) => {
    destination.once('ready', resolve);
    destination.once('error', (err: NodeJS.ErrnoException) => reject(new LogFileError(file, err)));
  });
  const streams = pino.multistream([
    { level, stream: stdoutDestination(stream, brokenPipe) },
    { level, stream: destination },
  ]);
  return { logger: pino({ name: 'oscport', level }, streams), reopen: () => destination.reopen(), readerGone };
}

export class LogFileError extends Error {
  constructor(
    readonly file: string,
    cause: NodeJS.ErrnoException,
  ) {
    const why =
      cause.code === 'EACCES' || cause.code === 'EPERM'
        ? 'permission denied'
        : cause.code === 'EISDIR'
          ? 'it is a directory'
          : cause.code === 'ENOENT'
            ? 'its directory cannot be made'
            : cause.message;
    super(`cannot write the log file ${file}: ${why}`);
    this.name = 'LogFileError';
  }
}

export const silentLogger: Logger = pino({ level: 'silent' });
