import contract from '../../protocol/messages.json' with { type: 'json' };
import type { LeaseState, LeaseView } from '../leases/registry.js';
import type { Source } from '../leases/lease.js';
import type { DecodedArg } from '../osc/codec.js';
import { REQUEST_ID_MAX_LENGTH, typeTags, validateIdentityArg } from '../osc/wire.js';
import type { Handler, Hub } from './hub.js';

const { requests, reply: replyMessage } = contract.admin;

/** [PROTOCOL §10] the admin addresses, answered on the coordinator's own port, to loopback only. */
export const ADMIN_ADDRESS = {
  status: requests.status.address,
  leases: requests.leases.address,
  lease: requests.lease.address,
  release: requests.release.address,
  probe: requests.probe.address,
  reply: replyMessage.address,
} as const;

/** Keeps every reply datagram well inside the 8 KiB the protocol promises. */
const REPLY_BUDGET_BYTES = 7 * 1024;
const PAGE_LIMIT = 50;
const LEASE_STATES: readonly string[] = ['requesting', 'assigned', 'verifying', 'bound'];

type Reply = Record<string, unknown>;
type AdminAction = (hub: Hub, args: readonly DecodedArg[]) => Reply | Promise<Reply>;

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}

/** Wraps an admin action: loopback only, the form checked, the reply sent to the asker with its request ID. */
function admin(form: string, action: AdminAction): Handler {
  return (hub, message, source) => {
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
    const reply = (body: Reply) => send(hub, source, requestId!.value as string, body);
    const tags = typeTags(message.args);
    if (tags !== form) {
      reply({ ok: false, error: `${message.address} expects ,${form}, got ,${tags}` });
      return;
    }
    Promise.resolve(action(hub, message.args)).then(reply, (err: Error) => reply({ ok: false, error: err.message }));
  };
}

function send(hub: Hub, source: Source, requestId: string, body: Reply): void {
  hub.send(
    { address: ADMIN_ADDRESS.reply, args: [{ type: 's', value: requestId }, { type: 's', value: JSON.stringify(body) }] },
    source.address,
    source.port,
  );
}

function find(hub: Hub, target: string): LeaseView | undefined {
  if (/^\d{1,5}$/.test(target)) {
    const holder = hub.assignments.holderOf(Number(target));
    return holder === undefined ? undefined : hub.assignments.lease(holder);
  }
  return hub.assignments.lease(target);
}

/** [PROTOCOL §10] `port` is null while the instance holds none. */
function publicView(lease: LeaseView) {
  const { tempId, port, state, trackId, ageMs, lastSeenMs, rttMs, endpoint } = lease;
  return { tempId, port: port < 0 ? null : port, state, trackId, ageMs, lastSeenMs, rttMs, endpoint: endpoint ?? null };
}

/** Ordered by port, then tempID, so pages are stable while nothing changes. */
function page(hub: Hub, offset: number, limit: number, state: string): Reply {
  const all = hub.assignments
    .leases()
    .filter((lease) => state === '' || lease.state === (state as LeaseState))
    .sort((a, b) => a.port - b.port || (a.tempId < b.tempId ? -1 : 1));
  const rows = all.slice(offset, offset + Math.min(limit, PAGE_LIMIT)).map(publicView);
  let body: Reply = { ok: true, total: all.length, offset, leases: rows };
  while (rows.length > 1 && Buffer.byteLength(JSON.stringify(body)) > REPLY_BUDGET_BYTES) {
    rows.pop();
    body = { ok: true, total: all.length, offset, leases: rows };
  }
  return body;
}

export const handleAdminStatus = admin(requests.status.forms[0]!, (hub) => ({ ok: true, status: hub.status() }));

export const handleAdminLeases = admin(requests.leases.forms[0]!, (hub, args) => {
  const offset = args[1]!.value as number;
  const limit = args[2]!.value as number;
  const state = args[3]!.value as string;
  if (offset < 0 || limit < 1) return { ok: false, error: 'offset must be 0 or more and limit 1 or more' };
  if (state !== '' && !LEASE_STATES.includes(state)) return { ok: false, error: `unknown state "${state}"` };
  return page(hub, offset, limit, state);
});

export const handleAdminLease = admin(requests.lease.forms[0]!, (hub, args) => {
  const target = args[1]!.value as string;
  const lease = find(hub, target);
  return lease ? { ok: true, lease: publicView(lease) } : { ok: false, error: `no lease for ${target}` };
});

export const handleAdminRelease = admin(requests.release.forms[0]!, (hub, args) => {
  const target = args[1]!.value as string;
  const lease = find(hub, target);
  if (!lease) return { ok: false, error: `no lease for ${target}` };
  hub.assignments.release(lease.tempId);
  return { ok: true, released: { tempId: lease.tempId, port: lease.port } };
});

export const handleAdminProbe = admin(requests.probe.forms[0]!, async (hub, args) => {
  const port = args[1]!.value as number;
  if (!Number.isInteger(port) || port < 1 || port > 65535) return { ok: false, error: `${port} is not a port` };
  const lease = find(hub, String(port));
  const host = lease ? hub.assignments.hostOf(lease.tempId) ?? '127.0.0.1' : '127.0.0.1';
  return { ok: true, ...(await hub.adminProbes.probe(host, port)) };
});
