import { parseRmsResponse } from '../osc/wire.js';
import { rejectInvalid, type Handler } from './hub.js';
import { forwardToControllers } from './routing.js';

/**
 * [PROTOCOL §5, §12] `,ssf nonce tempID rms`. An answer to one of the coordinator's probes goes to
 * whoever asked (a lease, the CLI, a gather) and no further; any other rms_response answers
 * ChattyChannels' own query_rms: plugin traffic, forwarded to the controllers as it came.
 */
export const handleRmsResponse: Handler = (hub, message, datagram, source) => {
  const parsed = parseRmsResponse(message.args);
  if (parsed.ok && hub.probes.answer(parsed.value, source)) return;
  // An answer to one of our probes that came twice, or late, is ours still: not ChattyChannels' to hear.
  if (parsed.ok && hub.probes.isSpent(parsed.value.nonce)) {
    hub.counters.lateAnswers++;
    return;
  }
  if (parsed.ok) hub.counters.unmatchedAnswers++;
  else rejectInvalid(hub, message.address, source, parsed.detail);
  forwardToControllers(hub, message, datagram);
};
