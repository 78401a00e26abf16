import { adminQuery } from './query.js';

/** [PROTOCOL §10] `/coordinator/lease ,ss id target`: a tempID, or a port in decimal. */
export const handleAdminLease = adminQuery('admin_lease', (hub, [, target]) => {
  const lease = hub.leases.view(target);
  return lease ? { ok: true, lease } : { ok: false, error: `no lease for ${target}` };
});
