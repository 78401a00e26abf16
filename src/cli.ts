#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { stringify as toYaml } from 'yaml';
import { registerAdminCommands } from './admin/commands.js';
import { flag } from './cli-flags.js';
import { asFlagText, closestName, ConfigFileError, readConfigFile } from './config-file.js';
import { startCoordinator, type Coordinator } from './coordinator.js';
import {
  DEFAULT_SETTINGS,
  parseHostPort,
  parseInteger,
  parseLogLevel,
  parsePort,
  parsePortList,
  parseRange,
  SettingsError,
  type CoordinatorSettings,
} from './core/settings.js';
import { defaultDataDir } from './data-dir.js';
import { JournalError } from './journal.js';
import { createLogger, type Logger } from './log.js';
import { describeHolders, findUdpPortHolders } from './port-holder.js';
import { createProgress } from './simulate/progress.js';
import { formatSummary, runSimulation, type SimulationSummary } from './simulate/run.js';
import { BindError } from './udp.js';

const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const whole = (min: number, max = Number.MAX_SAFE_INTEGER) => flag((key, text) => parseInteger(key, text, min, max));

function parseRate(_key: string, text: string): number {
  const rate = Number(text);
  if (text.trim() === '' || !Number.isFinite(rate) || rate < 0 || rate > 1) {
    throw new SettingsError('rate', `"${text}" is not a number from 0 to 1`);
  }
  return rate;
}

interface StartFlags {
  config?: string;
  printConfig?: boolean;
  port: number;
  host: string;
  pool: { low: number; high: number };
  reserve: number[];
  logLevel: CoordinatorSettings['logLevel'];
  dataDir: string;
  assignTimeout: number;
  assignResends: number;
  probeTimeout: number;
  probeAttempts: number;
  maxTries: number;
  quarantine: number;
  maxInstances: number;
  livenessInterval: number;
  reverifyInterval: number;
  livenessProbes: number;
}

/** The settings a config file may hold: every option of `start` but these. */
const NOT_IN_CONFIG = new Set(['config', 'printConfig']);

function option(flags: string, description: string, env: string, parse: (text: string) => unknown, fallback: unknown, shown?: string) {
  return new Option(flags, description).env(env).argParser(parse).default(fallback, shown);
}

export function buildProgram(): Command {
  const program = new Command('oscport')
    .description('OSC port coordinator: gives every DAW plugin instance its own verified UDP port')
    .version(version, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    // Before the subcommands are added, so they inherit it: usage errors exit 2, not 1.
    .exitOverride();

  const d = DEFAULT_SETTINGS;
  program
    .command('start')
    .description('run the coordinator in the foreground (Ctrl-C or SIGTERM stops it)')
    .addOption(new Option('--config <file>', 'JSON or YAML file of settings (flags and variables win over it)').env('OSCPORT_CONFIG'))
    .addOption(new Option('--print-config', 'print the effective settings, with where each comes from, and exit'))
    .addOption(option('-p, --port <n>', 'UDP port to own', 'OSCPORT_PORT', flag(parsePort), d.port))
    .addOption(option('--host <addr>', 'IPv4 address to bind', 'OSCPORT_HOST', (t) => t, d.host))
    .addOption(option('--pool <low-high>', 'ports handed out', 'OSCPORT_POOL', flag(parseRange), { low: d.poolLow, high: d.poolHigh }, `${d.poolLow}-${d.poolHigh}`))
    .addOption(option('--reserve <n,n>', 'pool ports never handed out ("" for none)', 'OSCPORT_RESERVE', flag(parsePortList), d.reserved, d.reserved.join(',')))
    .addOption(option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent', 'OSCPORT_LOG_LEVEL', flag(parseLogLevel), d.logLevel))
    .addOption(option('--data-dir <dir>', 'where leases persist', 'OSCPORT_DATA_DIR', (t) => resolve(t), defaultDataDir(process.env, process.platform, homedir())))
    .addOption(option('--assign-timeout <ms>', 'first wait for a confirmation (doubles)', 'OSCPORT_ASSIGN_TIMEOUT', whole(1), d.assignTimeoutMs))
    .addOption(option('--assign-resends <n>', 'resends before an offer lapses', 'OSCPORT_ASSIGN_RESENDS', whole(0), d.assignResends))
    .addOption(option('--probe-timeout <ms>', 'first wait for a probe answer (doubles)', 'OSCPORT_PROBE_TIMEOUT', whole(1), d.probeTimeoutMs))
    .addOption(option('--probe-attempts <n>', 'probes before a binding counts as failed', 'OSCPORT_PROBE_ATTEMPTS', whole(1), d.probeAttempts))
    .addOption(option('--max-tries <n>', 'binding attempts per request', 'OSCPORT_MAX_TRIES', whole(1), d.maxTries))
    .addOption(option('--quarantine <ms>', 'how long a failed port is kept out', 'OSCPORT_QUARANTINE', whole(0), d.quarantineMs))
    .addOption(option('--max-instances <n>', 'instances tracked at once', 'OSCPORT_MAX_INSTANCES', whole(1), d.maxInstances))
    .addOption(option('--liveness-interval <ms>', 'silence after which a bound lease is probed', 'OSCPORT_LIVENESS_INTERVAL', whole(1), d.livenessIntervalMs))
    .addOption(option('--reverify-interval <ms>', 'longest time between probes of a bound lease', 'OSCPORT_REVERIFY_INTERVAL', whole(1), d.reverifyIntervalMs))
    .addOption(option('--liveness-probes <n>', 'unanswered probes before a lease expires', 'OSCPORT_LIVENESS_PROBES', whole(1), d.livenessProbes))
    .action(async (flags: StartFlags, command: Command) => {
      applyConfigFile(command, flags);
      if (flags.printConfig) printConfig(command, flags);
      else await runStart(flags);
    });

  registerAdminCommands(program);

  program
    .command('simulate')
    .description('play a DAW full of deployed AIplayer plugins against a running coordinator')
    .requiredOption('-n, --plugins <n>', 'plugin instances', whole(1, 5000))
    .option('-c, --coordinator <host:port>', 'coordinator to play against', flag(parseHostPort), { host: '127.0.0.1', port: d.port })
    .option('--juce-bug-rate <r>', 'share of instances with the JUCE bug (shared response port, co-binding)', flag(parseRate), 1)
    .option('--response-port <n>', 'the shared response port of buggy instances', flag(parsePort), 50000)
    .option('--timeout <ms>', 'give up waiting after this long (default: scales with --plugins)', whole(1))
    .option('--json', 'print the summary as JSON')
    .option('--hold', 'keep the plugins running after the summary (answering probes) until Ctrl-C')
    .action(async (flags) => runSimulate(flags));

  return program;
}

/** Config file values fill what neither a flag nor a variable set, through the same parsers. */
function applyConfigFile(command: Command, flags: StartFlags): void {
  if (flags.config === undefined) return;
  const path = resolve(flags.config);
  const options = new Map(command.options.map((o) => [o.attributeName(), o]));
  const known = [...options.keys()].filter((key) => !NOT_IN_CONFIG.has(key));
  for (const [key, value] of Object.entries(readConfigFile(path))) {
    const option = options.get(key);
    if (!option || NOT_IN_CONFIG.has(key)) {
      const suggestion = closestName(key, known);
      throw new ConfigFileError(path, `unknown setting "${key}"${suggestion ? ` (did you mean "${suggestion}"?)` : ''}`);
    }
    if (command.getOptionValueSource(key) !== 'default') continue;
    let parsed: unknown;
    try {
      parsed = option.parseArg ? option.parseArg(asFlagText(path, key, value), undefined) : asFlagText(path, key, value);
    } catch (err) {
      if (err instanceof ConfigFileError) throw err;
      throw new ConfigFileError(path, `${key}: ${(err as Error).message}`);
    }
    command.setOptionValueWithSource(key, parsed, 'config');
    (flags as unknown as Record<string, unknown>)[key] = parsed;
  }
}

/** YAML a config file can hold, each line marked with where its value came from. */
function printConfig(command: Command, flags: StartFlags): void {
  const lines: Array<[string, string]> = [];
  for (const option of command.options) {
    const key = option.attributeName();
    if (NOT_IN_CONFIG.has(key)) continue;
    let value = (flags as unknown as Record<string, unknown>)[key];
    if (key === 'pool') value = `${flags.pool.low}-${flags.pool.high}`;
    const source = command.getOptionValueSource(key) === 'cli' ? 'flag' : command.getOptionValueSource(key);
    lines.push([`${key}: ${toYaml(value, { collectionStyle: 'flow' }).trimEnd()}`, source ?? 'default']);
  }
  const width = Math.max(...lines.map(([line]) => line!.length));
  process.stdout.write(lines.map(([line, source]) => `${line!.padEnd(width)}  # ${source}\n`).join(''));
}

async function runStart(flags: StartFlags): Promise<void> {
  const logger = createLogger(flags.logLevel);
  let coordinator: Coordinator;
  try {
    coordinator = await startCoordinator({
      host: flags.host,
      port: flags.port,
      poolLow: flags.pool.low,
      poolHigh: flags.pool.high,
      reserved: flags.reserve,
      logLevel: flags.logLevel,
      assignTimeoutMs: flags.assignTimeout,
      assignResends: flags.assignResends,
      probeTimeoutMs: flags.probeTimeout,
      probeAttempts: flags.probeAttempts,
      maxTries: flags.maxTries,
      quarantineMs: flags.quarantine,
      maxInstances: flags.maxInstances,
      livenessIntervalMs: flags.livenessInterval,
      reverifyIntervalMs: flags.reverifyInterval,
      livenessProbes: flags.livenessProbes,
      dataDir: flags.dataDir,
      logger,
    });
  } catch (err) {
    await explainStartFailure(err, flags, logger);
    return;
  }
  stopOnSignals(coordinator, logger);
}

async function explainStartFailure(err: unknown, flags: StartFlags, logger: Logger): Promise<void> {
  let message: string;
  if (err instanceof BindError && err.code === 'EADDRINUSE') {
    const holders = describeHolders(await findUdpPortHolders(flags.port));
    message = `UDP ${flags.host}:${flags.port} is already in use${holders ? ` by ${holders}` : ''}. Stop it, or choose another port with --port.`;
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
    if (err instanceof ConfigFileError) {
      process.stderr.write(`oscport: ${err.message}\n`);
      process.exitCode = EXIT_USAGE;
      return;
    }
    process.stderr.write(`oscport: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = EXIT_FAILURE;
  }
}

await main(process.argv);
