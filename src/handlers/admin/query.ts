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
  atlasProcessors: requests.atlasProcessors.address,
  atlasMeters: requests.atlasMeters.address,
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
  atlasProcessors: requests.atlasProcessors.forms[0]!,
  atlasMeters: requests.atlasMeters.forms[0]!,
} as const;

/** Keeps every reply datagram well inside the 8 KiB the protocol promises. */
export const REPLY_BUDGET_BYTES = 7 * 1024;
/** Rows one page holds at most. */
export const PAGE_LIMIT = 50;

/**
 * One page of `rows` (sorted by `keyOf`, unique keys) after the cursor `after` ("" for the first):
 * at most `limit` rows, fewer when the reply would not fit a datagram, and the cursor of the next
 * page in `next` ("" when none is left). A row there throughout a walk is on exactly one page.
 */
export function pageAfter<Row>(rows: readonly Row[], keyOf: (row: Row) => string, after: string, limit: number, name: string): Reply {
  const start = after === '' ? 0 : rows.findIndex((row) => keyOf(row) > after);
  const taken = start < 0 ? [] : rows.slice(start, start + Math.min(limit, PAGE_LIMIT));
  const body = (): Reply => {
    const last = taken.at(-1);
    return { ok: true, total: rows.length, [name]: taken, next: last !== undefined && start + taken.length < rows.length ? keyOf(last) : '' };
  };
  let reply = body();
  while (taken.length > 1 && Buffer.byteLength(JSON.stringify(reply)) > REPLY_BUDGET_BYTES) {
    taken.pop();
    reply = body();
  }
  return reply;
}

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
