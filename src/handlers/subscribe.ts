import { ADDRESS } from '../osc/contract.js';
import { subscribed, subscribedWithToken } from '../routing/messages.js';
import type { Handler } from './hub.js';
import { refuseController, registration } from './routing.js';

/**
 * [PROTOCOL §11] `/coordinator/subscribe` registers (or renews) the controller where it sends from.
 * `,i listenPort` names another port: a token goes there, and nothing more until it comes back in
 * `,is listenPort token`, which makes the registration active and renews it.
 */
export const handleSubscribe: Handler = (hub, message, _datagram, source) => {
  const refuse = (code: Parameters<typeof refuseController>[2], detail: string) => refuseController(hub, source, code, detail, ADDRESS.subscribe);
  const asked = registration('subscribe', message, source);
  if (typeof asked === 'string') return refuse('bad_arguments', asked);
  if (!hub.controllers.allowed(source.address)) return refuse('forbidden', `${source.address} is neither loopback nor in --controllers-allow`);
  const { controllers, settings } = hub;
  const full = () => refuse('too_many_controllers', `${settings.maxControllers} controllers are registered already`);
  const { port, token } = asked;
  if (port === source.port) {
    // It listens where it sends from: the reply itself goes nowhere else.
    if (!controllers.subscribe(source.address, port)) return full();
    hub.send(subscribed(settings.controllerTtlMs), source.address, port);
    return;
  }
  if (token === undefined) {
    const challenge = controllers.challenge(source.address, port);
    if (challenge === undefined) {
      hub.counters.challengesRefused++;
      return;
    }
    hub.send(subscribedWithToken(settings.controllerTtlMs, challenge), source.address, port);
    return;
  }
  const proved = controllers.prove(source.address, port, token, `${source.address}:${source.port}`);
  if (proved === 'unknown_token') return refuse('forbidden', `that token was never sent to port ${port}, or is no longer valid: subscribe ,i ${port} for a new one`);
  if (proved === 'full') return full();
  hub.send(subscribedWithToken(settings.controllerTtlMs, token), source.address, port);
};
