import { firstString, floatAfterFirstString } from '../osc/codec.js';
import { ADDRESS, floatAt, textAt } from '../osc/contract.js';
import type { Handler, Hub } from './hub.js';
import { forwardToControllers } from './routing.js';

/** The traffic whose second argument is the plugin's level (REFERENCE §1). */
const LEVEL_ADDRESSES = new Set([ADDRESS.telemetry, ADDRESS.rms]);

/**
 * [PROTOCOL §9, §12] Plugin traffic that names its instance, by tempID or trackID, in its first
 * argument (telemetry, rms, tone reports): it keeps the lease alive, and goes on to every
 * controller as it came.
 */
export const handlePluginTraffic: Handler = (hub, message, datagram) => {
  const first = textAt(message.args, 0);
  const tempId = first === undefined ? undefined : hub.leases.keepAlive(first);
  if (tempId === undefined) return forwardToControllers(hub, message, datagram);
  hub.counters.pluginTraffic++;
  const level = LEVEL_ADDRESSES.has(message.address) ? floatAt(message.args, 1) : undefined;
  if (level !== undefined) hub.levels.record(tempId, level);
  forwardToControllers(hub, message, datagram);
};

/**
 * The same for a datagram that is one message whose second argument is the level (telemetry and
 * rms), served from its bytes without the message being built, at a third of the cost: every
 * plugin sends them 24 times a second, so 1000 plugins send 48,000 a second. False when the
 * datagram is malformed: the decoder then says why.
 */
export function relayPluginTraffic(hub: Hub, datagram: Buffer): boolean {
  const first = firstString(datagram);
  if (first === undefined) return false;
  hub.counters.datagrams++;
  const tempId = first === null ? undefined : hub.leases.keepAlive(first);
  if (tempId !== undefined) {
    hub.counters.pluginTraffic++;
    const level = floatAfterFirstString(datagram);
    if (level !== undefined) hub.levels.record(tempId, level);
  }
  if (hub.controllers.size > 0) hub.controllers.forward(datagram);
  return true;
}
