#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, CommanderError } from 'commander';
import { registerAdminCommands } from './lease-commands.js';
import { registerRoutingCommands } from './routing-commands.js';
import { buildAtlasSimCommand } from '../atlas/simulator-command.js';
import { flag, flagOf } from './flags.js';
import { ConfigFileError, readConfigFile } from '../settings/config-file.js';
import { startCoordinator, type Coordinator } from '../main.js';
import { JournalError } from '../leases/persistence/journal.js';
import { createLogger, type Logger } from '../log.js';
import { describeHolders, findUdpPortHolders } from '../net/port-holder.js';
import {
  addSettingsOptions,
  COORDINATOR_SETTINGS,
  DEFAULT_SETTINGS,
  formatConfig,
  parseHostPort,
  parsePort,
  resolveSettings,
  SettingsError,
  validateSettings,
  wholeNumber,
  type CoordinatorSettings,
} from '../settings/index.js';
import { createProgress } from '../simulate/progress.js';
import { formatSummary, runSimulation, type SimulationSummary } from '../simulate/run.js';
import { BindError } from '../net/udp.js';

const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

function parseRate(_key: string, text: string): number {
  const rate = Number(text);
  if (text.trim() === '' || !Number.isFinite(rate) || rate < 0 || rate > 1) {
    throw new SettingsError('rate', `"${text}" is not a number from 0 to 1`);
  }
  return rate;
}

export function buildProgram(): Command {
  const program = new Command('oscport')
    .description('OSC port coordinator: gives every DAW plugin instance its own verified UDP port')
    .version(version, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    // Before the subcommands are added, so they inherit it: usage errors exit 2, not 1.
    .exitOverride();

  const start = program.command('start').description('run the coordinator in the foreground (Ctrl-C or SIGTERM stops it)');
  const startOptions = addSettingsOptions(start, COORDINATOR_SETTINGS, process.env);
  start.action(async () => {
    const { configFile, printConfig, flags } = startOptions();
    const configPath = configFile === undefined ? undefined : resolve(configFile);
    const resolution = resolveSettings(COORDINATOR_SETTINGS, {
      env: process.env,
      flags,
      configFile: configPath === undefined ? undefined : { path: configPath, settings: readConfigFile(configPath) },
    });
    // What no single setting can say (the pool, Atlas ids and hosts) is checked before either.
    const settings = validateSettings({ ...DEFAULT_SETTINGS, ...resolution.settings });
    if (printConfig) process.stdout.write(formatConfig(resolution));
    else await runStart(settings);
  });

  registerAdminCommands(program);
  registerRoutingCommands(program);
  program.addCommand(buildAtlasSimCommand().exitOverride());

  program
    .command('simulate')
    .description('play a DAW full of deployed AIplayer plugins against a running coordinator')
    .requiredOption('-n, --plugins <n>', 'plugin instances', flagOf(wholeNumber({ min: 1, max: 5000 })))
    .option('-c, --coordinator <host:port>', 'coordinator to play against', flag(parseHostPort), { host: '127.0.0.1', port: DEFAULT_SETTINGS.port })
    .option('--juce-bug-rate <r>', 'share of instances with the JUCE bug (shared response port, co-binding)', flag(parseRate), 1)
    .option('--response-port <n>', 'the shared response port of buggy instances', flag(parsePort), 50000)
    .option('--timeout <ms>', 'give up waiting after this long (default: scales with --plugins)', flagOf(wholeNumber({ min: 1 })))
    .option('--json', 'print the summary as JSON')
    .option('--hold', 'keep the plugins running after the summary (answering probes) until Ctrl-C')
    .action(async (flags) => runSimulate(flags));

  return program;
}

async function runStart(settings: CoordinatorSettings): Promise<void> {
  const logger = createLogger(settings.logLevel);
  let coordinator: Coordinator;
  try {
    coordinator = await startCoordinator({ ...settings, logger });
  } catch (err) {
    await explainStartFailure(err, settings, logger);
    return;
  }
  stopOnSignals(coordinator, logger);
}

async function explainStartFailure(err: unknown, settings: CoordinatorSettings, logger: Logger): Promise<void> {
  let message: string;
  if (err instanceof BindError && err.code === 'EADDRINUSE') {
    const holders = describeHolders(await findUdpPortHolders(settings.port));
    message = `UDP ${settings.host}:${settings.port} is already in use${holders ? ` by ${holders}` : ''}. Stop it, or choose another port with --port.`;
  } else if (err instanceof BindError || err instanceof SettingsError || err instanceof JournalError) {
    message = err.message;
  } else {
    throw err;
  }
  logger.fatal(message);
  process.stderr.write(`oscport: ${message}\n`);
  process.exitCode = err instanceof SettingsError ? EXIT_USAGE : EXIT_FAILURE;
}

function stopOnSignals(coordinator: Coordinator, logger: Logger): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting at once');
      process.exit(EXIT_FAILURE);
    }
    stopping = true;
    logger.info({ signal }, 'stopping');
    void coordinator.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

interface SimulateFlags {
  plugins: number;
  coordinator: { host: string; port: number };
  juceBugRate: number;
  responsePort: number;
  timeout?: number;
  json?: boolean;
  hold?: boolean;
}

async function runSimulate(flags: SimulateFlags): Promise<void> {
  const progress = createProgress(flags.plugins);
  // Ctrl-C stops the waiting (or the holding): the summary still tells what happened.
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  const report = (summary: SimulationSummary) => {
    progress.finish();
    process.stdout.write(flags.json ? `${JSON.stringify(summary)}\n` : `${formatSummary(summary)}\n`);
  };
  const summary = await runSimulation({
    plugins: flags.plugins,
    coordinator: flags.coordinator,
    juceBugRate: flags.juceBugRate,
    responsePort: flags.responsePort,
    ...(flags.timeout === undefined ? {} : { timeoutMs: flags.timeout }),
    onProgress: (verified, failed) => progress.update(verified, failed),
    signal: stop.signal,
    ...(flags.hold
      ? {
          hold: async (held) => {
            report(held);
            if (stop.signal.aborted) return;
            process.stderr.write(`holding ${held.bound} plugins; Ctrl-C to stop\n`);
            await new Promise((resolve) => stop.signal.addEventListener('abort', resolve, { once: true }));
          },
        }
      : {}),
  });
  process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  if (!flags.hold) report(summary);
  if (summary.failed > 0) process.exitCode = EXIT_FAILURE;
}

export async function main(argv: readonly string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv as string[]);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    // A bad config file, or a bad variable (commander reports bad flags itself).
    if (err instanceof ConfigFileError || err instanceof SettingsError) {
      process.stderr.write(`oscport: ${err.message}\n`);
      process.exitCode = EXIT_USAGE;
      return;
    }
    process.stderr.write(`oscport: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = EXIT_FAILURE;
  }
}

await main(process.argv);
