import { parse } from '../osc/contract.js';
import { TEMP_ID_MAX_LENGTH, TRACK_ID_MAX_LENGTH, validateIdentityArg } from '../osc/wire.js';
import { rejectInvalid, type Handler } from './hub.js';
import { forwardToControllers } from './routing.js';

/**
 * [PROTOCOL §9, §12] `/aiplayer/uuid_assignment_confirmed ,sss tempID trackID "confirmed"`: the plugin
 * took ChattyChannels' trackID; the coordinator learns it, and the controllers hear it as it came.
 */
export const handleUuidConfirmed: Handler = (hub, message, datagram, source) => {
  forwardToControllers(hub, message, datagram);
  const parsed = parse.uuid_assignment_confirmed(message.args);
  if (!parsed.ok) {
    rejectInvalid(hub, message.address, source, parsed.detail);
    return;
  }
  const problem = validateIdentityArg(message.args[0], 'tempID', TEMP_ID_MAX_LENGTH) ?? validateIdentityArg(message.args[1], 'trackID', TRACK_ID_MAX_LENGTH);
  if (problem !== undefined) {
    rejectInvalid(hub, message.address, source, problem);
    return;
  }
  const [tempId, trackId] = parsed.value;
  hub.leases.setTrack(tempId, trackId);
  if (hub.leases.keepAlive(tempId)) hub.counters.pluginTraffic++;
};
