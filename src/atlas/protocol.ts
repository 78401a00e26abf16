/**
 * The Atlas AZM4/AZM8 third-party control protocol (ATLAS.md): newline-framed, JSON-RPC-shaped messages over
 * TCP 5321 and UDP 3131. Pure: framing, parsing and encoding only. Nothing here throws on input from the wire;
 * a bad line becomes a typed error the caller counts and drops.
 */

export type Fmt = 'val' | 'pct' | 'str';
/** JSON-RPC ids: we send numbers, but a peer may echo a string. */
export type Id = number | string;

/** A parameter with its value, as carried by `update`, `getResp`, `set`, `bmp` and `result` arrays. */
export interface ParamValue {
  param: string;
  fmt: Fmt;
  value: number | string;
}

/** A parameter asked for in a format, as carried by `sub`, `unsub` and `get`. */
export interface ParamRequest {
  param: string;
  fmt: Fmt;
}

export type QueryMethod = 'sub' | 'unsub' | 'get';
export type WriteMethod = 'set' | 'bmp';

export type AtlasMessage =
  /** Pushed by the device (`update`) or answering a `get` (`getResp`, which the manual sends without an id). */
  | { kind: 'values'; method: 'update' | 'getResp'; values: ParamValue[] }
  /** An acknowledgement: `"result":"OK"` (no values) or an array of param objects. */
  | { kind: 'result'; id: Id | undefined; values: ParamValue[] }
  /** `param` is the name quoted in the message, when there is one: errors are matched by it when no id came back. */
  | { kind: 'error'; id: Id | undefined; code: number | undefined; message: string; param: string | undefined }
  | { kind: 'query'; method: QueryMethod; id: Id | undefined; params: ParamRequest[] }
  | { kind: 'write'; method: WriteMethod; id: Id | undefined; values: ParamValue[] };

export type ParseErrorCode = 'too_long' | 'not_json' | 'not_object' | 'unknown_shape' | 'bad_params' | 'bad_result' | 'bad_error';

export interface ParseError {
  code: ParseErrorCode;
  detail: string;
}

export type ParseResult = { ok: true; message: AtlasMessage } | { ok: false; error: ParseError };

/** Longest line accepted, in bytes: far above any real message, low enough that garbage cannot grow a buffer. */
export const MAX_LINE_BYTES = 64 * 1024;

export const KEEPALIVE_PARAM = 'KeepAlive';

/** The manual's keep-alive, byte for byte; the device answers a getResp on TCP and again on UDP. */
export const KEEPALIVE_REQUEST = '{"jsonrpc":"2.0","method":"get","params":{"param":"KeepAlive","fmt":"str"}}\n';

const NEWLINE = 0x0a;
const FORMATS: readonly Fmt[] = ['val', 'pct', 'str'];

/**
 * Cuts a TCP byte stream into lines. Bytes are kept until their newline arrives, so a line (or a UTF-8 character)
 * split across chunks comes out whole. A line longer than `maxBytes` is dropped and counted, and the stream picks
 * up again after its newline.
 */
export class LineSplitter {
  /** Lines dropped for being too long, since creation. */
  overlong = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Inside an overlong line: everything up to the next newline is thrown away. */
  private discarding = false;

  constructor(private readonly maxBytes = MAX_LINE_BYTES) {}

  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
      const length = this.pendingBytes + end - start;
      if (this.discarding) {
        this.discarding = false;
      } else if (length > this.maxBytes) {
        this.overlong++;
      } else {
        const piece = chunk.subarray(start, end);
        const bytes = this.pendingBytes === 0 ? piece : Buffer.concat([...this.pending, piece]);
        const line = bytes.toString('utf8').trim();
        if (line !== '') lines.push(line);
      }
      this.pending = [];
      this.pendingBytes = 0;
      start = end + 1;
    }
    this.keep(chunk.subarray(start));
    return lines;
  }

  private keep(rest: Buffer): void {
    if (rest.length === 0 || this.discarding) return;
    if (this.pendingBytes + rest.length > this.maxBytes) {
      this.overlong++;
      this.discarding = true;
      this.pending = [];
      this.pendingBytes = 0;
      return;
    }
    // Copied: the socket may reuse the chunk's memory.
    this.pending.push(Buffer.from(rest));
    this.pendingBytes += rest.length;
  }
}

/** The non-blank lines of one datagram: a device may pack several objects into it. */
export function datagramLines(datagram: Buffer): string[] {
  const lines: string[] = [];
  for (const raw of datagram.toString('utf8').split('\n')) {
    const line = raw.trim();
    if (line !== '') lines.push(line);
  }
  return lines;
}

export function parseLine(line: string): ParseResult {
  if (Buffer.byteLength(line) > MAX_LINE_BYTES) return fail('too_long', `line of ${Buffer.byteLength(line)} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (err) {
    return fail('not_json', (err as Error).message);
  }
  if (!isObject(json)) return fail('not_object', `a JSON ${Array.isArray(json) ? 'array' : typeof json}`);
  const id = parseId(json.id);

  if ('error' in json) return parseError(json.error, id);
  if ('result' in json) {
    if (json.result === 'OK') return ok({ kind: 'result', id, values: [] });
    const values = Array.isArray(json.result) ? parseValues(json.result) : undefined;
    return values ? ok({ kind: 'result', id, values }) : fail('bad_result', 'result is neither "OK" nor an array of params');
  }

  const { method } = json;
  if (method === 'update' || method === 'getResp' || method === 'set' || method === 'bmp') {
    const values = parseValues(json.params);
    if (!values) return fail('bad_params', `${method} params need "param" and one of val, pct, str`);
    return method === 'update' || method === 'getResp' ? ok({ kind: 'values', method, values }) : ok({ kind: 'write', method, id, values });
  }
  if (method === 'sub' || method === 'unsub' || method === 'get') {
    const params = parseRequests(json.params);
    if (!params) return fail('bad_params', `${method} params need "param" and an optional fmt of val, pct or str`);
    return ok({ kind: 'query', method, id, params });
  }
  return fail('unknown_shape', typeof method === 'string' ? `unknown method "${method.slice(0, 40)}"` : 'no method, result or error');
}

/** One line, newline included. Written as the manual writes them: `params` of a getResp as an array, any other one object alone. */
export function encodeLine(message: AtlasMessage, options: { errorAsString?: boolean } = {}): string {
  switch (message.kind) {
    case 'values': {
      const values = message.values.map(valueObject);
      return line({ jsonrpc: '2.0', method: message.method, params: message.method === 'getResp' ? values : oneOrMany(values) });
    }
    case 'write':
      return line({ jsonrpc: '2.0', method: message.method, params: oneOrMany(message.values.map(valueObject)), id: message.id });
    case 'query':
      return line({ jsonrpc: '2.0', method: message.method, params: oneOrMany(message.params), id: message.id });
    case 'result':
      return line({ jsonrpc: '2.0', result: message.values.length === 0 ? 'OK' : message.values.map(valueObject), id: message.id });
    case 'error': {
      const error = { code: message.code, message: message.message };
      return line({ jsonrpc: '2.0', error: options.errorAsString ? JSON.stringify(error) : error, id: message.id });
    }
  }
}

/** Keys that are undefined (an absent id) vanish in JSON.stringify. */
function line(object: Record<string, unknown>): string {
  return `${JSON.stringify(object)}\n`;
}

function oneOrMany<T>(items: readonly T[]): T | readonly T[] {
  return items.length === 1 ? items[0]! : items;
}

function valueObject({ param, fmt, value }: ParamValue): Record<string, unknown> {
  return { param, [fmt]: value };
}

function parseError(raw: unknown, id: Id | undefined): ParseResult {
  let error = raw;
  // Observed: some firmware sends the error object JSON-encoded in a string.
  if (typeof raw === 'string') {
    try {
      error = JSON.parse(raw);
    } catch {
      return ok(errorMessage(id, undefined, raw));
    }
  }
  if (typeof error === 'string') return ok(errorMessage(id, undefined, error));
  if (!isObject(error)) return fail('bad_error', 'error is neither an object nor a string');
  const code = typeof error.code === 'number' ? error.code : undefined;
  return ok(errorMessage(id, code, typeof error.message === 'string' ? error.message : ''));
}

function errorMessage(id: Id | undefined, code: number | undefined, message: string): AtlasMessage {
  const quoted = /'([^']+)'/.exec(message);
  return { kind: 'error', id, code, message, param: quoted?.[1] };
}

function parseValues(raw: unknown): ParamValue[] | undefined {
  const items = Array.isArray(raw) ? raw : [raw];
  const values: ParamValue[] = [];
  for (const item of items) {
    if (!isObject(item) || typeof item.param !== 'string') return undefined;
    const fmt = FORMATS.find((f) => f in item);
    const value = fmt === undefined ? undefined : item[fmt];
    if (fmt === 'str' ? typeof value !== 'string' : typeof value !== 'number' || !Number.isFinite(value)) return undefined;
    values.push({ param: item.param, fmt: fmt!, value: value as number | string });
  }
  return values;
}

function parseRequests(raw: unknown): ParamRequest[] | undefined {
  const items = Array.isArray(raw) ? raw : [raw];
  const params: ParamRequest[] = [];
  for (const item of items) {
    if (!isObject(item) || typeof item.param !== 'string') return undefined;
    // The manual always names a format; meters default to dB when one leaves it out.
    const fmt = item.fmt === undefined ? 'val' : FORMATS.find((f) => f === item.fmt);
    if (fmt === undefined) return undefined;
    params.push({ param: item.param, fmt });
  }
  return params;
}

function parseId(raw: unknown): Id | undefined {
  return typeof raw === 'number' || typeof raw === 'string' ? raw : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function ok(message: AtlasMessage): ParseResult {
  return { ok: true, message };
}

function fail(code: ParseErrorCode, detail: string): ParseResult {
  return { ok: false, error: { code, detail } };
}
