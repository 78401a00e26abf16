import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { LogLevel } from './settings/index.js';

export type { Logger };

/** Human-readable lines on a terminal, JSON lines otherwise (files, pipes, journald). */
export function createLogger(level: LogLevel, stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout): Logger {
  const options = { name: 'oscport', level };
  if (stream.isTTY) {
    return pino(options, pretty({ destination: stream, colorize: true, sync: true, ignore: 'pid,hostname,name' }));
  }
  return pino(options, pino.destination({ dest: 1, sync: false }));
}

export const silentLogger: Logger = pino({ level: 'silent' });
