import type { Source } from '../net/udp.js';
import type { DecodedMessage } from '../osc/codec.js';
import { routingError, type RoutingErrorCode } from '../routing/messages.js';
import type { Hub } from './hub.js';

/** [PROTOCOL §13] an error goes back to the sender, never silently dropped. */
export function refuseController(hub: Hub, source: Source, code: RoutingErrorCode, detail: string, requestAddress: string): void {
  hub.counters.routingErrors++;
  hub.log(`routing ${code}`, 'warn', { source: `${source.address}:${source.port}`, code, detail }, `${requestAddress} refused: ${code}`);
  hub.send(routingError(code, detail, requestAddress), source.address, source.port);
}

/** [PROTOCOL §12] Plugin traffic to every controller, unchanged: the datagram, or the message's own bytes inside a bundle. */
export function forwardToControllers(hub: Hub, message: DecodedMessage, datagram: Uint8Array): void {
  if (hub.controllers.size === 0) return;
  hub.controllers.forward(message.start === 0 && message.end === datagram.length ? datagram : datagram.subarray(message.start, message.end));
}

/** [PROTOCOL §11] where a controller listens: the port it names (`,i port`), else the port it sent from. */
export function listenPort(message: DecodedMessage, source: Source): number | string {
  if (message.args.length === 0) return source.port;
  const [port] = message.args;
  if (message.args.length !== 1 || port?.type !== 'i') return `${message.address} takes no arguments, or ,i listenPort`;
  const value = port.value as number;
  return value >= 1 && value <= 65535 ? value : `${value} is not a port`;
}
