import { TEMP_ID_MAX_LENGTH, TRACK_ID_MAX_LENGTH, validateIdentityArg } from '../osc/wire.js';
import { rejectInvalid, type Handler } from './hub.js';
import { forwardToControllers } from './routing.js';

/**
 * [PROTOCOL §9, §12] `/aiplayer/uuid_assignment_confirmed ,sss tempID trackID "confirmed"`: the plugin
 * took ChattyChannels' trackID; the coordinator learns it, and the controllers hear it as it came.
 */
export const handleUuidConfirmed: Handler = (hub, message, datagram, source) => {
  forwardToControllers(hub, message, datagram);
  const [tempId, trackId] = message.args;
  const problem =
    message.args.length === 3
      ? (validateIdentityArg(tempId, 'tempID', TEMP_ID_MAX_LENGTH) ?? validateIdentityArg(trackId, 'trackID', TRACK_ID_MAX_LENGTH))
      : `expects 3 arguments, got ${message.args.length}`;
  if (problem !== undefined) {
    rejectInvalid(hub, message.address, source, problem);
    return;
  }
  hub.leases.setTrack(tempId!.value as string, trackId!.value as string);
  if (hub.leases.keepAlive(tempId!.value as string)) hub.counters.pluginTraffic++;
};
