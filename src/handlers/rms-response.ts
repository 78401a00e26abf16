import { parseRmsResponse } from '../osc/wire.js';
import { rejectInvalid, type Handler } from './hub.js';

/**
 * [PROTOCOL §5] `,ssf nonce tempID rms`. Probe answers are consumed here and
 * never passed on; any other rms_response is plugin traffic for routing.
 */
export const handleRmsResponse: Handler = (hub, message, source) => {
  const parsed = parseRmsResponse(message.args);
  if (!parsed.ok) {
    rejectInvalid(hub, message.address, source, parsed.detail);
    return;
  }
  const { nonce, tempId } = parsed.value;
  if (hub.assignments.answer(parsed.value, source)) return;
  if (hub.adminProbes.answer(nonce, tempId)) {
    hub.assignments.seen(tempId);
    return;
  }
  hub.counters.unmatchedAnswers++;
};
