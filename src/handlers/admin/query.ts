import contract from '../../../protocol/messages.json' with { type: 'json' };
import type { DecodedArg } from '../../osc/codec.js';
import { encodeMessage } from '../../osc/codec.js';
import { REQUEST_ID_MAX_LENGTH, typeTags, validateIdentityArg } from '../../osc/wire.js';
import { isLoopback } from '../../net/cidr.js';
import type { Handler, Hub } from '../hub.js';

const { requests, reply } = contract.admin;

/** [PROTOCOL §10] the admin queries, answered on the coordinator's own port, to loopback only. */
export const ADMIN_ADDRESS = {
  status: requests.status.address,
  leases: requests.leases.address,
  lease: requests.lease.address,
  release: requests.release.address,
  probe: requests.probe.address,
  atlasAdd: requests.atlasAdd.address,
  atlasRemove: requests.atlasRemove.address,
  reply: reply.address,
} as const;

export const ADMIN_FORMS = {
  status: requests.status.forms[0]!,
  leases: requests.leases.forms[0]!,
  lease: requests.lease.forms[0]!,
  release: requests.release.forms[0]!,
  probe: requests.probe.forms[0]!,
  atlasAdd: requests.atlasAdd.forms[0]!,
  atlasRemove: requests.atlasRemove.forms[0]!,
} as const;

export type Reply = Record<string, unknown>;
type Answer = (hub: Hub, args: readonly DecodedArg[]) => Reply | Promise<Reply>;

/** An admin query's handler: loopback only, the request ID and the form checked, the JSON reply sent to the asker. */
export function adminQuery(form: string, answer: Answer): Handler {
  return (hub, message, _datagram, source) => {
    if (!isLoopback(source.address)) {
      hub.counters.adminRefused++;
      hub.log('admin_refused', 'warn', { source: `${source.address}:${source.port}`, address: message.address }, 'admin request from outside loopback refused');
      return;
    }
    const requestId = message.args[0];
    const requestIdError = validateIdentityArg(requestId, 'request ID', REQUEST_ID_MAX_LENGTH);
    if (requestIdError !== undefined) {
      hub.counters.invalid++;
      hub.log('admin_bad_request_id', 'warn', { source: `${source.address}:${source.port}`, detail: requestIdError }, 'admin request dropped');
      return;
    }
    const send = (body: Reply) => {
      const args = [requestId!, { type: 's', value: JSON.stringify(body) }] as const;
      hub.send(encodeMessage({ address: ADMIN_ADDRESS.reply, args: args as never }), source.address, source.port);
    };
    const tags = typeTags(message.args);
    if (tags !== form) {
      send({ ok: false, error: `${message.address} expects ,${form}, got ,${tags}` });
      return;
    }
    Promise.resolve(answer(hub, message.args)).then(send, (err: Error) => send({ ok: false, error: err.message }));
  };
}
