import { endpointOf } from '../leases/lease.js';
import { refuse } from '../leases/effects.js';
import type { DecodedArg } from '../osc/codec.js';
import { intAt } from '../osc/contract.js';
import { parseRequestPort } from '../osc/wire.js';
import { rejectInvalid, type Handler } from './hub.js';

/** [PROTOCOL §1] `,si tempID preferredPort` or `,sii tempID preferredPort responsePort` */
export const handleRequestPort: Handler = (hub, message, _datagram, source) => {
  const parsed = parseRequestPort(message.args);
  if (parsed.ok) {
    hub.leases.request(parsed.value, source);
    return;
  }
  rejectInvalid(hub, message.address, source, parsed.detail);
  refuse(hub.send, endpointOf(source.address, replyPort(message.args) ?? source.port), parsed.tempId ?? '', 'invalid_request', parsed.detail);
};

/** Even a bad request deserves its answer where the sender listens, if it said where. */
function replyPort(args: readonly DecodedArg[]): number | undefined {
  const port = intAt(args, 2);
  return port !== undefined && port > 0 && port <= 65535 ? port : undefined;
}
