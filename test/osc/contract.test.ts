import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import contract from '../../protocol/messages.json' with { type: 'json' };
import type { DecodedArg } from '../../src/osc/codec.js';
import { ADDRESS, ARGUMENT_KINDS, MESSAGES, allKeys, formOf, parse, repeatingFormOf, specFor, type ReadKey } from '../../src/osc/contract.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const GROUPS = [contract.messages, contract.admin.messages, contract.pluginTraffic.messages, contract.routing.messages, contract.atlas.messages];
const READ_KEYS = Object.keys(ARGUMENT_KINDS) as ReadKey[];
const KIND_OF_TAG: Record<string, string> = { s: 'text', i: 'number', f: 'number', b: 'bytes' };
const fixedPart = (form: string) => form.replace(/(\.\.\.|\(\w+\)\*)$/, '');

/** An argument with this tag, and a value that shows where it went. */
function argOf(tag: string, position: number): DecodedArg {
  if (tag === 's') return { type: 's', value: `text-${position}` };
  if (tag === 'b') return { type: 'b', value: new Uint8Array([position]) };
  return { type: tag, value: position + 0.5 * Number(tag === 'f') };
}
const argsOf = (tags: string) => [...tags].map(argOf);

describe('protocol/messages.json', () => {
  it('names every message once across its groups', () => {
    const keys = GROUPS.flatMap((group) => Object.keys(group));
    expect(new Set(keys).size).toBe(keys.length);
    expect(allKeys().sort()).toEqual(keys.sort());
  });

  it.each(allKeys())('%s: the coordinator on one side, an access that says which, a one-line description, forms of i f s b', (key) => {
    const spec = specFor(key);
    expect([spec.from, spec.to]).toContain('coordinator');
    expect(spec.access).toBe(spec.to === 'coordinator' ? 2 : 1);
    expect(spec.description).toMatch(/^[A-Z].{20,200}\.$/);
    expect(spec.description).not.toContain('\n');
    for (const form of spec.forms) expect(form).toMatch(/^[ifsb]*(\.\.\.|\([ifsb]+\)\*)?$/);
    expect(spec.args.every((name) => /^[A-Za-z]\w*$/.test(name))).toBe(true);
  });
});

describe('ARGUMENT_KINDS and the forms of messages.json agree', () => {
  it('every message the coordinator accepts has a parser', () => {
    const accepted = allKeys().filter((key) => specFor(key).to === 'coordinator');
    expect(accepted.filter((key) => !(key in ARGUMENT_KINDS))).toEqual([]);
  });

  it.each(READ_KEYS)('%s: arity and each argument kind', (key) => {
    const kinds = ARGUMENT_KINDS[key];
    const required = kinds.filter((kind) => !kind.optional).length;
    for (const form of specFor(key).forms) {
      const tags = fixedPart(form);
      expect(tags.length, form).toBeGreaterThanOrEqual(required);
      expect(tags.length, form).toBeLessThanOrEqual(kinds.length);
      [...tags].forEach((tag, n) => expect(kinds[n]!.name, `${form} argument ${n + 1}`).toBe(KIND_OF_TAG[tag]));
    }
    // An optional argument is one some form leaves out; every argument is in some form.
    const lengths = specFor(key).forms.map((form) => fixedPart(form).length);
    expect(Math.max(...lengths)).toBe(kinds.length);
    expect(Math.min(...lengths)).toBe(required);
  });
});

describe('the parsers', () => {
  const cases = READ_KEYS.flatMap((key) => specFor(key).forms.map((form): [ReadKey, string] => [key, form]));

  it.each(cases)('%s ,%s parses to its values, typed, in order', (key, form) => {
    const tags = fixedPart(form);
    const args = argsOf(form.endsWith('...') ? `${tags}if` : tags);
    const parsed = parse[key](args);
    expect(parsed).toEqual({ ok: true, value: ARGUMENT_KINDS[key].map((_, n) => args[n]?.value) });
  });

  it.each(READ_KEYS)('%s: a wrong argument count is refused, naming the count and the forms', (key) => {
    const { forms, address } = specFor(key);
    const longest = Math.max(...forms.map((form) => fixedPart(form).length));
    // One argument short of the shortest form, or one past the longest closed one.
    const count = forms.some((form) => form.endsWith('...')) ? longest - 1 : longest + 1;
    const tags = 's'.repeat(count);
    const parsed = parse[key](argsOf(tags));
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) {
      expect(parsed.detail).toMatch(new RegExp(`^argument count ${count}, not `));
      expect(parsed.detail.endsWith(`${address} expects ${forms.map((form) => (form === '' ? 'no arguments' : `,${form}`)).join(' or ')}, got ,${tags}`)).toBe(true);
    }
  });

  const wrongTypes = cases.flatMap(([key, form]) =>
    [...fixedPart(form)].map((tag, n): [ReadKey, string, number, string] => {
      const wrong = tag === 's' ? 'i' : 's';
      return [key, form, n, `${fixedPart(form).slice(0, n)}${wrong}${fixedPart(form).slice(n + 1)}`];
    }),
  );

  it.each(wrongTypes)('%s ,%s with argument %i of the wrong type (,%s) is refused, naming its position and name', (key, form, n, tags) => {
    const parsed = parse[key](argsOf(tags));
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    const name = specFor(key).args[n]!;
    expect(parsed.detail).toContain(`argument ${n + 1} (${name}) is ${tags[n]}, not ${form[n]}: ${specFor(key).address} expects`);
    expect(parsed.detail.endsWith(`, got ,${tags}`)).toBe(true);
  });

  it('an open form takes any further arguments, and returns only its own', () => {
    const args = argsOf('ssifsb');
    expect(parse.send(args)).toEqual({ ok: true, value: ['text-0', 'text-1'] });
  });

  it('an optional argument left out is undefined', () => {
    expect(parse.subscribe([])).toEqual({ ok: true, value: [undefined, undefined] });
    expect(parse.request_port(argsOf('si'))).toEqual({ ok: true, value: ['text-0', 1, undefined] });
  });

  it('tags outside i f s b never parse', () => {
    expect(parse.release([{ type: 'S', value: 'symbol' }]).ok).toBe(false);
    expect(parse.admin_probe([{ type: 's', value: 'id' }, { type: 'h', value: 9002n }])).toMatchObject({ ok: false, detail: expect.stringMatching(/^argument 2 \(port\) is h, not i/) });
  });
});

describe('forms for templates', () => {
  it('formOf gives the one form; a message of several has none', () => {
    expect(formOf('port_assignment')).toBe('sis');
    expect(() => formOf('request_port')).toThrow(/2 forms/);
  });

  it('repeatingFormOf splits a repeated group from its head', () => {
    expect(repeatingFormOf('gather_answers')).toEqual({ head: 'sii', group: 'ssif' });
    expect(() => repeatingFormOf('release')).toThrow(/repeats no group/);
  });
});

describe('MESSAGES, the namespace', () => {
  it('has every address once', () => {
    const addresses = new Set(allKeys().map((key) => specFor(key).address));
    expect(MESSAGES.map((message) => message.address).sort()).toEqual([...addresses].sort());
  });

  it('gives an accepted address its accepted forms and access 2, a sent one its sent forms and access 1', () => {
    expect(MESSAGES.find((m) => m.address === ADDRESS.request_port)).toEqual({
      key: 'request_port',
      address: '/aiplayer/request_port',
      types: ['si', 'sii'],
      access: 2,
      description: specFor('request_port').description,
      direction: 'in',
    });
    expect(MESSAGES.find((m) => m.address === ADDRESS.port_assignment)).toMatchObject({ types: ['sis'], access: 1, direction: 'out' });
  });

  it('an address both accepted and sent is one entry: both, access 3, the accepted forms', () => {
    expect(MESSAGES.find((m) => m.address === '/coordinator/lease')).toMatchObject({ key: 'admin_lease', types: ['ss'], access: 3, direction: 'both' });
  });

  it('keeps an open or repeated tail in the types, for the namespace to say in words', () => {
    expect(MESSAGES.find((m) => m.address === ADDRESS.send)?.types).toEqual(['ss...']);
    expect(MESSAGES.find((m) => m.address === ADDRESS.gather_answers)?.types).toEqual(['sii(ssif)*']);
    for (const message of MESSAGES) for (const types of message.types) expect(types).toMatch(/^[ifsb]*(\.\.\.|\([ifsb]+\)\*)?$/);
  });
});

// ---- one source of addresses -------------------------------------------------------------------

/** The modules allowed to write a protocol address: the contract, and the frozen plugin's emulator. */
const ALLOWED = new Map([
  ['src/osc/contract.ts', 'it names the addresses of messages.json'],
  // An outside peer, as a test would be: the deployed plugin is frozen, so a change to the contract must not change its emulator.
  ['src/simulators/daw/deployed-plugin.ts', 'it emulates the deployed plugin'],
]);
const PROTOCOL_ADDRESS = /^\/(aiplayer|coordinator|atlas)\//;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The string literals (and template literal parts) of a module that begin with a protocol address. */
function addressLiterals(text: string): string[] {
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isStringLiteralLike(node) || ts.isTemplateHead(node) || ts.isTemplateMiddle(node) || ts.isTemplateTail(node)) {
      if (PROTOCOL_ADDRESS.test(node.text)) found.push(node.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(ts.createSourceFile('module.ts', text, ts.ScriptTarget.Latest, true));
  return found;
}

describe('one source of addresses', () => {
  it('finds an address in a string, a template and a template head, never in a comment', () => {
    const text = "// '/aiplayer/release'\nconst a = '/aiplayer/release';\nconst b = `/atlas/meter`;\nconst c = `/coordinator/${verb}`;\nconst d = 'not /aiplayer/x';";
    expect(addressLiterals(text)).toEqual(['/aiplayer/release', '/atlas/meter', '/coordinator/']);
  });

  it('no module of src/ but the contract writes a protocol address', () => {
    const offending = sourceFiles(join(ROOT, 'src'))
      .map((path) => [relative(ROOT, path), addressLiterals(readFileSync(path, 'utf8'))] as const)
      .filter(([path, literals]) => literals.length > 0 && !ALLOWED.has(path));
    expect(offending).toEqual([]);
  });
});
