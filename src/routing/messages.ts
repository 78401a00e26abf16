import contract from '../../protocol/messages.json' with { type: 'json' };
import { encodeMessage, type OscArg } from '../osc/codec.js';

const { messages } = contract.routing;

/** [PROTOCOL §11-§14] the controllers' addresses. */
export const ROUTING_ADDRESS = {
  subscribe: messages.subscribe.address,
  unsubscribe: messages.unsubscribe.address,
  subscribed: messages.subscribed.address,
  unsubscribed: messages.unsubscribed.address,
  lease: messages.lease.address,
  track: messages.track.address,
  send: messages.send.address,
  error: messages.error.address,
  queryRms: messages.query_rms.address,
  rms: messages.rms.address,
  rmsMissing: messages.rms_missing.address,
} as const;

export type RoutingErrorCode =
  | 'forbidden'
  | 'too_many_controllers'
  | 'bad_arguments'
  | 'unknown_target'
  | 'not_bound'
  | 'unknown_address'
  | 'unknown_processor';

const s = (value: string): OscArg => ({ type: 's', value });
const i = (value: number): OscArg => ({ type: 'i', value });
const f = (value: number): OscArg => ({ type: 'f', value });

/** [PROTOCOL §11] `,i renewWithinMs` */
export const subscribed = (renewWithinMs: number) => encodeMessage({ address: ROUTING_ADDRESS.subscribed, args: [i(renewWithinMs)] });
export const unsubscribed = () => encodeMessage({ address: ROUTING_ADDRESS.unsubscribed, args: [] });

/** [PROTOCOL §12] `,sis tempID port state`: the port it holds, or held last when it ended. */
export const leaseEvent = (tempId: string, port: number, state: string) =>
  encodeMessage({ address: ROUTING_ADDRESS.lease, args: [s(tempId), i(port), s(state)] });

/** [PROTOCOL §12] `,ss tempID trackID` */
export const trackEvent = (tempId: string, trackId: string) => encodeMessage({ address: ROUTING_ADDRESS.track, args: [s(tempId), s(trackId)] });

/** [PROTOCOL §13] `,sss code detail requestAddress` */
export const routingError = (code: RoutingErrorCode, detail: string, requestAddress: string) =>
  encodeMessage({ address: ROUTING_ADDRESS.error, args: [s(code), s(detail), s(requestAddress)] });

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

/** Entries per datagram: with the three header arguments, 31 at most (receivers, ours included, cap at 32). */
const ANSWERS_PER_PART = 7;
const SILENT_PER_PART = 9;
/** Bytes per datagram, well under any OSC receiver's buffer (and one Ethernet frame, should it leave the host). */
const PART_BUDGET = 1200;

/**
 * [PROTOCOL §14] A gather's answer: the answers, then the silent plugins, split over as many
 * datagrams as it takes, each numbered `part` of `parts` so the controller knows when it has all.
 */
export function rmsReply(queryId: string, answers: readonly RmsAnswer[], silent: readonly Silent[]): Uint8Array[] {
  const answerArgs = answers.map((a) => [s(a.tempId), s(a.trackId ?? ''), i(a.port), f(a.rms)]);
  const silentArgs = silent.map((p) => [s(p.tempId), s(p.trackId ?? ''), i(p.port)]);
  const groups = [
    ...pack(answerArgs, ANSWERS_PER_PART).map((entries) => ({ address: ROUTING_ADDRESS.rms, entries })),
    ...pack(silentArgs, SILENT_PER_PART).map((entries) => ({ address: ROUTING_ADDRESS.rmsMissing, entries })),
  ];
  if (groups.length === 0) groups.push({ address: ROUTING_ADDRESS.rms, entries: [] });
  return groups.map(({ address, entries }, index) =>
    encodeMessage({ address, args: [s(queryId), i(index + 1), i(groups.length), ...entries.flat()] }),
  );
}

/** Entries grouped so each group stays within `max` entries and the byte budget (but always holds one). */
function pack(entries: OscArg[][], max: number): OscArg[][][] {
  const groups: OscArg[][][] = [];
  let current: OscArg[][] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = entry.reduce((total, arg) => total + 4 + (arg.type === 's' ? Buffer.byteLength(arg.value) + 4 : 4), 0);
    if (current.length > 0 && (current.length === max || bytes + size > PART_BUDGET)) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(entry);
    bytes += size;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}
