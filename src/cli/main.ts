#!/usr/bin/env node
import { fstatSync, readFileSync } from 'node:fs';
import { CommanderError } from 'commander';
import { ConfigFileError } from '../settings/config-file.js';
import { startCoordinator, type Coordinator } from '../main.js';
import { JournalError } from '../leases/persistence/journal.js';
import { flushLog, openLogOutput, type Logger } from '../log.js';
import { describeHolders, findTcpPortHolders, findUdpPortHolders } from '../net/port-holder.js';
import { HttpBindError } from '../http/server.js';
import { SettingsError, type CoordinatorSettings } from '../settings/index.js';
import { BindError } from '../net/udp.js';
import { EXIT_FAILURE, EXIT_USAGE } from './common.js';
import { endQuietlyWhenStdoutCloses, stdoutHasClosed, untilStopped } from './stop.js';
import { buildProgram } from './program.js';
import { startLines } from './start-command.js';
import { MESSAGE_PREFIX } from './style.js';
import { describeSystemError, inUserTerms } from '../system-errors.js';

const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

async function runStart(settings: CoordinatorSettings): Promise<void> {
  const { logger, reopen, readerGone } = await openLogOutput(settings.logLevel, settings.logFile);
  // Before the coordinator starts: a supervisor may signal as soon as it sees it listening.
  // Its log piped to a reader that goes (`oscport start | head`) stops it, as it would any Unix tool; a socket
  // (journald, whose restart must not end the service) or a file does not.
  const stopping = untilStopped(stdoutIsPipe() ? { readerGone } : {});
  const stopped = stopping.stopped.then((reason) =>
    reason === 'npm gone' ? logger.info('stopping: npm, which ran the coordinator, is gone') : logger.info({ reason }, 'stopping'),
  );
  // logrotate moves the file away, then sends SIGHUP: the next lines go to a new file of the same name.
  process.on('SIGHUP', () => {
    reopen();
    logger.info({ file: settings.logFile }, 'log file reopened');
  });
  let coordinator: Coordinator;
  try {
    coordinator = await startCoordinator({ ...settings, logger });
  } catch (err) {
    stopping.dispose();
    await explainStartFailure(err, settings, logger);
    return;
  }
  process.stderr.write(startLines(coordinator.http));
  await stopped;
  await coordinator.close();
  stopping.dispose();
  await flushLog(logger);
  process.exit(0);
}

async function explainStartFailure(err: unknown, settings: CoordinatorSettings, logger: Logger): Promise<void> {
  let message: string;
  if (err instanceof BindError && err.code === 'EADDRINUSE') {
    const holders = describeHolders(await findUdpPortHolders(settings.port));
    message = `UDP ${settings.host}:${settings.port} is already in use${holders ? ` by ${holders}` : ''}. Stop it, or choose another port with --port.`;
  } else if (err instanceof BindError) {
    const privileged = err.code === 'EACCES' && err.port < 1024 ? ' (ports below 1024 need root, or CAP_NET_BIND_SERVICE on Linux)' : '';
    message = `cannot bind UDP ${err.host}:${err.port}: ${describeSystemError(err)}${privileged}`;
  } else if (err instanceof HttpBindError && err.code === 'EADDRINUSE') {
    const holders = describeHolders(await findTcpPortHolders(err.port));
    message = `TCP ${err.host}:${err.port} (the HTTP server) is already in use${holders ? ` by ${holders}` : ''}. Stop it, choose another port with --http-port, or turn the server off with --http-port off.`;
  } else if (err instanceof HttpBindError) {
    const privileged = err.code === 'EACCES' && err.port < 1024 ? ' (ports below 1024 need root, or CAP_NET_BIND_SERVICE on Linux)' : '';
    message = `cannot listen on TCP ${err.host}:${err.port} (the HTTP server): ${describeSystemError(err)}${privileged}`;
  } else if (err instanceof SettingsError || err instanceof JournalError) {
    message = inUserTerms(err.message);
  } else {
    throw err;
  }
  // Said once, on stderr; the log keeps the error itself for whoever runs with --log-level debug.
  logger.debug({ err }, 'could not start');
  process.stderr.write(`${MESSAGE_PREFIX} ${message}\n`);
  process.exitCode = err instanceof SettingsError ? EXIT_USAGE : EXIT_FAILURE;
}

function stdoutIsPipe(): boolean {
  try {
    return fstatSync(1).isFIFO();
  } catch {
    return false;
  }
}

export async function main(argv: readonly string[]): Promise<void> {
  const program = buildProgram({ version, runCoordinator: runStart });
  endQuietlyWhenStdoutCloses();
  try {
    await program.parseAsync(argv as string[]);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    // A bad config file, or a bad variable (commander reports bad flags itself).
    const usage = err instanceof ConfigFileError || err instanceof SettingsError;
    process.stderr.write(`${MESSAGE_PREFIX} ${err instanceof Error ? inUserTerms(err.message) : String(err)}\n`);
    process.exitCode = usage ? EXIT_USAGE : EXIT_FAILURE;
  } finally {
    if (stdoutHasClosed()) process.exitCode = 0;
  }
}

await main(process.argv);
