import { END_STATES } from '../../machines/lease.js';
import { Option, type Command } from 'commander';
import type { RmsAnswer, Silent } from '../routing/messages.js';
import type { DecodedMessage, OscArg } from '../osc/codec.js';
import { PLUGIN_TYPES, textAt } from '../osc/contract.js';
import { coordinatorCommand, EXIT_USAGE, fail, isAdminFailure, write, type AdminIo, type CommonFlags } from './common.js';
import { MESSAGE_PREFIX } from './style.js';
import { ControllerClient } from './controller-client.js';
import { CoordinatorClient } from './coordinator-client.js';
import { float32Text, formatTable, printable } from './format.js';
import { untilStopped } from './stop.js';
import { wholeNumber } from '../settings/index.js';
import { flagOf } from '../settings/flags.js';

/** How long `send` waits for the coordinator to refuse what it sent: it says nothing when all is well. [PROTOCOL §13] */
const REFUSAL_WAIT_MS = 300;

/**
 * The commands a controller of the coordinator has (PROTOCOL §11-§14): `send` to plugins, `tail`
 * their traffic, `calibrate-rms` in one gather.
 */
export function registerRoutingCommands(program: Command, io: AdminIo = { stdout: process.stdout, stderr: process.stderr }): void {
  const command = (nameAndArgs: string, description: string) => coordinatorCommand(program, io, nameAndArgs, description);

  command('send', 'send an OSC message to plugins through the coordinator, as liblo\'s oscsend takes it')
    .argument('<target>', "a tempID, a trackID, or '*' (quoted, or the shell expands it) for every bound plugin")
    .argument('<address>', 'the OSC address, e.g. /aiplayer/start_tone')
    .argument('[types]', 'one letter per value: i (int32), f (float32), s (string), b (blob, in hex); JUCE reads no others')
    .argument('[values...]', 'the values, one per type letter')
    .addHelpText('after', "\nExamples:\n  oscport send '*' /aiplayer/start_tone ff 440 -12\n  oscport send TR1 /aiplayer/set_parameter sf gain 0.5")
    .action(async (target: string, address: string, types: string | undefined, values: string[], flags: CommonFlags, cmd: Command) => {
      const args = parseValues(cmd, address, types ?? '', values);
      await asController(io, flags, async (client) => {
        const refused = new Promise<string | undefined>((resolve) => {
          client.once('refused', ({ code, detail }) => resolve(`${code}: ${detail}`));
          setTimeout(() => resolve(undefined), REFUSAL_WAIT_MS);
        });
        client.sendTo(target, address, args);
        const refusal = await refused;
        if (refusal) fail(io, refusal);
        else write(io.stdout, `sent ${address}${types ? ` ,${types}` : ''} to ${target}`);
      });
    });

  command('tail', 'print plugin traffic as the coordinator forwards it, until Ctrl-C')
    .option('--address <glob>', 'only addresses matching this pattern (* and ? as wildcards), e.g. "/aiplayer/tone_*"')
    .option('--json', 'one JSON object per line')
    .action(async (flags: CommonFlags & { address?: string }) =>
      asController(io, flags, async (client, coordinator) => {
        // Listening before it subscribes: a SIGTERM as soon as it is registered still unsubscribes it.
        const stopping = untilStopped(io.interrupt ? { interrupt: io.interrupt } : {});
        const names = new Names((await coordinator.leases()).map(({ tempId, trackId }) => ({ tempId, trackId })));
        client.on('lease', ({ tempId, state }) => ((END_STATES as readonly string[]).includes(state) ? names.forget(tempId) : names.add(tempId, null)));
        client.on('track', ({ tempId, trackId }) => names.add(tempId, trackId));
        const wanted = flags.address === undefined ? undefined : globToRegExp(flags.address);
        client.on('traffic', (message) => {
          if (wanted && !wanted.test(message.address)) return;
          const from = names.of(textAt(message.args, 0));
          write(io.stdout, flags.json ? JSON.stringify({ at: new Date().toISOString(), ...from, ...asJson(message) }) : formatTraffic(from, message));
        });
        const where = `${client.coordinator.host}:${client.coordinator.port}`;
        client.on('lost', () => write(io.stderr, `${MESSAGE_PREFIX} no answer from the coordinator on ${where}: waiting for it (Ctrl-C to stop)`));
        client.on('regained', () => write(io.stderr, `${MESSAGE_PREFIX} the coordinator on ${where} answers again: tailing`));
        try {
          await client.subscribe();
          await stopping.stopped;
        } finally {
          stopping.dispose();
        }
      }),
    );

  command('calibrate-rms', 'one calibration gather: every bound plugin RMS at once, and who did not answer')
    .addOption(new Option('--timeout <ms>', 'how long to wait for the slowest plugin, 1-10000').argParser(flagOf(wholeNumber({ min: 1, max: 10_000, argument: 'MS' }))).default(500))
    .option('--json', 'print {"answers": [...], "silent": [...]}')
    .action(async (flags: CommonFlags & { timeout: number }) =>
      asController(io, flags, async (client) => {
        const { answers, silent } = await client.gather(flags.timeout);
        if (flags.json) write(io.stdout, JSON.stringify({ answers, silent }));
        else write(io.stdout, formatGather(answers, silent));
        if (silent.length > 0) process.exitCode = 1;
      }),
    );
}

/** Checks a coordinator answers (a fast status query), then hands over a controller client; closes both. */
async function asController(io: AdminIo, flags: CommonFlags, use: (client: ControllerClient, coordinator: CoordinatorClient) => Promise<void>) {
  let coordinator: CoordinatorClient | undefined;
  let client: ControllerClient | undefined;
  try {
    coordinator = await CoordinatorClient.open(flags.coordinator, io.timeoutMs === undefined ? {} : { timeoutMs: io.timeoutMs });
    await coordinator.status();
    client = await ControllerClient.open(flags.coordinator);
    await use(client, coordinator);
  } catch (err) {
    if (!isAdminFailure(err)) throw err;
    fail(io, err.message);
  } finally {
    await Promise.all([client?.close(), coordinator?.close()]);
  }
}

/** `oscsend`-style values: one per letter of `types`, each read as its type says; a usage error (exit 2) otherwise. */
function parseValues(cmd: Command, address: string, types: string, values: readonly string[]): OscArg[] {
  const usageError = (message: string) => cmd.error(`${MESSAGE_PREFIX} ${message}`, { exitCode: EXIT_USAGE });
  if (!address.startsWith('/')) usageError(`"${address}" is not an OSC address (it starts with /)`);
  const unread = [...types].find((type) => !PLUGIN_TYPES.includes(type));
  if (unread !== undefined) usageError(`"${unread}" is not a type a plugin reads: only i (int32), f (float32), s (string) and b (blob, in hex)`);
  if (types.length !== values.length) usageError(`${types.length} type(s) "${types}" but ${values.length} value(s)`);
  return [...types].map((type, n) => {
    const text = values[n]!;
    const bad = (what: string) => usageError(`value ${n + 1} "${text}" is not ${what}`);
    switch (type) {
      case 'i':
        return /^-?\d+$/.test(text) && Math.abs(Number(text)) <= 2 ** 31 ? { type: 'i', value: Number(text) } : bad('an int32');
      case 'f':
        return text.trim() !== '' && Number.isFinite(Number(text)) ? { type: 'f', value: Number(text) } : bad('a number');
      case 's':
        return { type: 's', value: text };
      case 'b':
        return /^([0-9a-fA-F]{2})*$/.test(text) ? { type: 'b', value: Buffer.from(text, 'hex') } : bad('hex bytes');
      default:
        return usageError(`"${type}" is not a type a plugin reads`);
    }
  });
}

/** tempID and trackID of whoever a message's first argument names, as far as the lease table says. */
class Names {
  private readonly tracks = new Map<string, string | null>();

  constructor(leases: ReadonlyArray<{ tempId: string; trackId: string | null }>) {
    for (const { tempId, trackId } of leases) this.add(tempId, trackId);
  }

  add(tempId: string, trackId: string | null): void {
    this.tracks.set(tempId, trackId ?? this.tracks.get(tempId) ?? null);
  }

  forget(tempId: string): void {
    this.tracks.delete(tempId);
  }

  of(id: string | undefined): { tempId: string | null; trackId: string | null } {
    if (id === undefined) return { tempId: null, trackId: null };
    if (this.tracks.has(id)) return { tempId: id, trackId: this.tracks.get(id) ?? null };
    for (const [tempId, trackId] of this.tracks) if (trackId === id) return { tempId, trackId };
    return { tempId: null, trackId: null };
  }
}

function globToRegExp(glob: string): RegExp {
  const pattern = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${pattern}$`);
}

function asJson(message: DecodedMessage) {
  return { address: message.address, args: message.args.map(({ type, value }) => ({ type, value: value instanceof Uint8Array ? Buffer.from(value).toString('hex') : value })) };
}

/** `12:00:01.234  tele-1 (TR1)  /aiplayer/telemetry ,sfffff tele-1 0.5 ...`, the values as oscdump shows them. */
function formatTraffic(from: { tempId: string | null; trackId: string | null }, message: DecodedMessage): string {
  const time = new Date().toTimeString().slice(0, 8) + `.${String(Date.now() % 1000).padStart(3, '0')}`;
  const who = from.tempId === null ? '-' : `${printable(from.tempId)}${from.trackId ? ` (${printable(from.trackId)})` : ''}`;
  const args = message.args.map(({ type, value }) =>
    type === 's' ? printable(String(value)) : type === 'f' ? float32Text(value as number) : value instanceof Uint8Array ? `<${value.length} bytes>` : String(value),
  );
  return `${time}  ${who}  ${message.address} ,${message.args.map((a) => a.type).join('')} ${args.join(' ')}`.trimEnd();
}

function formatGather(answers: readonly RmsAnswer[], silent: readonly Silent[]): string {
  const table = formatTable<RmsAnswer>(
    [
      { title: 'TEMPID', cell: (a) => printable(a.tempId) },
      { title: 'TRACK', cell: (a) => (a.trackId === null ? '-' : printable(a.trackId)) },
      { title: 'PORT', right: true, cell: (a) => String(a.port) },
      { title: 'RMS', right: true, cell: (a) => a.rms.toFixed(4) },
    ],
    answers,
  );
  const lines = [answers.length === 0 ? 'no answers' : table];
  if (silent.length > 0) lines.push(`no answer from: ${silent.map((p) => `${printable(p.tempId)} (port ${p.port})`).join(', ')}`);
  return lines.join('\n');
}
