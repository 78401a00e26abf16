import type { Handler } from '../hub.js';
import { refuseController } from '../routing.js';
import { meterSubscription } from './subscription.js';

/** [PROTOCOL §15] `/atlas/subscribe ,sss who processorId param`: the first consumer of a meter subscribes on the device. */
export const handleAtlasSubscribe: Handler = (hub, message, _datagram, source) => {
  const wanted = meterSubscription(hub, 'atlas_subscribe', message, source);
  if (!wanted) return;
  const refused = hub.atlas.subscribe(wanted.consumer, wanted.processorId, wanted.param);
  if (refused !== undefined) refuseController(hub, source, 'too_many_subscriptions', refused, message.address);
};
