import { isIPv4 } from 'node:net';
import { adminQuery } from '../admin/query.js';

/** [PROTOCOL §15] `/coordinator/atlas/add ,sssi requestId id host tcpPort`: one more processor, at run time. */
export const handleAtlasAdd = adminQuery('atlas_add', async (hub, [, id, host, tcpPort]) => {
  if (id === '' || id.length > 64) return { ok: false, error: 'the processor id must be 1 to 64 characters' };
  if (!isIPv4(host)) return { ok: false, error: `host "${host}" is not an IPv4 address (meters are told apart by it)` };
  if (tcpPort < 1 || tcpPort > 65535) return { ok: false, error: `${tcpPort} is not a port` };
  try {
    await hub.atlas.addProcessor({ id, host, tcpPort });
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
  return { ok: true, processor: { id, host, tcpPort } };
});
