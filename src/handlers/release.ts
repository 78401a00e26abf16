import { parseRelease } from '../osc/wire.js';
import { rejectInvalid, type Handler } from './hub.js';

/** [PROTOCOL §7] `,s tempID`: the port goes back to the pool at once, if the release comes from the instance's host. */
export const handleRelease: Handler = (hub, message, _datagram, source) => {
  const parsed = parseRelease(message.args);
  if (!parsed.ok) {
    rejectInvalid(hub, message.address, source, parsed.detail);
    return;
  }
  hub.leases.release(parsed.value.tempId, source.address);
};
