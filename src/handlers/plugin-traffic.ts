import type { Handler } from './hub.js';

/**
 * [PROTOCOL §9] Plugin traffic that names its instance, by tempID or trackID, in its first
 * argument (telemetry, rms, tone reports): it keeps the lease alive.
 */
export const handlePluginTraffic: Handler = (hub, message) => {
  const first = message.args[0];
  if (first?.type === 's' && hub.leases.seen(first.value as string)) hub.counters.pluginTraffic++;
};
