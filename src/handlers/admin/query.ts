import { encodeMessage } from '../../osc/codec.js';
import { ADDRESS, parse, textAt, type ArgumentsOf } from '../../osc/contract.js';
import { REQUEST_ID_MAX_LENGTH, validateIdentityArg } from '../../osc/wire.js';
import { isLoopback } from '../../net/cidr.js';
import type { Handler, Hub } from '../hub.js';

/** [PROTOCOL §10, §15] the admin queries, answered on the coordinator's own port, to loopback only. */
type AdminKey = 'admin_status' | 'admin_leases' | 'admin_lease' | 'admin_release' | 'admin_probe' | 'atlas_add' | 'atlas_remove' | 'atlas_processors' | 'atlas_meters';

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
/** The answer to one query, from its typed arguments (the request ID first). */
type Answer<K extends AdminKey> = (hub: Hub, args: ArgumentsOf<K>) => Reply | Promise<Reply>;

/** An admin query's handler: loopback only, the request ID and the form checked, the JSON reply sent to the asker. */
export function adminQuery<K extends AdminKey>(key: K, answer: Answer<K>): Handler {
  const parseArguments = parse[key];
  return (hub, message, _datagram, source) => {
    if (!isLoopback(source.address)) {
      hub.counters.adminRefused++;
      hub.log('admin_refused', 'warn', { source: `${source.address}:${source.port}`, address: message.address }, 'admin request from outside loopback refused');
      return;
    }
    const requestIdError = validateIdentityArg(message.args[0], 'request ID', REQUEST_ID_MAX_LENGTH);
    const requestId = textAt(message.args, 0);
    if (requestIdError !== undefined || requestId === undefined) {
      hub.counters.invalid++;
      hub.log('admin_bad_request_id', 'warn', { source: `${source.address}:${source.port}`, detail: requestIdError }, 'admin request dropped');
      return;
    }
    const send = (body: Reply) => {
      const reply = encodeMessage({ address: ADDRESS.admin_reply, args: [{ type: 's', value: requestId }, { type: 's', value: JSON.stringify(body) }] });
      hub.send(reply, source.address, source.port);
    };
    const parsed = parseArguments(message.args);
    if (!parsed.ok) {
      send({ ok: false, error: parsed.detail });
      return;
    }
    Promise.resolve(answer(hub, parsed.value)).then(send, (err: Error) => send({ ok: false, error: err.message }));
  };
}
