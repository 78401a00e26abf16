import * as templates from '../../osc/templates.js';
import type { ProbeAsker } from '../../probes.js';
import { adminQuery, type Reply } from './query.js';

/**
 * [PROTOCOL §10] `/coordinator/probe ,si id port`: the same query_rms a lease is verified with,
 * answered once the probe is over. Informational: the answer counts as a sign of life, but only
 * a lease's own probes decide who holds the port.
 */
export const handleAdminProbe = adminQuery('admin_probe', (hub, [, port]) => {
  if (!Number.isInteger(port) || port < 1 || port > 65535) return { ok: false, error: `${port} is not a port` };
  const holder = hub.leases.get(hub.leases.holderOf(port) ?? '');
  const host = holder?.host ?? '127.0.0.1';
  const timeoutMs = hub.settings.probeTimeoutMs;
  return new Promise<Reply>((resolve) => {
    const asker: ProbeAsker = {
      nonces: [],
      answered: (answer, probe) => {
        hub.clock.clearTimeout(timer);
        hub.leases.keepAlive(answer.tempId);
        const rttMs = Math.round((hub.clock.now() - probe.sentAt) * 100) / 100;
        resolve({ ok: true, port, answered: true, tempId: answer.tempId, rttMs });
      },
    };
    const timer = hub.clock.setTimeout(() => {
      hub.probes.cancel(asker);
      resolve({ ok: true, port, answered: false, timeoutMs });
    }, timeoutMs);
    hub.send(templates.queryRms(hub.probes.ask(asker, host, port)), host, port);
  });
});
