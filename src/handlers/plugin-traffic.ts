import type { Handler } from './hub.js';
import { forwardToControllers } from './routing.js';

/**
 * [PROTOCOL §9, §12] Plugin traffic that names its instance, by tempID or trackID, in its first
 * argument (telemetry, rms, tone reports): it keeps the lease alive, and goes on to every
 * controller as it came.
 */
export const handlePluginTraffic: Handler = (hub, message, datagram) => {
  const first = message.args[0];
  if (first?.type === 's' && hub.leases.keepAlive(first.value as string)) hub.counters.pluginTraffic++;
  forwardToControllers(hub, message, datagram);
};
