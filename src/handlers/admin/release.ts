import { adminQuery } from './query.js';

/** [PROTOCOL §10] `/coordinator/release ,ss id target`: a tempID, or a port in decimal. */
export const handleAdminRelease = adminQuery('admin_release', (hub, [, target]) => {
  const lease = hub.leases.view(target);
  if (!lease) return { ok: false, error: `no lease for ${target}` };
  hub.leases.release(lease.tempId);
  return { ok: true, released: { tempId: lease.tempId, port: lease.port } };
});
