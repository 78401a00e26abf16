import type { Source } from '../assignments.js';
import type { DecodedMessage } from '../core/codec.js';
import { ADDRESS } from '../core/wire.js';
import type { Handler, Hub } from './hub.js';
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
]);

/** The only router: one handler per address; anything else is counted and ignored. */
export function dispatch(hub: Hub, message: DecodedMessage, source: Source): void {
  const handler = handlers.get(message.address);
  if (handler) handler(hub, message, source);
  else hub.counters.unknownAddress++;
}
