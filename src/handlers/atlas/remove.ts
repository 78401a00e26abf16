import { ADMIN_FORMS, adminQuery } from '../admin/query.js';

/** [PROTOCOL §15] `/coordinator/atlas/remove ,ss requestId id`: its session ends, its subscriptions with it. */
export const handleAtlasRemove = adminQuery(ADMIN_FORMS.atlasRemove, async (hub, args) => {
  const id = args[1]!.value as string;
  return (await hub.atlas.removeProcessor(id)) ? { ok: true, removed: { id } } : { ok: false, error: `no Atlas processor "${id}"` };
});
