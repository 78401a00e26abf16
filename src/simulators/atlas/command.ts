import type { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import { Command, InvalidArgumentError, Option } from 'commander';
import { createLogger, type Logger } from '../../log.js';
import { DEFAULT_METERS, startAtlasSimulator, type AtlasSimulator } from './simulator.js';
import { untilStopped } from '../../cli/stop.js';

/** Ranges expand to at most this many names: `X_0..99999999` is a typo, not a device. */
const MAX_NAMES = 4096;
/** DEFAULT_METERS as a flag would write it. */
export const DEFAULT_METERS_TEXT = 'SourceMeter_0..13,ZoneMeter_0..7';

/**
 * Pure: a comma-separated list of param names, where `Name_A..B` stands for `Name_A` to `Name_B`
 * ("SourceMeter_0..13,ZoneMeter_0..7,MixMeter_2"). Duplicates are dropped; anything malformed throws.
 */
export function parseParamRanges(text: string): string[] {
  const names = new Set<string>();
  for (const raw of text.split(',')) {
    const item = raw.trim();
    const match = /^([A-Za-z][A-Za-z0-9]*)_(\d+)(?:\.\.(\d+))?$/.exec(item);
    if (!match) throw new Error(`"${item}" is not Name_N or Name_A..B`);
    const [, name, first, last = first] = match;
    const low = Number(first);
    const high = Number(last);
    if (high < low) throw new Error(`"${item}": the range runs backwards`);
    if (names.size + high - low + 1 > MAX_NAMES) throw new Error(`more than ${MAX_NAMES} params`);
    for (let index = low; index <= high; index++) names.add(`${name}_${index}`);
  }
  return [...names];
}

interface SimFlags {
  host: string;
  tcpPort: number;
  meterPort: number;
  meters: string[];
  rate: number;
}

function usage<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
}

function parsePortNumber(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65_535) throw new Error(`"${text}" is not a port (0-65535)`);
  return port;
}

function parseRateHz(text: string): number {
  const rate = Number(text);
  if (text.trim() === '' || !Number.isFinite(rate) || rate <= 0 || rate > 1000) throw new Error(`"${text}" is not a rate above 0 and up to 1000 Hz`);
  return rate;
}

/** What the simulated device can be made to do while it runs, one command a line on a piped stdin. */
export const SIM_COMMANDS = ['drop', 'silent', 'speak', 'garbage'] as const;
export type SimCommand = (typeof SIM_COMMANDS)[number];

/** Pure: a line of input as a command; undefined for a blank line; an error naming the commands for anything else. */
export function parseSimCommand(line: string): SimCommand | undefined {
  const word = line.trim().toLowerCase();
  if (word === '') return undefined;
  if ((SIM_COMMANDS as readonly string[]).includes(word)) return word as SimCommand;
  throw new Error(`unknown command "${line.trim().slice(0, 40)}": try ${SIM_COMMANDS.join(', ')}`);
}

async function perform(simulator: AtlasSimulator, command: SimCommand, logger: Logger): Promise<void> {
  switch (command) {
    case 'drop': {
      const connections = simulator.connections();
      simulator.dropConnections();
      logger.info({ connections }, 'atlas-sim: dropped every TCP connection');
      return;
    }
    case 'silent':
    case 'speak':
      simulator.setSilent(command === 'silent');
      logger.info(command === 'silent' ? 'atlas-sim: silent: keep-alives unanswered, no meters' : 'atlas-sim: speaking again');
      return;
    case 'garbage':
      await simulator.sendGarbage();
      logger.info('atlas-sim: sent malformed, overlong and split lines, and junk datagrams');
      return;
  }
}

/**
 * `atlas-sim`: a simulated Atlas processor in the foreground until SIGINT or SIGTERM. With stdin piped (a test,
 * a script), each line is a command: drop, silent, speak, garbage. A terminal's stdin is left alone: a job sent to
 * the background that read it would be stopped by the shell. `signals`, `input` and `logger` stand in for the
 * process, its stdin and stdout in tests.
 */
export function buildAtlasSimCommand(options: { logger?: Logger; signals?: EventEmitter; input?: NodeJS.ReadableStream & { isTTY?: boolean } } = {}): Command {
  return new Command('atlas-sim')
    .description('run a simulated Atlas AZM4/AZM8 processor in the foreground (Ctrl-C or SIGTERM stops it)')
    .option('--host <addr>', 'address to listen on and send meters from', '127.0.0.1')
    .option('--tcp-port <n>', 'TCP control port (0: any free port)', usage(parsePortNumber), 5321)
    .option('--meter-port <n>', "UDP port meters go to, at each client's address", usage(parsePortNumber), 3131)
    .addOption(
      new Option('--meters <list>', 'meter params, Name_A..B for ranges').argParser(usage(parseParamRanges)).default([...DEFAULT_METERS], DEFAULT_METERS_TEXT),
    )
    .option('--rate <hz>', 'meter updates per second', usage(parseRateHz), 20)
    .addHelpText('after', `\nWith stdin piped, each line is a command to the device: ${SIM_COMMANDS.join(', ')}.`)
    .action(async (flags: SimFlags) => {
      const { logger = createLogger('info'), signals = process, input = process.stdin } = options;
      // Listening before the device starts: stopped while it starts, it still closes what it opened.
      const stopping = untilStopped({ signals });
      let simulator: AtlasSimulator;
      try {
        simulator = await startAtlasSimulator({ host: flags.host, tcpPort: flags.tcpPort, meterPort: flags.meterPort, meters: flags.meters, rateHz: flags.rate, logger });
      } catch (err) {
        stopping.dispose();
        throw err;
      }
      const commands = input.isTTY ? undefined : createInterface({ input, crlfDelay: Infinity });
      commands?.on('line', (line) => {
        try {
          const command = parseSimCommand(line);
          if (command) void perform(simulator, command, logger);
        } catch (err) {
          logger.warn(`atlas-sim: ${(err as Error).message}`);
        }
      });
      await stopping.stopped;
      stopping.dispose();
      commands?.close();
      // A pipe still open would keep the process alive after the device is gone.
      if (input === process.stdin) process.stdin.destroy();
      await simulator.close();
    });
}
