import { argumentOffset, typeTags } from '../osc/codec.js';
import { ADDRESS, parse, PLUGIN_TYPES } from '../osc/contract.js';
import { oscString } from '../osc/templates.js';
import { TEMP_ID_MAX_LENGTH, TRACK_ID_MAX_LENGTH, validateIdentityArg } from '../osc/wire.js';
import type { Handler } from './hub.js';
import { refuseController } from './routing.js';

/** The coordinator's alone: a deployed plugin obeys any assignment, even bound, and moves off its port. [PROTOCOL §6] */
const COORDINATOR_ONLY = new Set<string>([ADDRESS.port_assignment, ADDRESS.port_error]);

/**
 * [PROTOCOL §13] `/coordinator/send ,ss... target address args...`: `address args...` to the
 * target's verified port (a tempID, a trackID, or `*` for every bound plugin). The arguments go
 * on as the bytes that came in, so their types and values are exactly what the controller sent.
 */
export const handleSend: Handler = (hub, message, datagram, source) => {
  const refuse = (code: Parameters<typeof refuseController>[2], detail: string) => refuseController(hub, source, code, detail, ADDRESS.send);
  if (!hub.controllers.allowed(source.address)) return refuse('forbidden', `${source.address} is neither loopback nor in --controllers-allow`);
  const parsed = parse.send(message.args);
  if (!parsed.ok) return refuse('bad_arguments', parsed.detail);
  const [id, address] = parsed.value;
  if (!address.startsWith('/')) return refuse('bad_arguments', `"${address}" is no OSC address: it must begin with /`);
  if (COORDINATOR_ONLY.has(address)) return refuse('forbidden', `${address} is the coordinator's alone: a plugin obeys any assignment, even bound`);
  const tags = typeTags(message.args).slice(2);
  // JUCE's OSC stack reads these and no others (REFERENCE §1): anything else would be dropped by the plugin.
  const foreign = [...tags].find((tag) => !PLUGIN_TYPES.includes(tag));
  if (foreign !== undefined) return refuse('bad_arguments', `type "${foreign}" cannot reach a JUCE plugin: only i, f, s and b`);
  const assignment = address === ADDRESS.track_uuid_assignment ? parse.track_uuid_assignment(message.args.slice(2)) : undefined;
  const naming = assignment?.ok ? assignment.value : undefined;
  // A trackID is learnt from this message: one the rules refuse is neither learnt nor delivered. [PROTOCOL Types]
  const problem = naming ? (validateIdentityArg(message.args[2], 'tempID', TEMP_ID_MAX_LENGTH) ?? validateIdentityArg(message.args[3], 'trackID', TRACK_ID_MAX_LENGTH)) : undefined;
  if (problem !== undefined) return refuse('bad_arguments', `${ADDRESS.track_uuid_assignment}: ${problem}`);
  const targets = id === '*' ? [...hub.leases.bound()] : [hub.leases.resolve(id)].filter((lease) => lease !== undefined);
  if (targets.length === 0 && id !== '*') {
    return hub.leases.find(id) ? refuse('not_bound', `${id} has no verified port yet`) : refuse('unknown_target', `no plugin is known as ${id}`);
  }
  const overBudget = hub.budgets.spend(`${source.address}:${source.port}`, targets.length);
  if (overBudget !== undefined) return refuse('busy', overBudget);
  const bytes = Buffer.concat([
    oscString(address),
    oscString(`,${tags}`),
    datagram.subarray(argumentOffset(datagram, message, 2), message.end),
  ]);
  for (const lease of targets) hub.send(bytes, lease.host, lease.port);
  hub.counters.sentToPlugins += targets.length;
  // ChattyChannels names a track this way: the coordinator learns it too. [PROTOCOL §13]
  if (naming) hub.leases.setTrack(...naming);
};
