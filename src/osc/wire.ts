import type { ErrorCode } from '../../machines/lease.js';
import type { DecodedArg, OscArg, OscMessage } from './codec.js';
import { ADDRESS, parse } from './contract.js';

/** The codes of `/aiplayer/port_error`: the lease machine's, written once there. */
export type { ErrorCode } from '../../machines/lease.js';

export const TEMP_ID_MAX_LENGTH = 128;
export const TRACK_ID_MAX_LENGTH = 128;
export const REQUEST_ID_MAX_LENGTH = 64;
export const NONCE_MAX_LENGTH = 128;
const PRINTABLE = /^[^\p{C}]+$/u;
const MIN_PORT = 1;
const MAX_PORT = 65535;

export type Rejected = { ok: false; detail: string; tempId?: string };
export type Parsed<T> = { ok: true; value: T } | Rejected;

export interface PortRequest {
  tempId: string;
  /** -1 when the plugin has no preference. */
  preferredPort: number;
  /** Where the reply goes; undefined means the request's source port. [PROTOCOL §1] */
  responsePort: number | undefined;
}

export interface PortConfirmation {
  tempId: string;
  port: number;
  status: 'bound' | 'failed';
}

/** `/aiplayer/rms_response`: an answer to a probe. [PROTOCOL §5] */
export interface ProbeAnswer {
  nonce: string;
  /** Who answered: the instance receiving on the probed port. */
  tempId: string;
  rms: number;
}

/**
 * An identity (tempID, trackID, request ID): 1 to `maxLength` characters, counted in code points as
 * PROTOCOL says characters (64 emoji are 64), none of them a control, format or unassigned one.
 */
export function validateIdentity(value: string, what: string, maxLength: number): string | undefined {
  if (value.length === 0) return `${what} is empty`;
  // Two UTF-16 units at most per code point: only a long string needs counting.
  if (value.length > maxLength && codePoints(value) > maxLength) return `${what} longer than ${maxLength} characters`;
  if (!PRINTABLE.test(value)) return `${what} has non-printable characters`;
  return undefined;
}

export function validateTempId(value: string): string | undefined {
  return validateIdentity(value, 'tempID', TEMP_ID_MAX_LENGTH);
}

/** An identity as it came off the wire: its bytes must be UTF-8 too, or distinct IDs could decode alike. */
export function validateIdentityArg(arg: DecodedArg | undefined, what: string, maxLength: number): string | undefined {
  if (arg?.type !== 's' || typeof arg.value !== 'string') return `${what} is not a string`;
  if (arg.notUtf8) return `${what} is not valid UTF-8`;
  return validateIdentity(arg.value, what, maxLength);
}

function codePoints(value: string): number {
  let count = 0;
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < value.length) {
      const next = value.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    count++;
  }
  return count;
}

function isPort(value: number): boolean {
  return Number.isInteger(value) && value >= MIN_PORT && value <= MAX_PORT;
}

function tempIdAt(args: readonly DecodedArg[], index: number): string | undefined {
  const arg = args[index];
  return validateIdentityArg(arg, 'tempID', TEMP_ID_MAX_LENGTH) === undefined && typeof arg?.value === 'string' ? arg.value : undefined;
}

/** A rejection names the tempID when it can (`tempIdIndex`: where the message carries it), so replies can too. */
function invalid(detail: string, args: readonly DecodedArg[], tempIdIndex = 0): Rejected {
  const tempId = tempIdAt(args, tempIdIndex);
  return tempId === undefined ? { ok: false, detail } : { ok: false, detail, tempId };
}

export function parseRequestPort(args: readonly DecodedArg[]): Parsed<PortRequest> {
  const parsed = parse.request_port(args);
  if (!parsed.ok) return invalid(parsed.detail, args);
  const tempIdError = validateIdentityArg(args[0], 'tempID', TEMP_ID_MAX_LENGTH);
  if (tempIdError) return invalid(tempIdError, args);
  const [tempId, preferredPort, third] = parsed.value;
  if (preferredPort !== -1 && !isPort(preferredPort)) {
    return invalid(`preferredPort ${preferredPort} is neither -1 nor a port`, args);
  }
  // [PROTOCOL §1] a responsePort of 0 or less means "reply to the source port".
  const responsePort = third !== undefined && third > 0 ? third : undefined;
  if (responsePort !== undefined && !isPort(responsePort)) {
    return invalid(`responsePort ${responsePort} is not a port`, args);
  }
  return { ok: true, value: { tempId, preferredPort, responsePort } };
}

export function parsePortConfirmed(args: readonly DecodedArg[]): Parsed<PortConfirmation> {
  const parsed = parse.port_confirmed(args);
  if (!parsed.ok) return invalid(parsed.detail, args);
  const tempIdError = validateIdentityArg(args[0], 'tempID', TEMP_ID_MAX_LENGTH);
  if (tempIdError) return invalid(tempIdError, args);
  const [tempId, port, status] = parsed.value;
  if (!isPort(port)) return invalid(`port ${port} is not a port`, args);
  if (status !== 'bound' && status !== 'failed') return invalid(`status "${status}" is neither bound nor failed`, args);
  return { ok: true, value: { tempId, port, status } };
}

export function parseRmsResponse(args: readonly DecodedArg[]): Parsed<ProbeAnswer> {
  const parsed = parse.rms_response(args);
  if (!parsed.ok) return invalid(parsed.detail, args, 1);
  const [nonce, tempId, rms] = parsed.value;
  if (nonce.length === 0 || nonce.length > NONCE_MAX_LENGTH) return invalid('query id length out of range', args, 1);
  const tempIdError = validateIdentityArg(args[1], 'tempID', TEMP_ID_MAX_LENGTH);
  if (tempIdError) return invalid(tempIdError, args, 1);
  return { ok: true, value: { nonce, tempId, rms } };
}

export function parseRelease(args: readonly DecodedArg[]): Parsed<{ tempId: string }> {
  const parsed = parse.release(args);
  if (!parsed.ok) return invalid(parsed.detail, args);
  const tempIdError = validateIdentityArg(args[0], 'tempID', TEMP_ID_MAX_LENGTH);
  if (tempIdError) return invalid(tempIdError, args);
  return { ok: true, value: { tempId: parsed.value[0] } };
}

const str = (value: string): OscArg => ({ type: 's', value });
const int = (value: number): OscArg => ({ type: 'i', value });
const float = (value: number): OscArg => ({ type: 'f', value });

/** [PROTOCOL §2] exactly three arguments: the deployed plugin drops anything else. */
export function portAssignment(tempId: string, port: number, status: 'assigned' | 'error'): OscMessage {
  return { address: ADDRESS.port_assignment, args: [str(tempId), int(port), str(status)] };
}

export function portError(tempId: string, code: ErrorCode, detail: string): OscMessage {
  return { address: ADDRESS.port_error, args: [str(tempId), str(code), str(detail)] };
}

export function queryRms(nonce: string): OscMessage {
  return { address: ADDRESS.query_rms, args: [str(nonce)] };
}

export function requestPort(tempId: string, preferredPort: number, responsePort?: number): OscMessage {
  const args = [str(tempId), int(preferredPort)];
  if (responsePort !== undefined) args.push(int(responsePort));
  return { address: ADDRESS.request_port, args };
}

export function portConfirmed(tempId: string, port: number, status: 'bound' | 'failed'): OscMessage {
  return { address: ADDRESS.port_confirmed, args: [str(tempId), int(port), str(status)] };
}

export function rmsResponse(nonce: string, tempId: string, rms: number): OscMessage {
  return { address: ADDRESS.rms_response, args: [str(nonce), str(tempId), float(rms)] };
}

export function release(tempId: string): OscMessage {
  return { address: ADDRESS.release, args: [str(tempId)] };
}
