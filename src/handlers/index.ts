import contract from '../../protocol/messages.json' with { type: 'json' };
import type { Source } from '../net/udp.js';
import { decodeDatagram, firstString, floatAfterFirstString, type DecodedMessage } from '../osc/codec.js';
import { oscString } from '../osc/templates.js';
import { ADDRESS } from '../osc/wire.js';
import { handleAdminLease } from './admin/lease.js';
import { handleAdminLeases } from './admin/leases.js';
import { handleAdminProbe } from './admin/probe.js';
import { ADMIN_ADDRESS } from './admin/query.js';
import { handleAdminRelease } from './admin/release.js';
import { handleAdminStatus } from './admin/status.js';
import type { Handler, Hub } from './hub.js';
import { handlePluginTraffic } from './plugin-traffic.js';
import { handlePortConfirmed } from './port-confirmed.js';
import { handleRelease } from './release.js';
import { handleRequestPort } from './request-port.js';
import { handleAdminAtlasMeters, handleAdminAtlasProcessors } from './admin/atlas-lists.js';
import { handleAtlasAdd } from './atlas/add.js';
import { handleAtlasRemove } from './atlas/remove.js';
import { handleAtlasSubscribe } from './atlas/subscribe.js';
import { handleAtlasUnsubscribe } from './atlas/unsubscribe.js';
import { handleQueryRms } from './query-rms.js';
import { handleRmsResponse } from './rms-response.js';
import { forwardToControllers, refuseController } from './routing.js';
import { handleSend } from './send.js';
import { handleSubscribe } from './subscribe.js';
import { handleUnsubscribe } from './unsubscribe.js';
import { handleUuidConfirmed } from './uuid-confirmed.js';
import { ROUTING_ADDRESS } from '../routing/messages.js';

export type { Hub } from './hub.js';

const UUID_CONFIRMED = '/aiplayer/uuid_assignment_confirmed';
const ATLAS_ADDRESS = { subscribe: contract.atlas.messages.subscribe.address, unsubscribe: contract.atlas.messages.unsubscribe.address };

const handlers = new Map<string, Handler>([
  [ADDRESS.request_port, handleRequestPort], // [PROTOCOL §1]
  [ADDRESS.port_confirmed, handlePortConfirmed], // [PROTOCOL §4]
  [ADDRESS.rms_response, handleRmsResponse], // [PROTOCOL §5]
  [ADDRESS.release, handleRelease], // [PROTOCOL §7]
  ...contract.pluginTraffic.addresses
    .filter((address) => address !== UUID_CONFIRMED)
    .map((address): [string, Handler] => [address, handlePluginTraffic]), // [PROTOCOL §9]
  [UUID_CONFIRMED, handleUuidConfirmed], // [PROTOCOL §9]
  [ADMIN_ADDRESS.status, handleAdminStatus], // [PROTOCOL §10]
  [ADMIN_ADDRESS.leases, handleAdminLeases],
  [ADMIN_ADDRESS.lease, handleAdminLease],
  [ADMIN_ADDRESS.release, handleAdminRelease],
  [ADMIN_ADDRESS.probe, handleAdminProbe],
  [ROUTING_ADDRESS.subscribe, handleSubscribe], // [PROTOCOL §11]
  [ROUTING_ADDRESS.unsubscribe, handleUnsubscribe],
  [ROUTING_ADDRESS.send, handleSend], // [PROTOCOL §13]
  [ROUTING_ADDRESS.queryRms, handleQueryRms], // [PROTOCOL §14]
  [ADMIN_ADDRESS.atlasAdd, handleAtlasAdd], // [PROTOCOL §15]
  [ADMIN_ADDRESS.atlasRemove, handleAtlasRemove],
  [ADMIN_ADDRESS.atlasProcessors, handleAdminAtlasProcessors],
  [ADMIN_ADDRESS.atlasMeters, handleAdminAtlasMeters],
  [ATLAS_ADDRESS.subscribe, handleAtlasSubscribe],
  [ATLAS_ADDRESS.unsubscribe, handleAtlasUnsubscribe],
]);

const COORDINATOR_PREFIX = '/coordinator/';

/**
 * The only router: one handler per address. Any other address is a plugin's the coordinator does
 * not know, forwarded to the controllers as it came [PROTOCOL §12]; an unknown `/coordinator/`
 * address is a controller's mistake, told back to it.
 */
export function dispatch(hub: Hub, message: DecodedMessage, datagram: Uint8Array, source: Source): void {
  const handler = handlers.get(message.address);
  if (handler) {
    handler(hub, message, datagram, source);
    return;
  }
  hub.counters.unknownAddress++;
  if (!message.address.startsWith(COORDINATOR_PREFIX)) forwardToControllers(hub, message, datagram);
  else if (hub.controllers.allowed(source.address)) refuseController(hub, source, 'unknown_address', `no such address: ${message.address}`, message.address);
}

/**
 * Telemetry and rms, 24 times a second from every plugin, as the address they begin with: 1000
 * plugins send 48,000 a second. [PROTOCOL §9, §12]
 */
const HOT_ADDRESSES = ['/aiplayer/telemetry', '/aiplayer/rms'].map(oscString);

/**
 * The hot path: a datagram that is one telemetry or rms message keeps its lease alive and goes to
 * the controllers as it came, without the message being built (what `handlePluginTraffic` does
 * with it, at a third of the cost). False when it is anything else, or malformed.
 */
function hotTraffic(hub: Hub, datagram: Buffer): boolean {
  const hot = HOT_ADDRESSES.some((head) => datagram.length > head.length && datagram.compare(head, 0, head.length, 0, head.length) === 0);
  if (!hot) return false;
  const first = firstString(datagram);
  if (first === undefined) return false;
  hub.counters.datagrams++;
  const tempId = first === null ? undefined : hub.leases.keepAlive(first);
  if (tempId !== undefined) {
    hub.counters.pluginTraffic++;
    const rms = floatAfterFirstString(datagram);
    if (rms !== undefined) hub.levels.record(tempId, rms);
  }
  if (hub.controllers.size > 0) hub.controllers.forward(datagram);
  return true;
}

/** A datagram off the coordinator's socket: each message in it to its handler; garbage counted and dropped. */
export function receiveDatagram(hub: Hub, datagram: Buffer, source: Source): void {
  if (hotTraffic(hub, datagram)) return;
  hub.counters.datagrams++;
  const decoded = decodeDatagram(datagram);
  if (!decoded.ok) {
    hub.counters.malformed++;
    hub.log('malformed', 'warn', { source: `${source.address}:${source.port}`, bytes: datagram.byteLength, ...decoded.error }, 'malformed datagram dropped');
    return;
  }
  for (const message of decoded.messages) {
    try {
      dispatch(hub, message, datagram, source);
    } catch (err) {
      // A bug met by one message must not stop the coordinator serving everyone else.
      hub.log('handler_failed', 'error', { err, address: message.address }, 'handler failed');
    }
  }
}
