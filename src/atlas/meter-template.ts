import { ADDRESS, formOf } from '../osc/contract.js';
import { messageHead, oscString } from '../osc/templates.js';

const PREFIX = messageHead(ADDRESS.atlas_meter, formOf('atlas_meter'));

/** Address, type tags and both strings, per (processor, param): bounded by the subscriptions a device answers. */
const heads = new Map<string, Buffer>();

/**
 * [PROTOCOL §15] `/atlas/meter ,ssf processorId param value`: encoded once per update (only the
 * float is written each time), then the same bytes go to every consumer and controller.
 */
export function meterMessage(processorId: string, param: string, value: number): Buffer {
  const key = `${processorId}\u0000${param}`;
  let head = heads.get(key);
  if (!head) {
    head = Buffer.concat([PREFIX, oscString(processorId), oscString(param)]);
    heads.set(key, head);
  }
  const bytes = Buffer.allocUnsafe(head.length + 4);
  head.copy(bytes, 0);
  bytes.writeFloatBE(value, head.length);
  return bytes;
}
