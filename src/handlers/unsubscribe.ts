import { ADDRESS } from '../osc/contract.js';
import { unsubscribed } from '../routing/messages.js';
import type { Handler } from './hub.js';
import { refuseController, registration } from './routing.js';

/**
 * [PROTOCOL §11] `/coordinator/unsubscribe` (or `,i listenPort`, or `,is listenPort token`): a
 * registration ends only by its own source, or by its token.
 */
export const handleUnsubscribe: Handler = (hub, message, _datagram, source) => {
  const asked = registration('unsubscribe', message, source);
  if (typeof asked === 'string') return refuseController(hub, source, 'bad_arguments', asked, ADDRESS.unsubscribe);
  const { port, token } = asked;
  const from = `${source.address}:${source.port}`;
  if (hub.controllers.has(source.address, port) && !hub.controllers.unsubscribe(source.address, port, { from, ...(token === undefined ? {} : { token }) })) {
    return refuseController(hub, source, 'forbidden', `only the source that registered port ${port}, or its token, ends its registration`, ADDRESS.unsubscribe);
  }
  hub.send(unsubscribed(), source.address, source.port);
};
