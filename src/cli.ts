#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { startCoordinator, type Coordinator } from './coordinator.js';
import {
  DEFAULT_SETTINGS,
  parseInteger,
  parseLogLevel,
  parsePort,
  parsePortList,
  parseRange,
  SettingsError,
  type CoordinatorSettings,
} from './core/settings.js';
import { createLogger, type Logger } from './log.js';
import { describeHolders, findUdpPortHolders } from './port-holder.js';
import { createProgress } from './simulate/progress.js';
import { formatSummary, runSimulation } from './simulate/run.js';
import { BindError } from './udp.js';

const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** Turns a settings parser into a commander one, so a bad value is a usage error naming the flag. */
function flag<T>(parse: (key: string, text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse('value', text);
    } catch (err) {
      throw new InvalidArgumentError(err instanceof SettingsError ? err.message.replace(/^value: /, '') : String(err));
    }
  };
}

const whole = (min: number, max = Number.MAX_SAFE_INTEGER) => flag((key, text) => parseInteger(key, text, min, max));

function parseRate(_key: string, text: string): number {
  const rate = Number(text);
  if (text.trim() === '' || !Number.isFinite(rate) || rate < 0 || rate > 1) {
    throw new SettingsError('rate', `"${text}" is not a number from 0 to 1`);
  }
  return rate;
}

function parseHostPort(_key: string, text: string): { host: string; port: number } {
  const match = /^(.+):(\d+)$/.exec(text.trim());
  if (!match) throw new SettingsError('coordinator', `"${text}" is not HOST:PORT`);
  return { host: match[1]!, port: parsePort('coordinator', match[2]!) };
}

interface StartFlags {
  port: number;
  host: string;
  pool: { low: number; high: number };
  reserve: number[];
  logLevel: CoordinatorSettings['logLevel'];
  assignTimeout: number;
  assignResends: number;
  probeTimeout: number;
  probeAttempts: number;
  maxTries: number;
  quarantine: number;
  maxInstances: number;
}

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
    .addOption(option('-p, --port <n>', 'UDP port to own', 'OSCPORT_PORT', flag(parsePort), d.port))
    .addOption(option('--host <addr>', 'IPv4 address to bind', 'OSCPORT_HOST', (t) => t, d.host))
    .addOption(option('--pool <low-high>', 'ports handed out', 'OSCPORT_POOL', flag(parseRange), { low: d.poolLow, high: d.poolHigh }, `${d.poolLow}-${d.poolHigh}`))
    .addOption(option('--reserve <n,n>', 'pool ports never handed out ("" for none)', 'OSCPORT_RESERVE', flag(parsePortList), d.reserved, d.reserved.join(',')))
    .addOption(option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent', 'OSCPORT_LOG_LEVEL', flag(parseLogLevel), d.logLevel))
    .addOption(option('--assign-timeout <ms>', 'first wait for a confirmation (doubles)', 'OSCPORT_ASSIGN_TIMEOUT', whole(1), d.assignTimeoutMs))
    .addOption(option('--assign-resends <n>', 'resends before an offer lapses', 'OSCPORT_ASSIGN_RESENDS', whole(0), d.assignResends))
    .addOption(option('--probe-timeout <ms>', 'first wait for a probe answer (doubles)', 'OSCPORT_PROBE_TIMEOUT', whole(1), d.probeTimeoutMs))
    .addOption(option('--probe-attempts <n>', 'probes before a binding counts as failed', 'OSCPORT_PROBE_ATTEMPTS', whole(1), d.probeAttempts))
    .addOption(option('--max-tries <n>', 'binding attempts per request', 'OSCPORT_MAX_TRIES', whole(1), d.maxTries))
    .addOption(option('--quarantine <ms>', 'how long a failed port is kept out', 'OSCPORT_QUARANTINE', whole(0), d.quarantineMs))
    .addOption(option('--max-instances <n>', 'instances tracked at once', 'OSCPORT_MAX_INSTANCES', whole(1), d.maxInstances))
    .action(async (flags: StartFlags) => runStart(flags));

  program
    .command('simulate')
    .description('play a DAW full of deployed AIplayer plugins against a running coordinator')
    .requiredOption('-n, --plugins <n>', 'plugin instances', whole(1, 5000))
    .option('-c, --coordinator <host:port>', 'coordinator to play against', flag(parseHostPort), { host: '127.0.0.1', port: d.port })
    .option('--juce-bug-rate <r>', 'share of instances with the JUCE bug (shared response port, co-binding)', flag(parseRate), 1)
    .option('--response-port <n>', 'the shared response port of buggy instances', flag(parsePort), 50000)
    .option('--timeout <ms>', 'give up waiting after this long (default: scales with --plugins)', whole(1))
    .option('--json', 'print the summary as JSON')
    .action(async (flags) => runSimulate(flags));

  return program;
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
  } else if (err instanceof BindError || err instanceof SettingsError) {
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
}

async function runSimulate(flags: SimulateFlags): Promise<void> {
  const progress = createProgress(flags.plugins);
  const summary = await runSimulation({
    plugins: flags.plugins,
    coordinator: flags.coordinator,
    juceBugRate: flags.juceBugRate,
    responsePort: flags.responsePort,
    ...(flags.timeout === undefined ? {} : { timeoutMs: flags.timeout }),
    onProgress: (verified, failed) => progress.update(verified, failed),
  });
  progress.finish();
  process.stdout.write(flags.json ? `${JSON.stringify(summary)}\n` : `${formatSummary(summary)}\n`);
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
    process.stderr.write(`oscport: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = EXIT_FAILURE;
  }
}

await main(process.argv);
