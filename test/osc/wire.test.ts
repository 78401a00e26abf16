import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import contract from '../../protocol/messages.json' with { type: 'json' };
import { decodeDatagram, encodeMessage, type DecodedArg, type OscMessage } from '../../src/osc/codec.js';
import { ADDRESS } from '../../src/osc/contract.js';
import {
  NONCE_MAX_LENGTH,
  TEMP_ID_MAX_LENGTH,
  parsePortConfirmed,
  parseRelease,
  parseRequestPort,
  parseRmsResponse,
  portAssignment,
  portConfirmed,
  portError,
  queryRms,
  release,
  requestPort,
  rmsResponse,
  type ErrorCode,
  type Parsed,
} from '../../src/osc/wire.js';
import { loadFixture, loadFixtures } from './fixtures.js';

const s = (value: string): DecodedArg => ({ type: 's', value });
const i = (value: number): DecodedArg => ({ type: 'i', value });
const f = (value: number): DecodedArg => ({ type: 'f', value });
const b = (value: Uint8Array): DecodedArg => ({ type: 'b', value });

const TEMP_ID = 'AIplayer_7f3a';
const NONCE = 'q7Jd0TfZk2xWv9Lm';

function value<T>(parsed: Parsed<T>): T {
  if (!parsed.ok) throw new Error(`expected ok, got ${parsed.detail}`);
  return parsed.value;
}

/** A rejection with a readable detail; `tempId` present exactly when the tempID was valid. */
function expectRejected<T>(parsed: Parsed<T>, tempId: string | undefined, detail?: RegExp): void {
  expect(parsed.ok).toBe(false);
  if (parsed.ok) return;
  expect(typeof parsed.detail).toBe('string');
  expect(parsed.detail.length).toBeGreaterThan(5);
  expect(parsed.detail).not.toMatch(/undefined|\[object/);
  if (detail) expect(parsed.detail).toMatch(detail);
  expect(parsed.tempId).toBe(tempId);
}

function argsOfFixture(name: string): readonly DecodedArg[] {
  const result = decodeDatagram(loadFixture(name).bytes);
  if (!result.ok) throw new Error(`${name} does not decode: ${result.error.code}`);
  return result.messages[0]!.args;
}

const BAD_TEMP_IDS: [string, string][] = [
  ['empty', ''],
  ['129 characters', 'x'.repeat(TEMP_ID_MAX_LENGTH + 1)],
  ['129 emoji (code points, not UTF-16 units)', '🎹'.repeat(TEMP_ID_MAX_LENGTH + 1)],
  ['a control char (BEL)', 'AIplayer\u0007'],
  ['DEL', 'AIplayer\u007f'],
  ['a C1 control (NEL)', 'AIplayer\u0085'],
  ['a zero-width space (format char)', 'AIplayer\u200b'],
  ['a byte-order mark', '\ufeffAIplayer'],
  ['a lone surrogate', 'AIplayer\ud800'],
  ['a private-use char', 'AIplayer\ue000'],
];

describe('parseRequestPort', () => {
  it('accepts ,si: the reply goes to the source port', () => {
    expect(value(parseRequestPort([s('sdk-client-1'), i(9042)]))).toEqual({
      tempId: 'sdk-client-1',
      preferredPort: 9042,
      responsePort: undefined,
    });
  });

  it('accepts ,sii with a responsePort', () => {
    expect(value(parseRequestPort([s(TEMP_ID), i(-1), i(50000)]))).toEqual({
      tempId: TEMP_ID,
      preferredPort: -1,
      responsePort: 50000,
    });
  });

  it('accepts both golden datagrams', () => {
    expect(value(parseRequestPort(argsOfFixture('request_port-sii')))).toEqual({ tempId: TEMP_ID, preferredPort: -1, responsePort: 50000 });
    expect(value(parseRequestPort(argsOfFixture('request_port-si')))).toEqual({ tempId: 'sdk-client-1', preferredPort: 9042, responsePort: undefined });
  });

  it.each([0, -1, -50000, -0x80000000])('treats responsePort %i as "reply to the source port"', (port) => {
    expect(value(parseRequestPort([s(TEMP_ID), i(9002), i(port)])).responsePort).toBeUndefined();
  });

  it.each([1, 9002, 65535])('accepts preferredPort %i', (port) => {
    expect(value(parseRequestPort([s(TEMP_ID), i(port)])).preferredPort).toBe(port);
  });

  it('counts characters as code points: 128 emoji are a valid tempID', () => {
    const emoji = '🎹'.repeat(TEMP_ID_MAX_LENGTH);
    expect(value(parseRequestPort([s(emoji), i(-1)])).tempId).toBe(emoji);
  });

  it('rejects a tempID whose bytes were not UTF-8, and echoes no tempID', () => {
    const parsed = parseRequestPort([{ type: 's', value: 'plug\ufffd', notUtf8: true }, i(-1)]);
    expectRejected(parsed, undefined, /tempID is not valid UTF-8/);
  });

  it('accepts a 128-character printable tempID, with spaces and non-ASCII letters', () => {
    const long = 'x'.repeat(TEMP_ID_MAX_LENGTH);
    expect(value(parseRequestPort([s(long), i(-1)])).tempId).toBe(long);
    expect(value(parseRequestPort([s('Kanal 3 – Grüße'), i(-1)])).tempId).toBe('Kanal 3 – Grüße');
  });

  it.each([
    ['sf', [s(TEMP_ID), f(9002)]],
    ['ss', [s(TEMP_ID), s('9002')]],
    ['siii', [s(TEMP_ID), i(9002), i(50000), i(1)]],
    ['sib', [s(TEMP_ID), i(9002), b(new Uint8Array(4))]],
    ['s', [s(TEMP_ID)]],
  ])('rejects ,%s and names the forms it wanted (tempId kept)', (tags, args) => {
    expectRejected(parseRequestPort(args), TEMP_ID, new RegExp(`expects ,si or ,sii, got ,${tags}$`));
  });

  it.each([
    ['i', [i(9002)]],
    ['', []],
    ['ii', [i(1), i(9002)]],
  ])('rejects ,%s without a tempId', (tags, args) => {
    expectRejected(parseRequestPort(args), undefined, new RegExp(`got ,${tags}$`));
  });

  it.each(BAD_TEMP_IDS)('rejects a tempID with %s, without echoing it', (_label, tempId) => {
    expectRejected(parseRequestPort([s(tempId), i(-1)]), undefined, /tempID/);
  });

  it.each([0, -2, 65536, 70000, 0x7fffffff, -0x80000000])('rejects preferredPort %i (tempId kept)', (port) => {
    expectRejected(parseRequestPort([s(TEMP_ID), i(port)]), TEMP_ID, new RegExp(`preferredPort ${port}`));
    expectRejected(parseRequestPort([s(TEMP_ID), i(port), i(50000)]), TEMP_ID, /preferredPort/);
  });

  it.each([65536, 70000, 0x7fffffff])('rejects responsePort %i (tempId kept)', (port) => {
    expectRejected(parseRequestPort([s(TEMP_ID), i(-1), i(port)]), TEMP_ID, new RegExp(`responsePort ${port}`));
  });
});

describe('parsePortConfirmed', () => {
  it.each(['bound', 'failed'] as const)('accepts status %s', (status) => {
    expect(value(parsePortConfirmed([s(TEMP_ID), i(9002), s(status)]))).toEqual({ tempId: TEMP_ID, port: 9002, status });
  });

  it('accepts both golden datagrams', () => {
    expect(value(parsePortConfirmed(argsOfFixture('port_confirmed-bound'))).status).toBe('bound');
    expect(value(parsePortConfirmed(argsOfFixture('port_confirmed-failed'))).status).toBe('failed');
  });

  it.each(['BOUND', 'ok', '', 'bound '])('rejects status %j (tempId kept)', (status) => {
    expectRejected(parsePortConfirmed([s(TEMP_ID), i(9002), s(status)]), TEMP_ID, /status/);
  });

  it.each([0, -1, 65536])('rejects port %i (tempId kept)', (port) => {
    expectRejected(parsePortConfirmed([s(TEMP_ID), i(port), s('bound')]), TEMP_ID, new RegExp(`port ${port}`));
  });

  it.each([
    ['sss', [s(TEMP_ID), s('9002'), s('bound')]],
    ['sfs', [s(TEMP_ID), f(9002), s('bound')]],
    ['si', [s(TEMP_ID), i(9002)]],
    ['sisi', [s(TEMP_ID), i(9002), s('bound'), i(0)]],
  ])('rejects form %s with a readable detail', (_tags, args) => {
    expectRejected(parsePortConfirmed(args), TEMP_ID, /expects ,sis, got ,/);
  });

  it.each(BAD_TEMP_IDS)('rejects a tempID with %s', (_label, tempId) => {
    expectRejected(parsePortConfirmed([s(tempId), i(9002), s('bound')]), undefined, /tempID/);
  });
});

describe('parseRmsResponse', () => {
  it('accepts ,ssf', () => {
    expect(value(parseRmsResponse([s(NONCE), s(TEMP_ID), f(0.25)]))).toEqual({ nonce: NONCE, tempId: TEMP_ID, rms: 0.25 });
  });

  it('accepts the golden datagram', () => {
    const answer = value(parseRmsResponse(argsOfFixture('rms_response')));
    expect(answer.nonce).toBe(NONCE);
    expect(answer.tempId).toBe(TEMP_ID);
    expect(answer.rms).toBeCloseTo(0.25, 6);
  });

  it('accepts a nonce of the maximum length', () => {
    const nonce = 'n'.repeat(NONCE_MAX_LENGTH);
    expect(value(parseRmsResponse([s(nonce), s(TEMP_ID), f(0)])).nonce).toBe(nonce);
  });

  it.each([
    ['ssi', [s(NONCE), s(TEMP_ID), i(0)]],
    ['ss', [s(NONCE), s(TEMP_ID)]],
    ['ssff', [s(NONCE), s(TEMP_ID), f(0), f(0)]],
    ['sf', [s(NONCE), f(0)]],
  ])('rejects ,%s: the contract says ,ssf', (tags, args) => {
    const parsed = parseRmsResponse(args);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.detail).toMatch(new RegExp(`expects ,ssf, got ,${tags}$`));
  });

  it.each([
    ['empty', ''],
    ['too long', 'n'.repeat(NONCE_MAX_LENGTH + 1)],
  ])('rejects a nonce that is %s', (_label, nonce) => {
    const parsed = parseRmsResponse([s(nonce), s(TEMP_ID), f(0.25)]);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.detail.length).toBeGreaterThan(5);
  });

  it.each(BAD_TEMP_IDS)('rejects a tempID with %s', (_label, tempId) => {
    const parsed = parseRmsResponse([s(NONCE), s(tempId), f(0.25)]);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.detail).toMatch(/tempID/);
  });

  // In ,ssf the nonce comes first: a rejection must not mistake it for the tempID.
  it('a rejection carries the tempID (args[1]), not the nonce', () => {
    expectRejected(parseRmsResponse([s(NONCE), s(TEMP_ID), i(0)]), TEMP_ID);
  });

  it('a rejection for an empty nonce still carries the valid tempID', () => {
    expectRejected(parseRmsResponse([s(''), s(TEMP_ID), f(0.25)]), TEMP_ID);
  });
});

describe('parseRelease', () => {
  it('accepts ,s and the golden datagram', () => {
    expect(value(parseRelease([s('sdk-client-1')]))).toEqual({ tempId: 'sdk-client-1' });
    expect(value(parseRelease(argsOfFixture('release')))).toEqual({ tempId: 'sdk-client-1' });
  });

  it.each([
    ['si', [s(TEMP_ID), i(9002)], TEMP_ID],
    ['ss', [s(TEMP_ID), s('now')], TEMP_ID],
    ['i', [i(1)], undefined],
    ['', [], undefined],
  ] as const)('rejects ,%s', (tags, args, tempId) => {
    expectRejected(parseRelease(args), tempId, new RegExp(`expects ,s, got ,${tags}$`));
  });

  it.each(BAD_TEMP_IDS)('rejects a tempID with %s', (_label, tempId) => {
    expectRejected(parseRelease([s(tempId)]), undefined, /tempID/);
  });
});

// ---- builders ---------------------------------------------------------------------------------

const tags = (message: OscMessage): string => message.args.map((a) => a.type).join('');
const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');

const BUILT: [name: string, message: OscMessage][] = [
  ['port_assignment-assigned', portAssignment(TEMP_ID, 9002, 'assigned')],
  ['port_assignment-error', portAssignment(TEMP_ID, -1, 'error')],
  ['port_error', portError(TEMP_ID, 'pool_exhausted', 'every port in the pool is taken')],
  ['port_confirmed-bound', portConfirmed(TEMP_ID, 9002, 'bound')],
  ['port_confirmed-failed', portConfirmed(TEMP_ID, 9002, 'failed')],
  ['query_rms', queryRms(NONCE)],
  ['rms_response', rmsResponse(NONCE, TEMP_ID, 0.25)],
  ['release', release('sdk-client-1')],
  ['request_port-sii', requestPort(TEMP_ID, -1, 50000)],
  ['request_port-si', requestPort('sdk-client-1', 9042)],
];

describe('builders', () => {
  it('portAssignment always has exactly 3 args typed s,i,s [PROTOCOL §2]', () => {
    for (const status of ['assigned', 'error'] as const) {
      for (const port of [-1, 0, 1, 9002, 65535]) {
        const message = portAssignment(TEMP_ID, port, status);
        expect(message.address).toBe('/aiplayer/port_assignment');
        expect(message.args).toHaveLength(3);
        expect(tags(message)).toBe('sis');
        expect(message.args.map((a) => a.value)).toEqual([TEMP_ID, port, status]);
      }
    }
  });

  it('portError is s,s,s', () => {
    for (const code of contract.messages.port_error.codes as ErrorCode[]) {
      const message = portError(TEMP_ID, code, 'why');
      expect(message.address).toBe('/aiplayer/port_error');
      expect(tags(message)).toBe('sss');
      expect(message.args.map((a) => a.value)).toEqual([TEMP_ID, code, 'why']);
    }
  });

  it('queryRms is s', () => {
    expect(queryRms(NONCE)).toEqual({ address: '/aiplayer/query_rms', args: [{ type: 's', value: NONCE }] });
  });

  it('requestPort is si without a responsePort and sii with one', () => {
    expect(tags(requestPort(TEMP_ID, -1))).toBe('si');
    expect(tags(requestPort(TEMP_ID, -1, 50000))).toBe('sii');
  });

  it('rmsResponse keeps a whole-number rms as f', () => {
    expect(tags(rmsResponse(NONCE, TEMP_ID, 1))).toBe('ssf');
    expect(hex(encodeMessage(rmsResponse(NONCE, TEMP_ID, 1))).slice(-8)).toBe('3f800000');
  });

  it.each(BUILT)('%s: types within i f s b, a form the contract allows, bytes equal the golden datagram', (name, message) => {
    expect(tags(message)).toMatch(/^[ifsb]*$/);
    const spec = Object.values(contract.messages).find((m) => m.address === message.address);
    expect(spec, message.address).toBeDefined();
    expect(spec!.forms).toContain(tags(message));
    expect(hex(encodeMessage(message))).toBe(hex(loadFixture(name).bytes));
  });

  it('ADDRESS mirrors the contract', () => {
    for (const [name, spec] of Object.entries(contract.messages)) {
      expect(ADDRESS[name as keyof typeof ADDRESS]).toBe(spec.address);
    }
  });
});

// ---- contract and fixtures cannot drift -------------------------------------------------------

describe('protocol/messages.json and protocol/fixtures', () => {
  const fixtures = loadFixtures();
  const specs: Array<[string, { address: string; forms: string[] }]> = [
    ...Object.entries(contract.messages),
    ...Object.entries(contract.routing.messages),
    ...Object.entries(contract.atlas.messages),
  ];
  // A form like "ss..." or "sii(ssif)*" stands for many: its golden datagram shows one of them.
  const matches = (form: string, tags: string) => new RegExp(`^${form.replace('...', '[ifsb]*')}$`).test(tags);

  it.each(specs)('%s has a golden datagram for every form', (_name, spec) => {
    const forms = fixtures.filter((fx) => fx.address === spec.address).map((fx) => fx.typeTags);
    expect(forms.length).toBeGreaterThan(0);
    for (const form of spec.forms) expect(forms.some((tags) => matches(form, tags)), `${spec.address} ,${form}`).toBe(true);
  });

  it('every golden datagram is a message and form of the contract', () => {
    for (const fx of fixtures) {
      const spec = specs.find(([, m]) => m.address === fx.address)?.[1];
      expect(spec, `${fx.name}: ${fx.address}`).toBeDefined();
      expect(spec!.forms.some((form) => matches(form, fx.typeTags)), fx.name).toBe(true);
    }
  });

  it('every status value in the contract has a golden datagram', () => {
    for (const spec of [contract.messages.port_assignment, contract.messages.port_confirmed]) {
      const statuses = fixtures.filter((fx) => fx.address === spec.address).map((fx) => fx.expect.args[2]?.value);
      for (const status of spec.status) expect(statuses, spec.address).toContain(status);
    }
  });

  it('only i, f, s and b are ever sent to a plugin', () => {
    for (const fx of fixtures) expect(fx.typeTags, fx.name).toMatch(/^[ifsb]*$/);
  });
});

describe('protocol/PROTOCOL.md', () => {
  it('quotes every golden datagram exactly as its fixture file holds it', () => {
    const protocol = readFileSync(new URL('../../protocol/PROTOCOL.md', import.meta.url), 'utf8');
    const dir = new URL('../../protocol/fixtures/', import.meta.url);
    const fixtures = readdirSync(dir).filter((name) => name.endsWith('.hex'));
    expect(fixtures.length).toBeGreaterThanOrEqual(10);
    for (const name of fixtures) {
      expect(protocol, name).toContain(readFileSync(new URL(name, dir), 'utf8').trimEnd());
    }
  });
});
