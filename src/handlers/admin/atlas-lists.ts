import { adminQuery, pageAfter } from './query.js';

/** [PROTOCOL §10, §15] `/coordinator/atlas/processors ,sis id limit after`: the processors, by id, a page at a time. */
export const handleAdminAtlasProcessors = adminQuery('atlas_processors', (hub, [, limit, after]) => {
  if (limit < 1) return { ok: false, error: 'limit must be 1 or more' };
  return pageAfter(hub.atlas.processorList(), (processor) => processor.id, after, limit, 'processors');
});

/** [PROTOCOL §10, §15] `/coordinator/atlas/meters ,sis id limit after`: every subscription, by processor then param, a page at a time. */
export const handleAdminAtlasMeters = adminQuery('atlas_meters', (hub, [, limit, after]) => {
  if (limit < 1) return { ok: false, error: 'limit must be 1 or more' };
  // Identities hold no control character: U+0001 keeps processor and param apart and sorts first (an OSC string holds no NUL).
  return pageAfter(hub.atlas.meterList(), (meter) => `${meter.processor}\u0001${meter.param}`, after, limit, 'meters');
});
