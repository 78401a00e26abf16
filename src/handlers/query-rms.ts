import { isLoopback } from '../net/cidr.js';
import { ADDRESS, parse } from '../osc/contract.js';
import { REQUEST_ID_MAX_LENGTH, validateIdentityArg } from '../osc/wire.js';
import { gatherRms } from '../routing/gather.js';
import type { Handler } from './hub.js';
import { refuseController } from './routing.js';

/** [PROTOCOL §14] `/coordinator/query_rms ,si queryID timeoutMs`: one calibration gather across every bound plugin. */
export const handleQueryRms: Handler = (hub, message, _datagram, source) => {
  const refuse = (code: Parameters<typeof refuseController>[2], detail: string) => refuseController(hub, source, code, detail, ADDRESS.gather);
  if (!hub.controllers.allowed(source.address)) return refuse('forbidden', `${source.address} is neither loopback nor in --controllers-allow`);
  // Its answer is many times its size, and a source off the host can be forged: only a registered controller is answered.
  if (!isLoopback(source.address) && !hub.controllers.of(source.address, source.port)) {
    return refuse('forbidden', 'off the host, only a registered controller may gather');
  }
  const parsed = parse.gather(message.args);
  if (!parsed.ok) return refuse('bad_arguments', parsed.detail);
  const problem = validateIdentityArg(message.args[0], 'queryID', REQUEST_ID_MAX_LENGTH);
  if (problem !== undefined) return refuse('bad_arguments', problem);
  const [queryId, timeoutMs] = parsed.value;
  if (timeoutMs < 1) return refuse('bad_arguments', `timeoutMs ${timeoutMs} is not 1 or more`);
  const sender = `${source.address}:${source.port}`;
  const busy = hub.budgets.startGather(sender, queryId);
  if (busy !== undefined) return refuse('busy', busy);
  const probes = [...hub.leases.bound()].length;
  const overBudget = hub.budgets.spend(sender, probes);
  if (overBudget !== undefined) {
    hub.budgets.endGather(sender, queryId);
    return refuse('busy', overBudget);
  }
  gatherRms(hub, queryId, timeoutMs, source, () => hub.budgets.endGather(sender, queryId));
};
