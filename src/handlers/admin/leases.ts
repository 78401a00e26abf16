import { LEASE_STATES } from '../../leases/lease.js';
import type { Hub } from '../hub.js';
import { ADMIN_FORMS, adminQuery, type Reply } from './query.js';

/** Keeps every reply datagram well inside the 8 KiB the protocol promises. */
const REPLY_BUDGET_BYTES = 7 * 1024;
const PAGE_LIMIT = 50;

/** [PROTOCOL §10] `/coordinator/leases ,siis id offset limit state`: ordered by port, then tempID, so pages are stable. */
export const handleAdminLeases = adminQuery(ADMIN_FORMS.leases, (hub, args) => {
  const offset = args[1]!.value as number;
  const limit = args[2]!.value as number;
  const state = args[3]!.value as string;
  if (offset < 0 || limit < 1) return { ok: false, error: 'offset must be 0 or more and limit 1 or more' };
  if (state !== '' && !(LEASE_STATES as readonly string[]).includes(state)) return { ok: false, error: `unknown state "${state}"` };
  return page(hub, offset, limit, state);
});

function page(hub: Hub, offset: number, limit: number, state: string): Reply {
  const all = hub.leases
    .views()
    .filter((lease) => state === '' || lease.state === state)
    .sort((a, b) => (a.port ?? -1) - (b.port ?? -1) || (a.tempId < b.tempId ? -1 : 1));
  const rows = all.slice(offset, offset + Math.min(limit, PAGE_LIMIT));
  let body: Reply = { ok: true, total: all.length, offset, leases: rows };
  while (rows.length > 1 && Buffer.byteLength(JSON.stringify(body)) > REPLY_BUDGET_BYTES) {
    rows.pop();
    body = { ok: true, total: all.length, offset, leases: rows };
  }
  return body;
}
