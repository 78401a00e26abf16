import { TRACK_ID_MAX_LENGTH, validateIdentity, validateTempId } from '../../osc/wire.js';

/**
 * The lease journal's format, pure: one JSON record a line after a header, the
 * last record for a tempID winning. Reading validates every field, so a line the
 * journal could not read back is never written, and a damaged one is found.
 */

export interface JournalLease {
  tempId: string;
  port: number;
  /** Where assignments go (the response endpoint), or null when unknown. */
  endpoint: { host: string; port: number } | null;
  /** Address the instance's port lives on (probes go to host:port). */
  host: string;
  trackId: string | null;
  /** Wall-clock ms (Date.now()). */
  boundAt: number;
  lastSeen: number;
}

export interface JournalState {
  /** Bound leases, by tempID. */
  leases: Map<string, JournalLease>;
  /** The last port each tempID held, bound or since ended, for affinity: a returning instance gets it back if free. */
  lastPorts: Map<string, { port: number; at: number }>;
}


export type JournalRecord =
  | { op: 'put'; lease: JournalLease; at: number }
  | { op: 'drop'; tempId: string; port: number; reason: string; at: number };

export interface JournalProblem {
  /** 1-based; the header is line 1. */
  line: number;
  reason: string;
}

export interface ParsedJournal {
  state: JournalState;
  problems: JournalProblem[];
  /** The last line was cut short by an interrupted write and was ignored. */
  torn: boolean;
  header: boolean;
  /** Records that validated and were applied. */
  records: number;
}

const HEADER_LINE = '{"oscport":"leases","v":1}\n';
const MAX_HOST_LENGTH = 255;
// The line of a record written at compaction for an ended lease: its original reason is not kept in the state.
const COMPACTED_REASON = 'compacted';
// How formatRecord begins every line.
const RECORD_START = '{"op":"';

/** One journal line, newline included. Only the known fields are written, in a fixed order. */
export function formatRecord(record: JournalRecord): string {
  if (record.op === 'drop') {
    const { tempId, port, reason, at } = record;
    return `${JSON.stringify({ op: 'drop', tempId, port, reason, at })}\n`;
  }
  return `${JSON.stringify({ op: 'put', lease: copyLease(record.lease), at: record.at })}\n`;
}

export function parseJournal(text: string): ParsedJournal {
  const lines = text === '' ? [] : text.split('\n');
  if (text.endsWith('\n')) lines.pop();
  return parseLines(lines, text === '' || text.endsWith('\n'));
}

/** `null` stands for a line that is not UTF-8; `complete` says whether the text ended with a newline. */
function parseLines(lines: ReadonlyArray<string | null>, complete: boolean): ParsedJournal {
  const state: JournalState = { leases: new Map(), lastPorts: new Map() };
  const result: ParsedJournal = { state, problems: [], torn: false, header: false, records: 0 };
  for (const [index, line] of lines.entries()) {
    const value = line === null ? undefined : parseJson(line);
    // Only the final write can have been cut short (power loss, SIGKILL): it never completed, so nothing is lost.
    // Anything else unreadable there is corruption, reported like any other line.
    if (index > 0 && index === lines.length - 1 && !complete && value === undefined && isRecordStart(line)) {
      result.torn = true;
      break;
    }
    const record = line === null ? 'not UTF-8 text' : value === undefined ? 'not JSON' : readRecord(value);
    if (index === 0) {
      result.header = isHeader(value);
      if (result.header) continue;
      result.problems.push({ line: 1, reason: typeof record === 'string' ? 'missing or wrong header' : 'missing header' });
      if (typeof record === 'string') continue;
    }
    if (typeof record === 'string') {
      result.problems.push({ line: index + 1, reason: record });
      continue;
    }
    applyRecord(state, record);
    result.records++;
  }
  return result;
}

function parseJson(line: string): unknown {
  return attempt(() => JSON.parse(line) as unknown);
}

function isRecordStart(line: string | null): boolean {
  return line !== null && (line.startsWith(RECORD_START) || RECORD_START.startsWith(line));
}

function isHeader(value: unknown): boolean {
  return isObject(value) && value.oscport === 'leases' && value.v === 1;
}

export function readRecord(value: unknown): JournalRecord | string {
  if (!isObject(value)) return 'not an object';
  if (!isTime(value.at)) return '"at" is not a time';
  if (value.op === 'put') {
    const lease = readLease(value.lease);
    return typeof lease === 'string' ? lease : { op: 'put', lease, at: value.at };
  }
  if (value.op !== 'drop') return typeof value.op === 'string' ? `unknown op "${value.op.slice(0, 32)}"` : 'no op';
  const { tempId, port, reason, at } = value;
  if (!isTempId(tempId)) return typeof tempId === 'string' ? validateTempId(tempId)! : 'tempID is not a string';
  if (!isPort(port)) return 'port is not 1-65535';
  if (typeof reason !== 'string') return 'reason is not a string';
  return { op: 'drop', tempId, port, reason, at };
}

export function readLease(value: unknown): JournalLease | string {
  if (!isObject(value)) return 'lease is not an object';
  const { tempId, port, host, trackId, boundAt, lastSeen } = value;
  if (!isTempId(tempId)) return typeof tempId === 'string' ? validateTempId(tempId)! : 'tempID is not a string';
  if (!isPort(port)) return 'port is not 1-65535';
  if (!isHost(host)) return 'host is not a non-empty string';
  const endpoint = readEndpoint(value.endpoint);
  if (endpoint === undefined) return 'endpoint is neither null nor { host, port }';
  if (trackId !== null && typeof trackId !== 'string') return 'trackId is neither null nor a string';
  const trackIdError = trackId === null ? undefined : validateIdentity(trackId, 'trackID', TRACK_ID_MAX_LENGTH);
  if (trackIdError !== undefined) return trackIdError;
  if (!isTime(boundAt) || !isTime(lastSeen)) return 'boundAt or lastSeen is not a time';
  return { tempId, port, endpoint, host, trackId, boundAt, lastSeen };
}

function readEndpoint(value: unknown): JournalLease['endpoint'] | undefined {
  if (value === null) return null;
  return isObject(value) && isHost(value.host) && isPort(value.port) ? { host: value.host, port: value.port } : undefined;
}

// The same rule as on the wire: whatever a plugin could send, the journal can hold.
const isTempId = (value: unknown): value is string => typeof value === 'string' && validateTempId(value) === undefined;
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isPort = (value: unknown): value is number => Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535;
const isHost = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= MAX_HOST_LENGTH;
const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && value >= 0;

function copyLease({ tempId, port, endpoint, host, trackId, boundAt, lastSeen }: JournalLease): JournalLease {
  return { tempId, port, endpoint: endpoint && { host: endpoint.host, port: endpoint.port }, host, trackId, boundAt, lastSeen };
}

export function applyRecord(state: JournalState, record: JournalRecord): void {
  const tempId = record.op === 'put' ? record.lease.tempId : record.tempId;
  if (record.op === 'put') state.leases.set(tempId, record.lease);
  else state.leases.delete(tempId);
  // Re-inserted so the map stays in order of recency.
  state.lastPorts.delete(tempId);
  state.lastPorts.set(tempId, { port: record.op === 'put' ? record.lease.port : record.port, at: record.at });
}

/** A copy holding every bound lease, plus the most recent ended ones up to `maxRemembered` in all; lastPorts ordered by time. */
export function bounded(state: JournalState, maxRemembered: number): JournalState {
  const leases = new Map([...state.leases].map(([tempId, lease]) => [tempId, copyLease(lease)]));
  const bound = [...leases.values()].map(
    ({ tempId, port, lastSeen }) => [tempId, { port, at: state.lastPorts.get(tempId)?.at ?? lastSeen }] as const,
  );
  const ended = [...state.lastPorts].filter(([tempId]) => !leases.has(tempId)).sort((a, b) => a[1].at - b[1].at);
  const kept = ended.slice(Math.max(0, ended.length - Math.max(0, maxRemembered - leases.size)));
  const lastPorts = [...bound, ...kept].sort((a, b) => a[1].at - b[1].at).map(([tempId, { port, at }]) => [tempId, { port, at }] as const);
  return { leases, lastPorts: new Map(lastPorts) };
}

/**
 * Forgets, in place, the least recent ended tempIDs beyond `maxRemembered` in all (bound leases are never
 * forgotten): what compaction applies at every rewrite, so the file and the memory stay bounded whatever
 * the churn. `lastPorts` is kept in order of recency, so this is one pass, with no sort and no copy.
 */
export function trimToBound(state: JournalState, maxRemembered: number): void {
  let ended = 0;
  for (const tempId of state.lastPorts.keys()) if (!state.leases.has(tempId)) ended++;
  let excess = ended - Math.max(0, maxRemembered - state.leases.size);
  if (excess <= 0) return;
  for (const tempId of state.lastPorts.keys()) {
    if (excess === 0) break;
    if (state.leases.has(tempId)) continue;
    state.lastPorts.delete(tempId);
    excess--;
  }
}

/** The whole file a compaction writes for `state`: one record per remembered tempID. */
export function formatState(state: JournalState): string {
  return HEADER_LINE + formatEntries([...state.lastPorts], state.leases);
}

export const JOURNAL_HEADER = HEADER_LINE;

/** The records a compaction writes for these remembered tempIDs, in order. */
export function formatEntries(
  entries: ReadonlyArray<readonly [string, { port: number; at: number }]>,
  leases: ReadonlyMap<string, JournalLease>,
): string {
  let text = '';
  for (const [tempId, { port, at }] of entries) {
    const lease = leases.get(tempId);
    text += formatRecord(lease ? { op: 'put', lease, at } : { op: 'drop', tempId, port, reason: COMPACTED_REASON, at });
  }
  return text;
}

export function parseBytes(bytes: Buffer): ParsedJournal {
  const complete = bytes.at(-1) === 0x0a;
  const text = decodeUtf8(bytes, !complete);
  if (text !== undefined) return parseJournal(text);
  // Not UTF-8 as a whole: decode line by line so the good lines can still be salvaged.
  const lines: Array<string | null> = [];
  for (let start = 0; start < bytes.length; ) {
    const end = bytes.indexOf(0x0a, start);
    const stop = end === -1 ? bytes.length : end;
    lines.push(decodeUtf8(bytes.subarray(start, stop), end === -1) ?? null);
    start = stop + 1;
  }
  return parseLines(lines, complete);
}

/** `partial`: the bytes may end inside a character cut short by a torn write; that character is left out. */
function decodeUtf8(bytes: Uint8Array, partial: boolean): string | undefined {
  return attempt(() => new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: partial }));
}

/** `run`'s result, or undefined when it throws. */
function attempt<T>(run: () => T): T | undefined {
  try {
    return run();
  } catch {
    return undefined;
  }
}
