import contract from '../../protocol/messages.json' with { type: 'json' };
import { typeTags, type DecodedArg } from './codec.js';

/**
 * The wire contract, typed: `protocol/messages.json` is the only place an address or its type
 * tags are written; this module names them for the code, and parses each message the
 * coordinator reads from the forms written there.
 */

/** One message of messages.json, as every group writes it. */
interface MessageSpec {
  section: number;
  address: string;
  /** Who sends it, and who reads it: `coordinator` on one side. */
  from: string;
  to: string;
  /** Its type tags, without the comma: `ss...` is open to further arguments, `sii(ssif)*` repeats a group. */
  forms: readonly string[];
  args: readonly string[];
  access: number;
  description: string;
}

const GROUPS = [contract.messages, contract.admin.messages, contract.pluginTraffic.messages, contract.routing.messages, contract.atlas.messages];
type KeysOf<T> = T extends unknown ? keyof T & string : never;

/** A message's name in messages.json: unique across its groups. */
export type MessageKey = KeysOf<(typeof GROUPS)[number]>;

const SPECS = new Map<MessageKey, MessageSpec>(GROUPS.flatMap((group) => Object.entries(group) as Array<[MessageKey, MessageSpec]>));

/** Every address of the protocol, by its name in messages.json. */
export const ADDRESS = Object.fromEntries([...SPECS].map(([key, spec]) => [key, spec.address])) as { readonly [K in MessageKey]: string };

/** Where the coordinator's own addresses live: an unknown one there is a controller's mistake, not plugin traffic. [PROTOCOL §12] */
export const COORDINATOR_NAMESPACE = contract.coordinatorNamespace;

/** The type tags JUCE's OSC stack reads, and so all a plugin may be sent. [PROTOCOL §6, §13] */
export const PLUGIN_TYPES = contract.pluginTypes;

function specOf(key: MessageKey): MessageSpec {
  return SPECS.get(key)!;
}

/** The one form of a message (its type tags, without the comma): what a template encodes once. */
export function formOf(key: MessageKey): string {
  const { forms, address } = specOf(key);
  if (forms.length !== 1) throw new Error(`${address} has ${forms.length} forms, not one`);
  return forms[0]!;
}

/** A form that repeats a group after a fixed head (`sii(ssif)*`): the head (`sii`) and the group (`ssif`). */
export function repeatingFormOf(key: MessageKey): { head: string; group: string } {
  const match = /^(\w*)\((\w+)\)\*$/.exec(formOf(key));
  if (!match) throw new Error(`${specOf(key).address} repeats no group`);
  return { head: match[1]!, group: match[2]! };
}

// ---- the namespace, as OSCQuery shows it -----------------------------------------------------

/** One address of the protocol, as an OSCQuery namespace shows it. */
export interface ContractMessage {
  /** Its name in messages.json (the accepted one's, for an address both accepted and sent). */
  key: string;
  address: string;
  /**
   * Its forms' type tags, without the comma: those accepted, or for a message only sent those sent.
   * A form may end open (`ss...`) or repeating (`sii(ssif)*`), which an OSCQuery TYPE cannot say: its reader decides.
   */
  types: string[];
  /** OSCQuery ACCESS: 1 read (the coordinator sends it), 2 write (it accepts it), 3 both. */
  access: 0 | 1 | 2 | 3;
  description: string;
  direction: 'in' | 'out' | 'both';
}

const accepted = (spec: MessageSpec) => spec.to === 'coordinator';
const fixedPart = (form: string) => form.replace(/(\.\.\.|\(\w+\)\*)$/, '');

/** One entry per address: `/coordinator/lease` is both an admin request (in) and a lease event (out). */
function namespaceEntries(): ContractMessage[] {
  const byAddress = new Map<string, Array<[MessageKey, MessageSpec]>>();
  for (const [key, spec] of SPECS) byAddress.set(spec.address, [...(byAddress.get(spec.address) ?? []), [key, spec]]);
  return [...byAddress].map(([address, entries]) => {
    const inward = entries.filter(([, spec]) => accepted(spec));
    const shown = inward.length > 0 ? inward : entries;
    const directions = new Set(entries.map(([, spec]) => (accepted(spec) ? 'in' : 'out')));
    return {
      key: shown[0]![0],
      address,
      types: [...new Set(shown.flatMap(([, spec]) => spec.forms))],
      access: entries.reduce<number>((access, [, spec]) => access | spec.access, 0) as ContractMessage['access'],
      description: entries.map(([, spec]) => spec.description).join(' / '),
      direction: directions.has('in') ? (directions.has('out') ? 'both' : 'in') : 'out',
    };
  });
}

/** Every address the coordinator accepts or sends, once each. */
export const MESSAGES: readonly ContractMessage[] = namespaceEntries();

// ---- parsers ----------------------------------------------------------------------------------

/** What an argument is to TypeScript; which OSC tag it has (s; i or f; b) is messages.json's to say. */
interface Kind<T> {
  readonly name: 'text' | 'number' | 'bytes';
  readonly optional: boolean;
  /** Carries T for the types below; never set. */
  readonly value?: T;
}
const text: Kind<string> = { name: 'text', optional: false };
const number: Kind<number> = { name: 'number', optional: false };
const optional = <T>(kind: Kind<T>): Kind<T | undefined> => ({ name: kind.name, optional: true });

/**
 * The TypeScript types of the arguments of each message the coordinator reads, in order, keyed
 * by their names in messages.json: the forms there decide what parses, and a test keeps the two
 * agreeing (arity, and s as text, i and f as numbers, b as bytes). An optional argument is one
 * some forms leave out.
 */
export const ARGUMENT_KINDS = {
  request_port: [text, number, optional(number)],
  port_confirmed: [text, number, text],
  rms_response: [text, text, number],
  release: [text],
  admin_status: [text],
  admin_leases: [text, number, text, text],
  admin_lease: [text, text],
  admin_release: [text, text],
  admin_probe: [text, number],
  atlas_add: [text, text, text, number],
  atlas_remove: [text, text],
  atlas_processors: [text, number, text],
  atlas_meters: [text, number, text],
  telemetry: [text, number, number, number, number, number],
  rms: [text, number],
  tone_started: [text, number],
  tone_stopped: [text],
  tone_status_response: [text, number, number, number],
  uuid_assignment_confirmed: [text, text, text],
  track_uuid_assignment: [text, text],
  subscribe: [optional(number), optional(text)],
  unsubscribe: [optional(number), optional(text)],
  send: [text, text],
  gather: [text, number],
  atlas_subscribe: [text, text, text],
  atlas_unsubscribe: [text, text, text],
} as const satisfies { readonly [K in MessageKey]?: readonly Kind<unknown>[] };

/** A message the coordinator reads, and so has a parser. */
export type ReadKey = keyof typeof ARGUMENT_KINDS;

/** The typed arguments of a message the coordinator reads, in order (an open tail is not among them). */
export type ArgumentsOf<K extends ReadKey> = ValuesOf<(typeof ARGUMENT_KINDS)[K]>;
type ValuesOf<Kinds extends readonly Kind<unknown>[]> = { -readonly [I in keyof Kinds]: Kinds[I] extends Kind<infer T> ? T : never };

/** Typed arguments, or why they are not the message's. */
export type ParsedArguments<T> = { ok: true; value: T } | { ok: false; detail: string };

/** Like `,si or ,sii`: what a rejection names as expected. */
function formsText(forms: readonly string[]): string {
  return forms.map((form) => (form === '' ? 'no arguments' : `,${form}`)).join(' or ');
}

/**
 * A parser made from a message's forms: its arguments' values when their tags are one of the
 * forms exactly (or begin with an open one), else where they part: the count, or the first
 * argument whose tag is wrong, by position (from 1) and name. The detail ends in the forms
 * expected and the tags received.
 */
function parserOf(spec: MessageSpec, fixedCount: number): (args: readonly DecodedArg[]) => ParsedArguments<unknown[]> {
  const forms = spec.forms.map((form) => ({ tags: fixedPart(form), open: form.endsWith('...') }));
  const expected = `${spec.address} expects ${formsText(spec.forms)}`;
  const fits = (tags: string) => forms.find((form) => (form.open ? tags.startsWith(form.tags) : tags === form.tags));
  const why = (tags: string): string => {
    const sameCount = forms.find((form) => (form.open ? tags.length >= form.tags.length : tags.length === form.tags.length));
    if (!sameCount) {
      const counts = forms.map((form) => `${form.open ? 'at least ' : ''}${form.tags.length}`);
      return `argument count ${tags.length}, not ${[...new Set(counts)].join(' or ')}`;
    }
    const at = [...sameCount.tags].findIndex((tag, n) => tags[n] !== tag);
    const name = spec.args[at];
    return `argument ${at + 1}${name === undefined ? '' : ` (${name})`} is ${tags[at]}, not ${sameCount.tags[at]}`;
  };
  return (args) => {
    const tags = typeTags(args);
    if (!fits(tags)) return { ok: false, detail: `${why(tags)}: ${expected}, got ,${tags}` };
    const values: unknown[] = [];
    for (let n = 0; n < fixedCount; n++) values.push(args[n]?.value);
    return { ok: true, value: values };
  };
}

type Parsers = { readonly [K in ReadKey]: (args: readonly DecodedArg[]) => ParsedArguments<ArgumentsOf<K>> };

/**
 * The parser of each message the coordinator reads, from its forms in messages.json: typed
 * arguments, or a rejection naming the position that is wrong.
 */
export const parse = Object.fromEntries(
  Object.entries(ARGUMENT_KINDS).map(([key, kinds]) => [key, parserOf(specOf(key as ReadKey), kinds.length)]),
) as unknown as Parsers;

// ---- traffic read leniently -------------------------------------------------------------------

/**
 * Argument `index` when it is a string, for what is read leniently: plugin traffic is observed,
 * not parsed, and its first argument names the instance whatever follows. [PROTOCOL §9]
 */
export function textAt(args: readonly DecodedArg[], index: number): string | undefined {
  const arg = args[index];
  return arg?.type === 's' && typeof arg.value === 'string' ? arg.value : undefined;
}

/** Argument `index` when it is an int32 (where a malformed request says to answer). */
export function intAt(args: readonly DecodedArg[], index: number): number | undefined {
  const arg = args[index];
  return arg?.type === 'i' && typeof arg.value === 'number' ? arg.value : undefined;
}

/** Argument `index` when it is a float (a level in telemetry and rms). */
export function floatAt(args: readonly DecodedArg[], index: number): number | undefined {
  const arg = args[index];
  return arg?.type === 'f' && typeof arg.value === 'number' ? arg.value : undefined;
}

/** Section, direction and the rest of one message as messages.json writes it, for tests and tools. */
export function specFor(key: MessageKey): Readonly<MessageSpec> {
  return specOf(key);
}

/** Every message of messages.json, by key. */
export function allKeys(): MessageKey[] {
  return [...SPECS.keys()];
}
