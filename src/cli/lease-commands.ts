import { Option, type Command } from 'commander';
import { flag } from '../settings/flags.js';
import { parsePort } from '../settings/index.js';
import { createPortCheck } from '../net/port-check.js';
import { findUdpPortHolders } from '../net/port-holder.js';
import {
  CoordinatorClient,
  AdminError,
  AdminReplyError,
  AdminUnavailableError,
  LEASE_STATES,
  type CoordinatorAddress,
  type CoordinatorClientOptions,
  type LeaseView,
  type LeaseState,
} from './coordinator-client.js';
import { coordinatorCommand, EXIT_FAILURE, isAdminFailure, withCoordinator, write, type AdminIo, type CommonFlags } from './common.js';
import { formatAtlas, formatHolders, formatLeaseTable, formatPortLease, formatRtt, formatStaleLease, formatStatus } from './format.js';
import { MESSAGE_PREFIX } from './style.js';
import { untilStopped } from './stop.js';
import { registerAtlasCommands } from './atlas-commands.js';
import { realClock, type Clock } from '../clock.js';
import { createAtlasCounters } from '../atlas/counters.js';

export type { AdminIo } from './common.js';

const CLEAR_SCREEN = '\x1b[H\x1b[2J';

const portArgument = flag(parsePort);
/** A tempID, or a port: all digits is a port, and one out of range is a usage error as for `probe` and `who`. */
const leaseTarget = (text: string) => (/^\d+$/.test(text.trim()) ? String(portArgument(text)) : text);

/**
 * Adds the commands that query a running coordinator (leases, status, release, probe)
 * and `who`. Add them after `program.exitOverride()` so usage errors surface as CommanderErrors.
 */
export function registerAdminCommands(program: Command, io: AdminIo = { stdout: process.stdout, stderr: process.stderr }): void {
  const command = (nameAndArgs: string, description: string) => coordinatorCommand(program, io, nameAndArgs, description);
  const clientOptions = {
    ...(io.timeoutMs === undefined ? {} : { timeoutMs: io.timeoutMs }),
    ...(io.probeTimeoutMs === undefined ? {} : { probeTimeoutMs: io.probeTimeoutMs }),
    ...(io.clock === undefined ? {} : { clock: io.clock }),
  };
  const withClient = withCoordinator(io, clientOptions);

  command('leases', 'list the leases of the running coordinator')
    .option('--json', 'print a JSON array of lease objects')
    .addOption(new Option('--state <state>', 'only leases in this state').choices(LEASE_STATES))
    .option('--watch', 'refresh every second until Ctrl-C')
    .action(async (flags: CommonFlags & { state?: LeaseState; watch?: boolean }) =>
      withClient(flags, async (client) => {
        const render = (leases: LeaseView[]) => (flags.json ? JSON.stringify(leases) : formatLeaseTable(leases));
        if (flags.watch) await watch(io, client, flags, render);
        else write(io.stdout, render(await client.leases(flags.state)));
      }),
    );

  command('status', 'show the running coordinator: uptime, pool, leases by state, counters')
    .option('--json', 'print the status as JSON')
    .action(async (flags: CommonFlags) =>
      withClient(flags, async (client) => {
        const status = await client.status();
        write(io.stdout, flags.json ? JSON.stringify(status) : formatStatus(status));
      }),
    );

  const atlas = command('atlas', 'show the Atlas bridge: the meter socket, processors, subscriptions, consumers and update rates')
    .option('--json', 'print the bridge status as JSON')
    .action(async (flags: CommonFlags) =>
      withClient(flags, async (client) => {
        const atlas = await client.atlas();
        // No processor yet: the same shape, empty, so a script reads `.processors` either way. [PROTOCOL §15]
        const json = () => JSON.stringify(atlas ?? { meterSocket: null, processors: [], counters: createAtlasCounters() });
        write(io.stdout, flags.json ? json() : formatAtlas(atlas));
      }),
    );
  registerAtlasCommands(atlas, io, clientOptions);

  command('release', 'end a lease, by tempID or port')
    .argument('<target>', 'the lease to end: its tempID, or its port (1-65535)', leaseTarget)
    .action(async (target: string, flags: CommonFlags) =>
      withClient(flags, async (client) => {
        const released = await client.release(target);
        write(io.stdout, `released ${released.tempId} (port ${released.port})`);
      }),
    );

  command('probe', 'have the coordinator probe a port now; exits 1 when nothing answers')
    .argument('<port>', 'UDP port to probe, 1-65535', portArgument)
    .option('--json', 'print the coordinator\'s reply as JSON, "ok" false when nothing answered')
    .action(async (port: number, flags: CommonFlags) =>
      withClient(flags, async (client) => {
        // A probe's reply takes seconds, so a missing coordinator would go unnoticed for 3 x 15 s; a status request tells at once.
        await client.ping();
        const result = await client.probe(port);
        // "ok" says what the exit code says: the port answered.
        if (flags.json) write(io.stdout, JSON.stringify({ ...result, ok: result.answered }));
        else if (result.answered) write(io.stdout, `port ${port}: answered by ${result.tempId} in ${formatRtt(result.rttMs)}`);
        else write(io.stdout, `port ${port}: no answer within ${result.timeoutMs} ms`);
        if (!result.answered) process.exitCode = EXIT_FAILURE;
      }),
    );

  command('who', 'which local process holds a UDP port, and which lease the coordinator has on it')
    .argument('<port>', 'UDP port to look up, 1-65535', portArgument)
    .option('--json', 'print {port, holders, held, lease, leaseStale, coordinator} as JSON')
    .action(async (port: number, flags: CommonFlags) => {
      const [holders, held, answer] = await Promise.all([
        findUdpPortHolders(port),
        createPortCheck()([port]).then((ports) => ports.has(port)),
        leaseOnPort(flags.coordinator, clientOptions, port),
      ]);
      // A bound lease on a port no socket holds: its plugin is gone (or never bound); the liveness checks will end it.
      const leaseStale = answer.kind === 'lease' && answer.lease.state === 'bound' && !held;
      if (flags.json) {
        const lease = answer.kind === 'lease' ? answer.lease : null;
        const coordinator = answer.kind === 'unavailable' ? 'unavailable' : 'answered';
        write(io.stdout, JSON.stringify({ port, holders, held, lease, leaseStale, coordinator }));
        return;
      }
      write(io.stdout, formatHolders(port, holders, held));
      if (answer.kind !== 'lease') write(io.stdout, `coordinator: ${answer.message}`);
      else write(io.stdout, leaseStale ? formatStaleLease(answer.lease) : formatPortLease(answer.lease));
    });
}

type PortLeaseAnswer = { kind: 'lease'; lease: LeaseView } | { kind: 'none' | 'unavailable'; message: string };

/** For `who`, a coordinator that is missing or says no is an answer, not a failure: the local lookup stands. */
async function leaseOnPort(coordinator: CoordinatorAddress, options: CoordinatorClientOptions, port: number): Promise<PortLeaseAnswer> {
  let client: CoordinatorClient | undefined;
  try {
    client = await CoordinatorClient.open(coordinator, options);
    return { kind: 'lease', lease: await client.lease(String(port)) };
  } catch (err) {
    if (err instanceof AdminError) return { kind: 'none', message: err.message };
    if (err instanceof AdminUnavailableError || err instanceof AdminReplyError) return { kind: 'unavailable', message: err.message };
    throw err;
  } finally {
    await client?.close();
  }
}

/**
 * Redraws the leases until interrupted. A coordinator that stops answering is
 * reported and asked again next time round, so a restart does not end the watch.
 */
async function watch(
  io: AdminIo,
  client: CoordinatorClient,
  flags: { json?: boolean; state?: LeaseState },
  render: (leases: LeaseView[]) => string,
): Promise<void> {
  const interrupted = untilStopped(io.interrupt ? { interrupt: io.interrupt } : {});
  // Closing the client rejects a request in flight, so Ctrl-C does not wait out its timeout.
  interrupted.signal.addEventListener('abort', () => void client.close(), { once: true });
  const tty = (io.stdout as Partial<NodeJS.WriteStream>).isTTY === true && !flags.json;
  const clock = io.clock ?? realClock;
  let snapshots = 0;
  try {
    while (!interrupted.signal.aborted) {
      const started = clock.now();
      try {
        const text = render(await client.leases(flags.state));
        if (interrupted.signal.aborted) break;
        const separator = tty ? CLEAR_SCREEN : snapshots > 0 && !flags.json ? '\n' : '';
        write(io.stdout, separator + text);
        snapshots++;
      } catch (err) {
        if (interrupted.signal.aborted) break;
        if (!isAdminFailure(err)) throw err;
        if (tty) io.stdout.write(CLEAR_SCREEN);
        write(io.stderr, `${MESSAGE_PREFIX} ${err.message}`);
      }
      await pause(clock, (io.watchIntervalMs ?? 1000) - (clock.now() - started), interrupted.signal);
    }
  } finally {
    interrupted.dispose();
  }
}

/** Resolves after `ms` on `clock`, or at once when `signal` is aborted. */
function pause(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clock.clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = clock.setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
