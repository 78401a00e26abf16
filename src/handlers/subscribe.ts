import { ROUTING_ADDRESS, subscribed } from '../routing/messages.js';
import type { Handler } from './hub.js';
import { listenPort, refuseController } from './routing.js';

/** [PROTOCOL §11] `/coordinator/subscribe` or `,i listenPort`: registers, or renews, a controller. */
export const handleSubscribe: Handler = (hub, message, _datagram, source) => {
  const port = listenPort(message, source);
  if (typeof port === 'string') return refuseController(hub, source, 'bad_arguments', port, ROUTING_ADDRESS.subscribe);
  if (!hub.controllers.allowed(source.address)) {
    return refuseController(hub, source, 'forbidden', `${source.address} is neither loopback nor in --controllers-allow`, ROUTING_ADDRESS.subscribe);
  }
  if (!hub.controllers.subscribe(source.address, port)) {
    return refuseController(hub, source, 'too_many_controllers', `${hub.settings.maxControllers} controllers are registered already`, ROUTING_ADDRESS.subscribe);
  }
  hub.send(subscribed(hub.settings.controllerTtlMs), source.address, port);
};
