import { isIPv4 } from 'node:net';
import { InvalidArgumentError, type Command } from 'commander';
import { realClock, type Clock } from '../clock.js';
import { flagOf } from '../settings/flags.js';
import { port } from '../settings/index.js';
import { coordinatorCommand, fail, withCoordinator, write, type AdminIo, type CommonFlags } from './common.js';
import { ControllerClient } from './controller-client.js';
import { CoordinatorClient, type CoordinatorClientOptions } from './coordinator-client.js';

/** Where an Atlas processor listens for JSON over TCP unless told otherwise (ATLAS.md). */
const ATLAS_TCP_PORT = 5321;
/** How long a refusal of a subscription may take to come back; nothing comes back when all is well. [PROTOCOL §15] */
const REFUSAL_WAIT_MS = 300;
/** How long to wait for the device to confirm a new subscription before saying it has not yet. */
const DEVICE_WAIT_MS = 1500;
const DEVICE_POLL_MS = 100;

/** `HOST` or `HOST:PORT`, the host an IPv4 address: the coordinator tells meter datagrams apart by it. */
export function parseProcessorAddress(text: string): { host: string; tcpPort: number } {
  const match = /^([^:]+)(?::(\d+))?$/.exec(text.trim());
  if (!match) throw new InvalidArgumentError(`"${text}" is not HOST or HOST:PORT`);
  const host = match[1]!;
  if (!isIPv4(host)) throw new InvalidArgumentError(`"${host}" is not an IPv4 address (the coordinator tells a processor's meters apart by its address)`);
  return { host, tcpPort: match[2] === undefined ? ATLAS_TCP_PORT : flagOf(port)(match[2]) };
}

/**
 * `oscport atlas add|remove|subscribe|unsubscribe`: what PROTOCOL §15 offers at run time, with
 * the coordinator's answer (or refusal) told in the user's terms.
 */
export function registerAtlasCommands(atlas: Command, io: AdminIo, clientOptions: CoordinatorClientOptions): void {
  // `oscport atlas add ... -c HOST:PORT`: the flag after a subcommand is that subcommand's, not `atlas`'s own
  // (commander asks it of every command above too: the program sets it).
  atlas.enablePositionalOptions();
  const command = (nameAndArgs: string, description: string) => coordinatorCommand(atlas, io, nameAndArgs, description).option('--json', 'print the outcome as JSON');
  const withClient = withCoordinator(io, clientOptions);

  command('add', `connect the coordinator to one more Atlas processor (TCP port ${ATLAS_TCP_PORT} unless given)`)
    .argument('<id>', 'a name for it, 1-64 characters: what subscriptions and `oscport atlas` call it')
    .argument('<host[:port]>', 'its IPv4 address, and its TCP port', parseProcessorAddress)
    .action(async (id: string, address: { host: string; tcpPort: number }, flags: CommonFlags) =>
      withClient(flags, async (client) => {
        await client.request('atlas/add', { type: 's', value: id }, { type: 's', value: address.host }, { type: 'i', value: address.tcpPort });
        const processor = { id, ...address };
        write(io.stdout, flags.json ? JSON.stringify({ ok: true, processor }) : `added Atlas processor ${id} at ${address.host}:${address.tcpPort}; \`oscport atlas\` shows its link`);
      }),
    );

  command('remove', 'disconnect an Atlas processor; its subscriptions end with it')
    .argument('<id>', 'the processor, as `oscport atlas` names it')
    .action(async (id: string, flags: CommonFlags) =>
      withClient(flags, async (client) => {
        await client.request('atlas/remove', { type: 's', value: id });
        write(io.stdout, flags.json ? JSON.stringify({ ok: true, removed: { id } }) : `removed Atlas processor ${id}`);
      }),
    );

  for (const change of ['subscribe', 'unsubscribe'] as const) {
    const description =
      change === 'subscribe'
        ? "send a processor's meter to a plugin (its tempID or trackID) as /atlas/meter, from now on"
        : 'stop sending a processor\'s meter to a plugin';
    command(`${change}`, description)
      .argument('<target>', 'the plugin: its tempID or trackID')
      .argument('<processor>', 'the processor, as `oscport atlas` names it')
      .argument('<param>', 'the meter, e.g. ZoneMeter_0')
      .action(async (target: string, processor: string, param: string, flags: CommonFlags) =>
        withClient(flags, async (client) => {
          const refusal = await changeSubscription(flags, change, target, processor, param);
          if (refusal !== undefined) return fail(io, refusal);
          if (change === 'unsubscribe') {
            write(io.stdout, flags.json ? JSON.stringify({ ok: true, target, processor, param }) : `${target} no longer receives ${processor} ${param}`);
            return;
          }
          const device = await deviceAnswer(client, io.clock ?? realClock, processor, param);
          if (device.state === 'failed') {
            // Nothing left behind of a subscription the device will never serve.
            await changeSubscription(flags, 'unsubscribe', target, processor, param);
            return fail(io, `${processor} refused ${param}: ${device.error}`);
          }
          if (flags.json) write(io.stdout, JSON.stringify({ ok: true, target, processor, param, device: device.state }));
          else write(io.stdout, `${target} receives ${processor} ${param} as /atlas/meter${device.state === 'pending' ? ' (the device has not confirmed it yet)' : ''}`);
        }),
      );
  }
}

/** Sends the change from a socket of its own and waits for a refusal; undefined when none came. */
async function changeSubscription(flags: CommonFlags, change: 'subscribe' | 'unsubscribe', target: string, processor: string, param: string): Promise<string | undefined> {
  const client = await ControllerClient.open(flags.coordinator);
  try {
    return await new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), REFUSAL_WAIT_MS);
      client.once('refused', ({ detail }) => {
        clearTimeout(timer);
        resolve(detail);
      });
      client.meterSubscription(change, target, processor, param);
    });
  } finally {
    await client.close();
  }
}

type DeviceAnswer = { state: 'pending' | 'active' } | { state: 'failed'; error: string };

/** What the device made of a new subscription, once it has said (or after a short wait, pending). */
async function deviceAnswer(client: CoordinatorClient, clock: Clock, processor: string, param: string): Promise<DeviceAnswer> {
  const deadline = clock.now() + DEVICE_WAIT_MS;
  for (;;) {
    const bridge = await client.atlas();
    const meter = bridge?.processors.find(({ id }) => id === processor)?.subscriptions.find((subscription) => subscription.param === param);
    if (meter?.state === 'failed') return { state: 'failed', error: meter.error.message };
    if (meter?.state === 'active' || clock.now() >= deadline) return { state: meter?.state ?? 'pending' };
    await new Promise((resolve) => clock.setTimeout(resolve, DEVICE_POLL_MS));
  }
}
