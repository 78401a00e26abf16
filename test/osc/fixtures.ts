// Loader for the golden datagrams in protocol/fixtures/ (format: protocol/fixtures/README.md).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { OscArg, OscMessage } from '../../src/osc/codec.js';

export const FIXTURES_DIR = fileURLToPath(new URL('../../protocol/fixtures/', import.meta.url));

export interface Fixture {
  /** File name without `.hex`, e.g. `request_port-sii`. */
  name: string;
  address: string;
  /** Without the leading comma, e.g. `sii`. */
  typeTags: string;
  expect: OscMessage;
  bytes: Uint8Array;
}

const WORD = /^[0-9a-fA-F]{8}$/;

export function parseFixture(name: string, text: string): Fixture {
  const lines = text.split(/\r?\n/);
  const header = /^#\s*(\/\S*)\s+,(\S*)\s*$/.exec(lines[0] ?? '');
  if (!header) throw new Error(`${name}: first line must be "# <address> ,<typetags>"`);
  const [, address = '', typeTags = ''] = header;
  let expected: OscMessage | undefined;
  const words: string[] = [];
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    if (line.startsWith('@expect ')) {
      if (expected) throw new Error(`${name}:${index + 1}: second @expect`);
      expected = parseExpect(name, line.slice('@expect '.length));
      return;
    }
    const hash = line.indexOf('#');
    const data = (hash < 0 ? line : line.slice(0, hash)).trim();
    for (const word of data.split(/\s+/)) {
      if (!WORD.test(word)) throw new Error(`${name}:${index + 1}: "${word}" is not a 4-byte hex word`);
      words.push(word);
    }
  });
  if (!expected) throw new Error(`${name}: no @expect line`);
  if (expected.address !== address) throw new Error(`${name}: @expect address differs from the header`);
  const expectedTags = expected.args.map((a) => a.type).join('');
  if (expectedTags !== typeTags) throw new Error(`${name}: @expect types ,${expectedTags} differ from ,${typeTags}`);
  return { name, address, typeTags, expect: expected, bytes: new Uint8Array(Buffer.from(words.join(''), 'hex')) };
}

function parseExpect(name: string, json: string): OscMessage {
  const raw = JSON.parse(json) as { address: string; args: { type: string; value: unknown }[] };
  const args = raw.args.map((arg): OscArg => {
    switch (arg.type) {
      case 'i':
      case 'f':
        return { type: arg.type, value: arg.value as number };
      case 's':
        return { type: 's', value: arg.value as string };
      case 'b':
        return { type: 'b', value: new Uint8Array(Buffer.from(arg.value as string, 'hex')) };
      default:
        throw new Error(`${name}: @expect has unknown type "${arg.type}"`);
    }
  });
  return { address: raw.address, args };
}

export function loadFixture(name: string): Fixture {
  return parseFixture(name, readFileSync(join(FIXTURES_DIR, `${name}.hex`), 'utf8'));
}

/** Every fixture, sorted by name. */
export function loadFixtures(): Fixture[] {
  return readdirSync(FIXTURES_DIR)
    .filter((file) => file.endsWith('.hex'))
    .sort()
    .map((file) => loadFixture(file.slice(0, -'.hex'.length)));
}

/**
 * Annotated hex, as in the fixture files but for test tables: whitespace-separated hex groups of any
 * even length (truncated words allowed), `# ...` to the end of a line is an annotation.
 */
export function hexBytes(text: string): Buffer {
  const digits = text
    .split(/\r?\n/)
    .map((line) => {
      const hash = line.indexOf('#');
      return hash < 0 ? line : line.slice(0, hash);
    })
    .join(' ')
    .replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(digits)) throw new Error(`not hex bytes: ${text}`);
  return Buffer.from(digits, 'hex');
}
