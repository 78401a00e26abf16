import { isUtf8 } from 'node:buffer';
import osc from 'osc/src/osc.js';

/** One OSC argument, with its type tag kept: `f` 2.0 stays a float on the way back out. */
export type OscArg =
  | { type: 'i'; value: number }
  | { type: 'f'; value: number }
  | { type: 's'; value: string }
  | { type: 'b'; value: Uint8Array };

export interface OscMessage {
  address: string;
  args: readonly OscArg[];
}

/** Anything osc.js can read: the known four, plus the OSC 1.1 extras, carried but never acted on. */
export interface DecodedArg {
  type: string;
  value: unknown;
  /**
   * A string whose bytes are not UTF-8: its value holds U+FFFD in their place, so two such strings may look
   * alike. Identities (tempIDs, trackIDs, request IDs) are refused on it. [PROTOCOL, Types]
   */
  notUtf8?: true;
}

export interface DecodedMessage {
  address: string;
  args: readonly DecodedArg[];
  /** Where the message's bytes lie in the datagram: all of it, or one element of a bundle. */
  start: number;
  end: number;
}

export type DecodeErrorCode =
  | 'empty'
  | 'bad_header'
  | 'bad_bundle'
  | 'bundle_too_deep'
  | 'too_many_messages'
  | 'too_many_args'
  | 'bad_message'
  | 'trailing_bytes';

export interface DecodeError {
  code: DecodeErrorCode;
  offset: number;
  detail?: string;
}

export type DecodeResult =
  | { ok: true; messages: DecodedMessage[] }
  | { ok: false; error: DecodeError };

export interface DecodeLimits {
  maxBundleDepth: number;
  maxMessages: number;
  maxArgs: number;
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = {
  maxBundleDepth: 4,
  maxMessages: 64,
  maxArgs: 32,
};

const READ_OPTIONS = { metadata: true, unpackSingleArgs: false } as const;
const BUNDLE_TAG = Buffer.from('#bundle\0', 'latin1');
const BUNDLE_HEADER_BYTES = 16; // "#bundle\0" + 8-byte time tag
const SLASH = 0x2f;

/**
 * Decodes one datagram into its messages, bundles flattened in order.
 * Never throws: a malformed datagram yields one typed error. Bundle framing is
 * walked here, with bounds and depth checked, because osc.js trusts element sizes.
 */
export function decodeDatagram(data: Uint8Array, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): DecodeResult {
  if (data.byteLength === 0) return fail('empty', 0);
  const messages: DecodedMessage[] = [];
  const error = decodeElement(data, 0, data.byteLength, 0, limits, messages);
  return error ? { ok: false, error } : { ok: true, messages };
}

function decodeElement(
  data: Uint8Array,
  start: number,
  end: number,
  depth: number,
  limits: DecodeLimits,
  out: DecodedMessage[],
): DecodeError | undefined {
  if (start >= end) return { code: 'bad_bundle', offset: start, detail: 'empty element' };
  if (data[start] === SLASH) {
    if (out.length >= limits.maxMessages) return { code: 'too_many_messages', offset: start };
    const decoded = decodeMessage(data, start, end, limits);
    if ('code' in decoded) return decoded;
    out.push(decoded);
    return undefined;
  }
  if (!isBundleHeader(data, start, end)) return { code: 'bad_header', offset: start };
  if (depth >= limits.maxBundleDepth) return { code: 'bundle_too_deep', offset: start };
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let offset = start + BUNDLE_HEADER_BYTES;
  while (offset < end) {
    if (offset + 4 > end) return { code: 'bad_bundle', offset, detail: 'truncated element size' };
    const size = view.getInt32(offset);
    const elementStart = offset + 4;
    if (size <= 0 || size % 4 !== 0 || elementStart + size > end) {
      return { code: 'bad_bundle', offset, detail: `element size ${size}` };
    }
    const error = decodeElement(data, elementStart, elementStart + size, depth + 1, limits, out);
    if (error) return error;
    offset = elementStart + size;
  }
  return undefined;
}

function isBundleHeader(data: Uint8Array, start: number, end: number): boolean {
  if (end - start < BUNDLE_HEADER_BYTES) return false;
  for (let i = 0; i < BUNDLE_TAG.length; i++) if (data[start + i] !== BUNDLE_TAG[i]) return false;
  return true;
}

/** Indexes of the string arguments of the message being decoded whose bytes are not UTF-8; reused, not reallocated. */
const notUtf8: number[] = [];

function decodeMessage(data: Uint8Array, start: number, end: number, limits: DecodeLimits): DecodedMessage | DecodeError {
  notUtf8.length = 0;
  const structureError = checkStructure(data, start, end, limits);
  if (structureError) return structureError;
  // osc.js reads blobs from the underlying ArrayBuffer without the view's offset: hand it bytes at offset 0.
  const bytes =
    start === 0 && end === data.byteLength && data.byteOffset === 0 ? data : new Uint8Array(data.subarray(start, end));
  let message: DecodedMessage;
  try {
    message = osc.readMessage(bytes, READ_OPTIONS, { idx: 0 }) as unknown as DecodedMessage;
  } catch (err) {
    return { code: 'bad_message', offset: start, detail: (err as Error).message.slice(0, 120) };
  }
  for (const index of notUtf8) (message.args[index] as DecodedArg).notUtf8 = true;
  message.start = start;
  message.end = end;
  return message;
}

/** Bytes each fixed-size OSC 1.0/1.1 argument type takes; strings and blobs are sized as they are read. */
const FIXED_SIZE: Readonly<Record<string, number>> = {
  i: 4, f: 4, c: 4, r: 4, m: 4, h: 8, t: 8, d: 8, T: 0, F: 0, N: 0, I: 0,
};

/**
 * Walks the message's layout before osc.js reads it: every string must end in a
 * NUL inside the message, every size must fit, and the arguments must end
 * exactly at the end. osc.js tolerates a string without its NUL and reads a
 * blob past the end of a view; arrays are refused, being outside the contract.
 */
function checkStructure(data: Uint8Array, start: number, end: number, limits: DecodeLimits): DecodeError | undefined {
  const address = readStringEnd(data, start, end);
  if (address < 0) return { code: 'bad_message', offset: start, detail: 'address not terminated' };
  let offset = address;
  if (offset === end) return { code: 'bad_message', offset, detail: 'no type tag string' };
  if (data[offset] !== 0x2c) return { code: 'bad_message', offset, detail: 'type tag string must start with ","' };
  const tagsEnd = readStringEnd(data, offset, end);
  if (tagsEnd < 0) return { code: 'bad_message', offset, detail: 'type tags not terminated' };
  const tagStart = offset + 1;
  const tagCount = data.indexOf(0, tagStart) - tagStart; // readStringEnd found this NUL before `end`
  if (tagCount > limits.maxArgs) return { code: 'too_many_args', offset };
  offset = tagsEnd;
  for (let t = 0; t < tagCount; t++) {
    const tag = String.fromCharCode(data[tagStart + t]!);
    const fixed = FIXED_SIZE[tag];
    if (fixed !== undefined) offset += fixed;
    else if (tag === 's' || tag === 'S') {
      const stringStart = offset;
      offset = readStringEnd(data, offset, end);
      if (offset >= 0 && !isUtf8(data.subarray(stringStart, data.indexOf(0, stringStart)))) notUtf8.push(t);
    }
    else if (tag === 'b') offset = readBlobEnd(data, offset, end);
    else return { code: 'bad_message', offset: tagStart + t, detail: `unsupported type tag "${tag}"` };
    if (offset < 0 || offset > end) return { code: 'bad_message', offset: end, detail: `argument ${t + 1} (${tag}) runs past the end` };
  }
  if (offset !== end) return { code: 'trailing_bytes', offset };
  return undefined;
}

/**
 * For a datagram that is one message: its first argument when that is a string, null when it is
 * not, undefined when the datagram is not well-formed OSC (the full decoder then says why). It
 * checks the same layout `decodeDatagram` does, without building the message: the hot path of
 * plugin traffic needs only this and the bytes.
 */
export function firstString(data: Uint8Array): string | null | undefined {
  if (data.byteLength === 0 || data[0] !== SLASH) return undefined;
  notUtf8.length = 0;
  if (checkStructure(data, 0, data.byteLength, DEFAULT_DECODE_LIMITS)) return undefined;
  const tagsStart = readStringEnd(data, 0, data.byteLength);
  if (data[tagsStart + 1] !== 0x73 || notUtf8[0] === 0) return null;
  const valueStart = readStringEnd(data, tagsStart, data.byteLength);
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8', valueStart, data.indexOf(0, valueStart));
}

/**
 * For a datagram `firstString` found well-formed: its second argument when that is a float (the
 * level in telemetry and rms), undefined when it is not.
 */
export function floatAfterFirstString(data: Buffer): number | undefined {
  const tagsStart = readStringEnd(data, 0, data.byteLength);
  if (data[tagsStart + 1] !== 0x73 || data[tagsStart + 2] !== 0x66) return undefined;
  const floatStart = readStringEnd(data, readStringEnd(data, tagsStart, data.byteLength), data.byteLength);
  return floatStart < 0 || floatStart + 4 > data.byteLength ? undefined : data.readFloatBE(floatStart);
}

/** The arguments' type tags, without the comma. */
export function typeTags(args: readonly DecodedArg[]): string {
  let tags = '';
  for (const arg of args) tags += arg.type;
  return tags;
}

/**
 * Where argument `index` of a decoded message begins in `data` (the message's own bytes from there
 * on can be sent on as they are, without re-encoding). The message was checked when it was decoded.
 */
export function argumentOffset(data: Uint8Array, message: DecodedMessage, index: number): number {
  const tagsStart = readStringEnd(data, message.start, message.end);
  let offset = readStringEnd(data, tagsStart, message.end);
  for (let t = 0; t < index; t++) {
    const tag = String.fromCharCode(data[tagsStart + 1 + t]!);
    const fixed = FIXED_SIZE[tag];
    if (fixed !== undefined) offset += fixed;
    else if (tag === 'b') offset = readBlobEnd(data, offset, message.end);
    else offset = readStringEnd(data, offset, message.end);
  }
  return offset;
}

/** Offset just past the NUL-terminated, 4-byte padded string at `offset`, or -1 when it has no NUL. */
function readStringEnd(data: Uint8Array, offset: number, end: number): number {
  const nul = data.indexOf(0, offset);
  if (nul < 0 || nul >= end) return -1;
  const next = offset + ((nul - offset + 4) & ~3);
  return next > end ? -1 : next;
}

function readBlobEnd(data: Uint8Array, offset: number, end: number): number {
  if (offset + 4 > end) return -1;
  const size = new DataView(data.buffer, data.byteOffset + offset, 4).getInt32(0);
  if (size < 0) return -1;
  return offset + 4 + ((size + 3) & ~3);
}

function fail(code: DecodeErrorCode, offset: number): DecodeResult {
  return { ok: false, error: { code, offset } };
}

/** Encodes one message; arguments are written with exactly the types they carry. */
export function encodeMessage(message: OscMessage): Uint8Array {
  return osc.writeMessage({ address: message.address, args: message.args as OscArg[] }, READ_OPTIONS);
}
