import contract from '../../protocol/messages.json' with { type: 'json' };
import type { Source } from '../leases/lease.js';
import type { DecodedMessage } from '../osc/codec.js';
import { ADDRESS } from '../osc/wire.js';
import {
  ADMIN_ADDRESS,
  handleAdminLease,
  handleAdminLeases,
  handleAdminProbe,
  handleAdminRelease,
  handleAdminStatus,
} from './admin.js';
import type { Handler, Hub } from './hub.js';
import { handlePluginTraffic, handleUuidConfirmed } from './plugin-traffic.js';
import { handlePortConfirmed } from './port-confirmed.js';
import { handleRelease } from './release.js';
import { handleRequestPort } from './request-port.js';
import { handleRmsResponse } from './rms-response.js';

export type { Hub } from './hub.js';

const handlers = new Map<string, Handler>([
  [ADDRESS.request_port, handleRequestPort],
  [ADDRESS.port_confirmed, handlePortConfirmed],
  [ADDRESS.rms_response, handleRmsResponse],
  [ADDRESS.release, handleRelease],
  ...contract.pluginTraffic.addresses.map((address): [string, Handler] => [
    address,
    address === '/aiplayer/uuid_assignment_confirmed' ? handleUuidConfirmed : handlePluginTraffic,
  ]),
  [ADMIN_ADDRESS.status, handleAdminStatus],
  [ADMIN_ADDRESS.leases, handleAdminLeases],
  [ADMIN_ADDRESS.lease, handleAdminLease],
  [ADMIN_ADDRESS.release, handleAdminRelease],
  [ADMIN_ADDRESS.probe, handleAdminProbe],
]);

/** The only router: one handler per address; anything else is counted and ignored. */
export function dispatch(hub: Hub, message: DecodedMessage, source: Source): void {
  const handler = handlers.get(message.address);
  if (handler) handler(hub, message, source);
  else hub.counters.unknownAddress++;
}
