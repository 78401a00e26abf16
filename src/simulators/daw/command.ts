import { Option, type Command } from 'commander';
import { coordinatorCommand, EXIT_FAILURE, fail, write, type AdminIo } from '../../cli/common.js';
import { AdminUnavailableError, CoordinatorClient, isLoopbackHost, type CoordinatorAddress } from '../../cli/coordinator-client.js';
import { flag, flagOf } from '../../settings/flags.js';
import { parsePort, SettingsError, wholeNumber } from '../../settings/index.js';
import { createProgress } from './progress.js';
import { formatSummary, runSimulation, type SimulationSummary } from './run.js';
import { untilStopped } from '../../cli/stop.js';

interface SimulateFlags {
  plugins: number;
  coordinator: CoordinatorAddress;
  juceBugRate: number;
  responsePort: number;
  timeout?: number;
  json?: boolean;
  hold?: boolean;
  dawFirst?: boolean;
}

function parseRate(_key: string, text: string): number {
  const rate = Number(text);
  if (text.trim() === '' || !Number.isFinite(rate) || rate < 0 || rate > 1) {
    throw new SettingsError('rate', `"${text}" is not a number from 0 to 1`);
  }
  return rate;
}

/** `oscport simulate`: a DAW full of deployed plugins, in this process, against a running coordinator. */
export function registerSimulateCommand(program: Command, io: AdminIo = { stdout: process.stdout, stderr: process.stderr }): void {
  coordinatorCommand(program, io, 'simulate', 'play a DAW full of deployed AIplayer plugins against a running coordinator')
    .requiredOption('-n, --plugins <n>', 'plugin instances, 1-5000', flagOf(wholeNumber({ min: 1, max: 5000 })))
    .option('--juce-bug-rate <r>', 'share of instances with the JUCE bug (shared response port, co-binding), 0 to 1', flag(parseRate), 1)
    .option('--response-port <n>', 'the shared response port of buggy instances, 1-65535', flag(parsePort), 50000)
    .addOption(
      new Option('--timeout <ms>', 'give up waiting after this long, at least 1')
        .argParser(flagOf(wholeNumber({ min: 1, argument: 'MS' })))
        .default(undefined, '10 s + 150 ms per buggy instance; with --daw-first, none'),
    )
    .option('--daw-first', 'the DAW opens first: start even when no coordinator answers yet, each request sent once into the void; a coordinator started later finds them')
    .option('--json', 'print the summary as one JSON line')
    .option('--hold', 'keep the plugins running after the summary (answering probes) until Ctrl-C')
    .action(async (flags: SimulateFlags) => runSimulate(flags, io));
}

async function runSimulate(flags: SimulateFlags, io: AdminIo): Promise<void> {
  // Each plugin asks only once, as the deployed one does: with nobody there, it would wait out its whole timeout in silence,
  // unless that is the point (--daw-first). The coordinator answers status queries from loopback only, so only a local one can be asked.
  if (!flags.dawFirst && isLoopbackHost(flags.coordinator.host)) {
    const silence = await silenceOf(flags.coordinator);
    if (silence) {
      fail(io, silence.message);
      return;
    }
  }
  const progress = createProgress(flags.plugins, io.stderr);
  const { host, port } = flags.coordinator;
  const asked = () => write(io.stderr, `${flags.plugins} plugins have asked ${host}:${port} once each, as a DAW opened first does; waiting for a coordinator to find them (Ctrl-C to stop)`);
  // Ctrl-C stops the waiting (or the holding): the summary still tells what happened.
  const stop = untilStopped(io.interrupt ? { interrupt: io.interrupt } : {});
  const report = (summary: SimulationSummary) => {
    progress.finish();
    write(io.stdout, flags.json ? JSON.stringify(summary) : formatSummary(summary));
  };
  const summary = await runSimulation({
    plugins: flags.plugins,
    coordinator: flags.coordinator,
    juceBugRate: flags.juceBugRate,
    responsePort: flags.responsePort,
    ...(flags.timeout === undefined ? (flags.dawFirst ? { timeoutMs: Infinity } : {}) : { timeoutMs: flags.timeout }),
    onProgress: (verified, failed) => progress.update(verified, failed),
    ...(flags.dawFirst ? { onAsked: asked } : {}),
    signal: stop.signal,
    ...(flags.hold
      ? {
          hold: async (held) => {
            report(held);
            if (stop.signal.aborted) return;
            write(io.stderr, `holding ${held.bound} plugins; Ctrl-C to stop`);
            await stop.stopped;
          },
        }
      : {}),
  });
  stop.dispose();
  if (!flags.hold) report(summary);
  if (summary.failed > 0) process.exitCode = EXIT_FAILURE;
}

/** Why nothing answers on `coordinator`, or undefined when something does. */
async function silenceOf(coordinator: CoordinatorAddress): Promise<AdminUnavailableError | undefined> {
  let client: CoordinatorClient | undefined;
  try {
    client = await CoordinatorClient.open(coordinator);
    await client.ping();
    return undefined;
  } catch (err) {
    if (err instanceof AdminUnavailableError) return err;
    throw err;
  } finally {
    await client?.close();
  }
}
