import { ADMIN_FORMS, adminQuery } from './query.js';

/** [PROTOCOL §10] `/coordinator/release ,ss id target`: a tempID, or a port in decimal. */
export const handleAdminRelease = adminQuery(ADMIN_FORMS.release, (hub, args) => {
  const target = args[1]!.value as string;
  const lease = hub.leases.view(target);
  if (!lease) return { ok: false, error: `no lease for ${target}` };
  hub.leases.release(lease.tempId);
  return { ok: true, released: { tempId: lease.tempId, port: lease.port } };
});
