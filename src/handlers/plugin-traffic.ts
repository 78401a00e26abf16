import type { Handler } from './hub.js';
import { forwardToControllers } from './routing.js';

/** The traffic whose second argument is the plugin's level (REFERENCE §1). */
const LEVEL_ADDRESSES = new Set(['/aiplayer/telemetry', '/aiplayer/rms']);

/**
 * [PROTOCOL §9, §12] Plugin traffic that names its instance, by tempID or trackID, in its first
 * argument (telemetry, rms, tone reports): it keeps the lease alive, and goes on to every
 * controller as it came.
 */
export const handlePluginTraffic: Handler = (hub, message, datagram) => {
  const [first, second] = message.args;
  const tempId = first?.type === 's' ? hub.leases.keepAlive(first.value as string) : undefined;
  if (tempId === undefined) return forwardToControllers(hub, message, datagram);
  hub.counters.pluginTraffic++;
  if (second?.type === 'f' && LEVEL_ADDRESSES.has(message.address)) hub.levels.record(tempId, second.value as number);
  forwardToControllers(hub, message, datagram);
};
