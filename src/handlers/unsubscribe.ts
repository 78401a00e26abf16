import { ROUTING_ADDRESS, unsubscribed } from '../routing/messages.js';
import type { Handler } from './hub.js';
import { listenPort, refuseController } from './routing.js';

/** [PROTOCOL §11] `/coordinator/unsubscribe` or `,i listenPort`: the controller stops receiving. */
export const handleUnsubscribe: Handler = (hub, message, _datagram, source) => {
  const port = listenPort(message, source);
  if (typeof port === 'string') return refuseController(hub, source, 'bad_arguments', port, ROUTING_ADDRESS.unsubscribe);
  hub.controllers.unsubscribe(source.address, port);
  hub.send(unsubscribed(), source.address, port);
};
