import type { Source } from '../net/udp.js';
import type { DecodedMessage } from '../osc/codec.js';
import { parse } from '../osc/contract.js';
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

/**
 * [PROTOCOL §11] What a (un)subscription names: the port the controller listens on (`,i port`,
 * else the port it sent from), and the token that port was sent (`,is port token`), if given; or
 * why the message is none of those forms.
 */
export function registration(
  key: 'subscribe' | 'unsubscribe',
  message: DecodedMessage,
  source: Source,
): { port: number; token: string | undefined } | string {
  const parsed = parse[key](message.args);
  if (!parsed.ok) return parsed.detail;
  const [port = source.port, token] = parsed.value;
  if (!(port >= 1 && port <= 65535)) return `${port} is not a port`;
  return { port, token };
}
