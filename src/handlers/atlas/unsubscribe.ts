import type { Handler } from '../hub.js';
import { meterSubscription } from './subscription.js';

/** [PROTOCOL §15] `/atlas/unsubscribe ,sss who processorId param`: the last consumer leaving unsubscribes on the device. */
export const handleAtlasUnsubscribe: Handler = (hub, message, _datagram, source) => {
  const wanted = meterSubscription(hub, 'atlas_unsubscribe', message, source);
  if (wanted) hub.atlas.unsubscribe(wanted.consumer, wanted.processorId, wanted.param);
};
