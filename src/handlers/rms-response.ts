import { parseRmsResponse } from '../osc/wire.js';
import { rejectInvalid, type Handler } from './hub.js';

/**
 * [PROTOCOL §5] `,ssf nonce tempID rms`. An answer to one of the coordinator's probes goes to
 * whoever asked (a lease, the CLI) and no further; any other rms_response is plugin traffic.
 */
export const handleRmsResponse: Handler = (hub, message, _datagram, source) => {
  const parsed = parseRmsResponse(message.args);
  if (!parsed.ok) {
    rejectInvalid(hub, message.address, source, parsed.detail);
    return;
  }
  if (!hub.probes.answer(parsed.value, source)) hub.counters.unmatchedAnswers++;
};
