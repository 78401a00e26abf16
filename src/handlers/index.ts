import type { Source } from '../net/udp.js';
import { decodeDatagram, type DecodedMessage } from '../osc/codec.js';
import { ADDRESS, COORDINATOR_NAMESPACE } from '../osc/contract.js';
import { oscString } from '../osc/templates.js';
import { handleAdminLease } from './admin/lease.js';
import { handleAdminLeases } from './admin/leases.js';
import { handleAdminProbe } from './admin/probe.js';
import { handleAdminRelease } from './admin/release.js';
import { handleAdminStatus } from './admin/status.js';
import type { Handler, Hub } from './hub.js';
import { handlePluginTraffic, relayPluginTraffic } from './plugin-traffic.js';
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

export type { Hub } from './hub.js';

/** One row of the dispatch table. */
interface Route {
  handle: Handler;
  /**
   * For traffic too frequent to build each message: serves a datagram that is this one message
   * from its bytes alone. False sends it the ordinary way (`handle`, after decoding), as for
   * malformed bytes, whose decoding says what is wrong.
   */
  hot?: (hub: Hub, datagram: Buffer) => boolean;
}

const routes = new Map<string, Route>([
  [ADDRESS.request_port, { handle: handleRequestPort }], // [PROTOCOL §1]
  [ADDRESS.port_confirmed, { handle: handlePortConfirmed }], // [PROTOCOL §4]
  [ADDRESS.rms_response, { handle: handleRmsResponse }], // [PROTOCOL §5]
  [ADDRESS.release, { handle: handleRelease }], // [PROTOCOL §7]
  // [PROTOCOL §9, §12] telemetry and rms: 24 times a second from every plugin.
  [ADDRESS.telemetry, { handle: handlePluginTraffic, hot: relayPluginTraffic }],
  [ADDRESS.rms, { handle: handlePluginTraffic, hot: relayPluginTraffic }],
  [ADDRESS.tone_started, { handle: handlePluginTraffic }],
  [ADDRESS.tone_stopped, { handle: handlePluginTraffic }],
  [ADDRESS.tone_status_response, { handle: handlePluginTraffic }],
  [ADDRESS.uuid_assignment_confirmed, { handle: handleUuidConfirmed }], // [PROTOCOL §9]
  [ADDRESS.admin_status, { handle: handleAdminStatus }], // [PROTOCOL §10]
  [ADDRESS.admin_leases, { handle: handleAdminLeases }],
  [ADDRESS.admin_lease, { handle: handleAdminLease }],
  [ADDRESS.admin_release, { handle: handleAdminRelease }],
  [ADDRESS.admin_probe, { handle: handleAdminProbe }],
  [ADDRESS.subscribe, { handle: handleSubscribe }], // [PROTOCOL §11]
  [ADDRESS.unsubscribe, { handle: handleUnsubscribe }],
  [ADDRESS.send, { handle: handleSend }], // [PROTOCOL §13]
  [ADDRESS.gather, { handle: handleQueryRms }], // [PROTOCOL §14]
  [ADDRESS.atlas_add, { handle: handleAtlasAdd }], // [PROTOCOL §15]
  [ADDRESS.atlas_remove, { handle: handleAtlasRemove }],
  [ADDRESS.atlas_processors, { handle: handleAdminAtlasProcessors }],
  [ADDRESS.atlas_meters, { handle: handleAdminAtlasMeters }],
  [ADDRESS.atlas_subscribe, { handle: handleAtlasSubscribe }],
  [ADDRESS.atlas_unsubscribe, { handle: handleAtlasUnsubscribe }],
]);

/**
 * The only router: one handler per address. Any other address is a plugin's the coordinator does
 * not know, forwarded to the controllers as it came [PROTOCOL §12]; an unknown `/coordinator/`
 * address is a controller's mistake, told back to it.
 */
export function dispatch(hub: Hub, message: DecodedMessage, datagram: Uint8Array, source: Source): void {
  const route = routes.get(message.address);
  if (route) {
    route.handle(hub, message, datagram, source);
    return;
  }
  hub.counters.unknownAddress++;
  if (!message.address.startsWith(COORDINATOR_NAMESPACE)) forwardToControllers(hub, message, datagram);
  else if (hub.controllers.allowed(source.address)) refuseController(hub, source, 'unknown_address', `no such address: ${message.address}`, message.address);
}

/**
 * The rows served from bytes, each with its address as it begins a datagram (padded, so the match
 * is whole): a datagram is matched against these before anything is built, and the rest of the
 * table is reached by decoding. Comparing a few bytes costs less than reading the address out.
 */
const HOT_ROUTES = [...routes].flatMap(([address, { hot }]) => (hot ? [{ head: oscString(address), hot }] : []));

function hotRouteOf(datagram: Buffer): Route['hot'] {
  for (const { head, hot } of HOT_ROUTES) {
    if (datagram.length > head.length && datagram.compare(head, 0, head.length, 0, head.length) === 0) return hot;
  }
  return undefined;
}

/** A datagram off the coordinator's socket: each message in it to its handler; garbage counted and dropped. */
export function receiveDatagram(hub: Hub, datagram: Buffer, source: Source): void {
  if (hotRouteOf(datagram)?.(hub, datagram)) return;
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
