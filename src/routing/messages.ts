import { encodeMessage, type OscArg } from '../osc/codec.js';
import { ADDRESS, repeatingFormOf } from '../osc/contract.js';
import { messageHead, oscString } from '../osc/templates.js';

export type RoutingErrorCode =
  | 'forbidden'
  | 'too_many_controllers'
  | 'bad_arguments'
  | 'unknown_target'
  | 'not_bound'
  | 'unknown_address'
  | 'unknown_processor'
  | 'too_many_subscriptions'
  | 'busy';

const s = (value: string): OscArg => ({ type: 's', value });
const i = (value: number): OscArg => ({ type: 'i', value });

/** [PROTOCOL §11] `,i renewWithinMs` */
export const subscribed = (renewWithinMs: number) => encodeMessage({ address: ADDRESS.subscribed, args: [i(renewWithinMs)] });
/** [PROTOCOL §11] `,is renewWithinMs token`, at a named listen port: prove it listens with this token. */
export const subscribedWithToken = (renewWithinMs: number, token: string) =>
  encodeMessage({ address: ADDRESS.subscribed, args: [i(renewWithinMs), s(token)] });
export const unsubscribed = () => encodeMessage({ address: ADDRESS.unsubscribed, args: [] });

/** [PROTOCOL §12] `,sis tempID port state`: the port it holds, or held last when it ended. */
export const leaseEvent = (tempId: string, port: number, state: string) =>
  encodeMessage({ address: ADDRESS.lease_event, args: [s(tempId), i(port), s(state)] });

/** [PROTOCOL §12] `,ss tempID trackID` */
export const trackEvent = (tempId: string, trackId: string) => encodeMessage({ address: ADDRESS.track_event, args: [s(tempId), s(trackId)] });

/** [PROTOCOL §13] `,sss code detail requestAddress` */
export const routingError = (code: RoutingErrorCode, detail: string, requestAddress: string) =>
  encodeMessage({ address: ADDRESS.error, args: [s(code), s(detail), s(requestAddress)] });

export interface RmsAnswer {
  tempId: string;
  trackId: string | null;
  port: number;
  rms: number;
}

export interface Silent {
  tempId: string;
  trackId: string | null;
  port: number;
}

const ANSWERS = { address: ADDRESS.gather_answers, form: repeatingFormOf('gather_answers') };
const MISSING = { address: ADDRESS.gather_missing, form: repeatingFormOf('gather_missing') };

/** Entries per datagram: with the three header arguments, 31 at most (receivers, ours included, cap at 32). */
const ANSWERS_PER_PART = 7;
const SILENT_PER_PART = 9;
/** Bytes per datagram, a part stays under it: well under any OSC receiver's buffer (and one Ethernet frame, should it leave the host). */
const PART_BUDGET = 1200;

/**
 * [PROTOCOL §14] A gather's answer: the answers, then the silent plugins, split over as many
 * datagrams as it takes, each numbered `part` of `parts` so the controller knows when it has all.
 * Written straight into bytes, each entry once: a gather across hundreds of plugins is on a
 * controller's critical path, and building argument objects for the codec was most of its cost.
 */
export function rmsReply(queryId: string, answers: readonly RmsAnswer[], silent: readonly Silent[]): Buffer[] {
  const id = oscString(queryId);
  const kinds = [
    { ...ANSWERS, max: ANSWERS_PER_PART, entries: answers.map((a) => entry(a.tempId, a.trackId, a.port, a.rms)) },
    { ...MISSING, max: SILENT_PER_PART, entries: silent.map((p) => entry(p.tempId, p.trackId, p.port)) },
  ];
  const groups = kinds.flatMap(({ address, form, max, entries }) => {
    // The part's bytes but for its entries: address, type tags (,sii then the entries'), queryID, part, parts.
    const head = oscString(address).length + id.length + 8;
    const fixed = (count: number) => head + ((`,${form.head}${form.group.repeat(count)}`.length + 4) & ~3);
    return pack(entries, max, fixed).map((group) => ({ address, form, entries: group }));
  });
  if (groups.length === 0) groups.push({ ...ANSWERS, entries: [] });
  return groups.map(({ address, form, entries }, index) =>
    Buffer.concat([messageHead(address, `${form.head}${form.group.repeat(entries.length)}`), id, int32(index + 1), int32(groups.length), ...entries]),
  );
}

/** One plugin's arguments: tempID, trackID ("" for none), port, and the rms when it answered. */
function entry(tempId: string, trackId: string | null, port: number, rms?: number): Buffer {
  const numbers = Buffer.allocUnsafe(rms === undefined ? 4 : 8);
  numbers.writeInt32BE(port, 0);
  if (rms !== undefined) numbers.writeFloatBE(rms, 4);
  return Buffer.concat([oscString(tempId), oscString(trackId ?? ''), numbers]);
}

function int32(value: number): Buffer {
  const bytes = Buffer.allocUnsafe(4);
  bytes.writeInt32BE(value, 0);
  return bytes;
}

/** Entries grouped so each part stays within `max` entries and PART_BUDGET bytes (but always holds one). */
function pack(entries: Buffer[], max: number, fixed: (count: number) => number): Buffer[][] {
  const groups: Buffer[][] = [];
  let current: Buffer[] = [];
  let bytes = 0;
  for (const entry of entries) {
    if (current.length > 0 && (current.length === max || fixed(current.length + 1) + bytes + entry.length >= PART_BUDGET)) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(entry);
    bytes += entry.length;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}
