import { controller, plugin } from '../../atlas/subscriptions.js';
import type { Source } from '../../net/udp.js';
import type { DecodedMessage } from '../../osc/codec.js';
import { ADDRESS, parse } from '../../osc/contract.js';
import { TEMP_ID_MAX_LENGTH, validateIdentityArg } from '../../osc/wire.js';
import type { Hub } from '../hub.js';
import { refuseController } from '../routing.js';

/**
 * What `/atlas/subscribe` and `/atlas/unsubscribe ,sss who processorId param` name: the consumer
 * (a plugin by tempID or trackID, or `controller` for the controller that sends it) and the
 * meter; undefined after refusing the message. [PROTOCOL §15]
 */
export function meterSubscription(
  hub: Hub,
  key: 'atlas_subscribe' | 'atlas_unsubscribe',
  message: DecodedMessage,
  source: Source,
): { consumer: string; processorId: string; param: string } | undefined {
  const refuse = (code: Parameters<typeof refuseController>[2], detail: string) => refuseController(hub, source, code, detail, message.address);
  if (!hub.controllers.allowed(source.address)) return void refuse('forbidden', `${source.address} is neither loopback nor in --controllers-allow`);
  const parsed = parse[key](message.args);
  if (!parsed.ok) return void refuse('bad_arguments', parsed.detail);
  const problem = ['who', 'processorId', 'param']
    .map((name, n) => validateIdentityArg(message.args[n], name, TEMP_ID_MAX_LENGTH))
    .find((text) => text !== undefined);
  if (problem !== undefined) return void refuse('bad_arguments', problem);
  const [who, processorId, param] = parsed.value;
  if (!hub.atlas.has(processorId)) return void refuse('unknown_processor', `no Atlas processor "${processorId}"`);
  // A consumer is a plugin that exists, or a registered controller: nothing else can be sent meters, or hold a subscription.
  if (who !== 'controller') {
    if (key === 'atlas_unsubscribe' || hub.leases.resolve(who)) return { consumer: plugin(who), processorId, param };
    return void refuse(hub.leases.find(who) ? 'not_bound' : 'unknown_target', `no verified plugin is known as ${who}`);
  }
  const registered = hub.controllers.of(source.address, source.port);
  if (!registered) return void refuse('unknown_target', `who is "controller", but this sender is no registered controller: send ${ADDRESS.subscribe} first`);
  return { consumer: controller(registered.key), processorId, param };
}
