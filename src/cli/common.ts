import type { Writable } from 'node:stream';
import { Option, type Command } from 'commander';
import { DEFAULT_SETTINGS, parseHostPort } from '../settings/index.js';
import { AdminError, AdminReplyError, AdminUnavailableError, CoordinatorClient, type CoordinatorAddress, type CoordinatorClientOptions } from './coordinator-client.js';
import { flag } from '../settings/flags.js';
import { MESSAGE_PREFIX } from './style.js';
import type { Clock } from '../clock.js';

/** Where the commands that talk to a running coordinator write, and how long they wait (tests shorten it). */
export interface AdminIo {
  stdout: Writable;
  stderr: Writable;
  /** First wait for a reply before sending again, doubling after (default 200 ms); probes wait 15 s each. */
  timeoutMs?: number;
  probeTimeoutMs?: number;
  /** Time between --watch refreshes (default 1000 ms). */
  watchIntervalMs?: number;
  /** Ends --watch when aborted; by default SIGINT does. */
  interrupt?: AbortSignal;
  /** Whose time the waits are counted in (tests turn a SimulatedClock). */
  clock?: Clock;
}

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const DEFAULT_COORDINATOR: CoordinatorAddress = { host: '127.0.0.1', port: DEFAULT_SETTINGS.port };

export interface CommonFlags {
  coordinator: CoordinatorAddress;
  json?: boolean;
}

/** A command that talks to the running coordinator: `-c, --coordinator HOST:PORT`, its output where `io` says. */
export function coordinatorCommand(program: Command, io: AdminIo, nameAndArgs: string, description: string): Command {
  const { host, port } = DEFAULT_COORDINATOR;
  const sub = program
    .command(nameAndArgs)
    .description(description)
    .addOption(
      new Option('-c, --coordinator <host:port>', 'the running coordinator')
        .argParser(flag(parseHostPort))
        .default(DEFAULT_COORDINATOR, `${host}:${port}`),
    );
  // Help and usage errors go where the commands' own output goes.
  return sub.configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) });
}

/** Runs `use` with a client of the coordinator the flags name; a failure to reach it, or its refusal, is told on stderr (exit 1). */
export function withCoordinator(io: AdminIo, options: CoordinatorClientOptions) {
  return async (flags: CommonFlags, use: (client: CoordinatorClient) => Promise<void>): Promise<void> => {
    let client: CoordinatorClient | undefined;
    try {
      client = await CoordinatorClient.open(flags.coordinator, options);
      await use(client);
    } catch (err) {
      if (!isAdminFailure(err)) throw err;
      fail(io, err.message);
    } finally {
      await client?.close();
    }
  };
}

export function isAdminFailure(err: unknown): err is AdminError | AdminUnavailableError | AdminReplyError {
  return err instanceof AdminError || err instanceof AdminUnavailableError || err instanceof AdminReplyError;
}

export function fail(io: AdminIo, message: string): void {
  write(io.stderr, `${MESSAGE_PREFIX} ${message}`);
  process.exitCode = EXIT_FAILURE;
}

export function write(stream: Writable, text: string): void {
  stream.write(`${text}\n`);
}
