import { LEASE_STATES } from '../../leases/lease.js';
import type { LeaseView } from '../../leases/lease-view.js';
import type { Hub } from '../hub.js';
import { adminQuery, PAGE_LIMIT, REPLY_BUDGET_BYTES, type Reply } from './query.js';

/**
 * [PROTOCOL §10] `/coordinator/leases ,siss id limit state after`: ordered by port, then tempID,
 * each page starting after the last row of the one before (its `next`), so that a lease held
 * throughout a walk is on exactly one page, however many come and go meanwhile.
 */
export const handleAdminLeases = adminQuery('admin_leases', (hub, [, limit, state, cursor]) => {
  const after = cursorOf(cursor);
  if (limit < 1) return { ok: false, error: 'limit must be 1 or more' };
  if (state !== '' && !(LEASE_STATES as readonly string[]).includes(state)) return { ok: false, error: `unknown state "${state}"` };
  if (after === undefined) return { ok: false, error: `"${cursor}" is not a page's next` };
  return page(hub, limit, state, after);
});

type Key = { port: number; tempId: string };

const keyOf = (lease: LeaseView): Key => ({ port: lease.port ?? -1, tempId: lease.tempId });
const compare = (a: Key, b: Key) => a.port - b.port || (a.tempId < b.tempId ? -1 : a.tempId > b.tempId ? 1 : 0);

/** `PORT/TEMPID` of a page's last row (port -1 for none), or "" for the start; undefined when it is neither. */
function cursorOf(text: string): Key | null | undefined {
  if (text === '') return null;
  const match = /^(-1|\d{1,5})\/(.+)$/s.exec(text);
  return match ? { port: Number(match[1]), tempId: match[2]! } : undefined;
}

function page(hub: Hub, limit: number, state: string, after: Key | null): Reply {
  const all = hub.leases
    .views()
    .filter((lease) => state === '' || lease.state === state)
    .sort((a, b) => compare(keyOf(a), keyOf(b)));
  const start = after === null ? 0 : all.findIndex((lease) => compare(keyOf(lease), after) > 0);
  const rows = start < 0 ? [] : all.slice(start, start + Math.min(limit, PAGE_LIMIT));
  const body = (): Reply => {
    const last = rows.at(-1);
    const more = last !== undefined && start + rows.length < all.length;
    return { ok: true, total: all.length, leases: rows, next: more ? `${keyOf(last).port}/${last.tempId}` : '' };
  };
  let reply = body();
  while (rows.length > 1 && Buffer.byteLength(JSON.stringify(reply)) > REPLY_BUDGET_BYTES) {
    rows.pop();
    reply = body();
  }
  return reply;
}
