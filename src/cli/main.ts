#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { CommanderError } from 'commander';
import { ConfigFileError } from '../settings/config-file.js';
import { startCoordinator, type Coordinator } from '../main.js';
import { JournalError } from '../leases/persistence/journal.js';
import { openLogOutput, type Logger } from '../log.js';
import { describeHolders, findTcpPortHolders, findUdpPortHolders } from '../net/port-holder.js';
import { HttpBindError } from '../http/server.js';
import { SettingsError, type CoordinatorSettings } from '../settings/index.js';
import { BindError } from '../net/udp.js';
import { EXIT_FAILURE, EXIT_USAGE } from './common.js';
import { npmParentGone } from './npm-parent.js';
import { buildProgram } from './program.js';
import { startLines } from './start-command.js';
import { MESSAGE_PREFIX } from './style.js';
import { describeSystemError, inUserTerms } from '../system-errors.js';

const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

async function runStart(settings: CoordinatorSettings): Promise<void> {
  const { logger, reopen } = await openLogOutput(settings.logLevel, settings.logFile);
  // Before the coordinator starts: a supervisor may signal as soon as it sees it listening.
  const signalled = stopOnSignals(logger);
  const npmParent = npmParentGone();
  const stopped = Promise.race([
    signalled,
    npmParent.gone.then(() => logger.info('stopping: npm, which ran the coordinator, is gone')),
  ]);
  // logrotate moves the file away, then sends SIGHUP: the next lines go to a new file of the same name.
  process.on('SIGHUP', () => {
    reopen();
    logger.info({ file: settings.logFile }, 'log file reopened');
  });
  let coordinator: Coordinator;
  try {
    coordinator = await startCoordinator({ ...settings, logger });
  } catch (err) {
    npmParent.cancel();
    await explainStartFailure(err, settings, logger);
    return;
  }
  process.stderr.write(startLines(coordinator.http));
  await stopped;
  npmParent.cancel();
  await coordinator.close();
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

/** Resolves at the first SIGINT or SIGTERM; a second one exits at once. */
function stopOnSignals(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting at once');
        process.exit(EXIT_FAILURE);
      }
      stopping = true;
      logger.info({ signal }, 'stopping');
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export async function main(argv: readonly string[]): Promise<void> {
  const program = buildProgram({ version, runCoordinator: runStart });
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
  }
}

await main(process.argv);
