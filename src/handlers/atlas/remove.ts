import { adminQuery } from '../admin/query.js';

/** [PROTOCOL §15] `/coordinator/atlas/remove ,ss requestId id`: its session ends, its subscriptions with it. */
export const handleAtlasRemove = adminQuery('atlas_remove', async (hub, [, id]) => {
  return (await hub.atlas.removeProcessor(id)) ? { ok: true, removed: { id } } : { ok: false, error: `no Atlas processor "${id}"` };
});
