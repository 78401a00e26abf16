import { parsePortConfirmed } from '../osc/wire.js';
import { rejectInvalid, type Handler } from './hub.js';

/** [PROTOCOL §4] `,sis tempID port bound|failed` */
export const handlePortConfirmed: Handler = (hub, message, _datagram, source) => {
  const parsed = parsePortConfirmed(message.args);
  if (!parsed.ok) {
    rejectInvalid(hub, message.address, source, parsed.detail);
    return;
  }
  hub.leases.confirm(parsed.value, source);
};
