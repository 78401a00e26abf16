import { describe, expect, it } from 'vitest';
import osc from 'osc/src/osc.js';
import { encode as nodeOscEncode, Message as NodeOscMessage } from 'node-osc';
import {
  decodeDatagram,
  firstString,
  encodeMessage,
  type DecodeErrorCode,
  type DecodeResult,
  type DecodedArg,
  type OscMessage,
} from '../../src/osc/codec.js';
import { hexBytes, loadFixtures, type Fixture } from './fixtures.js';

const fixtures = loadFixtures();

const KNOWN_CODES = {
  empty: true,
  bad_header: true,
  bad_bundle: true,
  bundle_too_deep: true,
  too_many_messages: true,
  too_many_args: true,
  bad_message: true,
  trailing_bytes: true,
} satisfies Record<DecodeErrorCode, true>;

const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');

// ---- independent test-side builders (OSC 1.0 framing, no codec involved) -------------------------

function oscString(value: string): Buffer {
  const raw = Buffer.from(value, 'utf8');
  return Buffer.concat([raw, Buffer.alloc(4 - (raw.length % 4))]);
}

function int32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeInt32BE(value);
  return out;
}

/** A message from raw parts: address, ",tags", then argument bytes already encoded. */
function rawMessage(address: string, tags: string, ...args: Uint8Array[]): Buffer {
  return Buffer.concat([oscString(address), oscString(',' + tags), ...args]);
}

const TIME_TAG_IMMEDIATE = Buffer.from('0000000000000001', 'hex');

/** A bundle whose elements carry their true sizes. */
function bundle(...elements: Uint8Array[]): Buffer {
  return Buffer.concat([
    Buffer.from('#bundle\0', 'latin1'),
    TIME_TAG_IMMEDIATE,
    ...elements.flatMap((element) => [int32(element.byteLength), element]),
  ]);
}

/** A bundle header followed by raw bytes: for lying size fields. */
function bundleRaw(...parts: Uint8Array[]): Buffer {
  return Buffer.concat([Buffer.from('#bundle\0', 'latin1'), TIME_TAG_IMMEDIATE, ...parts]);
}

function nest(element: Uint8Array, depth: number): Buffer {
  let out: Buffer = Buffer.from(element);
  for (let i = 0; i < depth; i++) out = bundle(out);
  return out;
}

/** The same bytes, seen through a Buffer whose byteOffset is not 0. */
function sliced(bytes: Uint8Array, junk = 13): Buffer {
  return Buffer.concat([Buffer.alloc(junk, 0xee), bytes, Buffer.alloc(7, 0xee)]).subarray(junk, junk + bytes.byteLength);
}

function expectDecoded(actual: readonly DecodedArg[], expected: OscMessage['args']): void {
  expect(actual.map((a) => a.type).join('')).toBe(expected.map((a) => a.type).join(''));
  expected.forEach((want, i) => {
    const got = actual[i]!;
    if (want.type === 'f') expect(got.value as number).toBeCloseTo(want.value, 6);
    else if (want.type === 'b') expect(hex(got.value as Uint8Array)).toBe(hex(want.value));
    else expect(got.value).toBe(want.value);
  });
}

function messagesOf(result: DecodeResult) {
  if (!result.ok) throw new Error(`expected ok, got ${JSON.stringify(result.error)}`);
  return result.messages;
}

function expectError(result: DecodeResult, code: DecodeErrorCode, offset?: number): void {
  expect(result.ok ? 'ok' : result.error.code).toBe(code);
  if (!result.ok && offset !== undefined) expect(result.error.offset).toBe(offset);
}

/** node-osc encodes `{type, value}` objects with exactly that tag: `i` stays `i`, `f` stays `f`. */
function encodeWithNodeOsc(message: OscMessage): Buffer {
  const args = message.args.map((arg) =>
    arg.type === 'b' ? { type: 'b', value: Buffer.from(arg.value) } : { type: arg.type, value: arg.value },
  );
  return nodeOscEncode(new NodeOscMessage(message.address, ...args));
}

// ---- golden datagrams -------------------------------------------------------------------------

describe('golden datagrams (protocol/fixtures)', () => {
  it('are all there and well formed', () => {
    expect(fixtures.map((f) => f.name)).toEqual([
      'atlas_meter',
      'atlas_subscribe',
      'atlas_unsubscribe',
      'coordinator_error',
      'coordinator_lease',
      'coordinator_query_rms',
      'coordinator_rms',
      'coordinator_rms_missing',
      'coordinator_send',
      'coordinator_subscribe-i',
      'coordinator_subscribe-is',
      'coordinator_subscribe',
      'coordinator_subscribed-is',
      'coordinator_subscribed',
      'coordinator_track',
      'coordinator_unsubscribe-i',
      'coordinator_unsubscribe-is',
      'coordinator_unsubscribe',
      'coordinator_unsubscribed',
      'port_assignment-assigned',
      'port_assignment-error',
      'port_confirmed-bound',
      'port_confirmed-failed',
      'port_error',
      'query_rms',
      'release',
      'request_port-si',
      'request_port-sii',
      'rms_response',
    ]);
    for (const f of fixtures) expect(f.bytes.byteLength % 4, f.name).toBe(0);
  });

  describe.each(fixtures.map((f): [string, Fixture] => [f.name, f]))('%s', (_name, f) => {
    it('decodes to @expect', () => {
      const [message, ...rest] = messagesOf(decodeDatagram(f.bytes));
      expect(rest).toHaveLength(0);
      expect(message!.address).toBe(f.expect.address);
      expectDecoded(message!.args, f.expect.args);
    });

    it('decodes the same through a Buffer with a non-zero byteOffset', () => {
      const [message] = messagesOf(decodeDatagram(sliced(f.bytes)));
      expect(message!.address).toBe(f.expect.address);
      expectDecoded(message!.args, f.expect.args);
    });

    it('encodeMessage(@expect) gives exactly the bytes', () => {
      expect(hex(encodeMessage(f.expect))).toBe(hex(f.bytes));
    });

    it("node-osc's independent encoder gives exactly the bytes", () => {
      expect(hex(encodeWithNodeOsc(f.expect))).toBe(hex(f.bytes));
    });
  });
});

// ---- blobs and byteOffset (REFERENCE §4) ------------------------------------------------------

describe('firstString: the hot path of plugin traffic', () => {
  it('reads the first argument of a well-formed message, without building it', () => {
    const telemetry = encodeMessage({ address: '/aiplayer/telemetry', args: [{ type: 's', value: 'TR1' }, { type: 'f', value: 0.5 }] });
    expect(firstString(telemetry)).toBe('TR1');
    expect(firstString(encodeMessage({ address: '/aiplayer/rms', args: [{ type: 'f', value: 0.5 }] }))).toBeNull();
    expect(firstString(encodeMessage({ address: '/x', args: [] }))).toBeNull();
  });

  it('is undefined for whatever decodeDatagram would refuse, and for bundles', () => {
    const telemetry = Buffer.from(encodeMessage({ address: '/aiplayer/telemetry', args: [{ type: 's', value: 'TR1' }, { type: 'f', value: 0.5 }] }));
    expect(firstString(telemetry.subarray(0, telemetry.length - 4))).toBeUndefined();
    expect(firstString(Buffer.concat([telemetry, Buffer.alloc(4)]))).toBeUndefined();
    expect(firstString(Buffer.from('#bundle\0\0\0\0\0\0\0\0\0'))).toBeUndefined();
    expect(firstString(new Uint8Array(0))).toBeUndefined();
  });

  it('is null when the first string is not UTF-8: it names no one', () => {
    const bytes = Buffer.from(encodeMessage({ address: '/aiplayer/rms', args: [{ type: 's', value: 'TRZZ' }, { type: 'f', value: 0.5 }] }));
    bytes[bytes.indexOf('ZZ')] = 0xff;
    expect(firstString(bytes)).toBeNull();
  });
});

describe('strings that are not UTF-8', () => {
  it('are decoded but marked, so identities can be refused; valid ones carry no mark', () => {
    const bytes = Buffer.from(encodeMessage({ address: '/x', args: [{ type: 's', value: 'okZZ' }, { type: 's', value: 'fine' }] }));
    const at = bytes.indexOf('ZZ');
    bytes[at] = 0xff;
    const result = decodeDatagram(bytes);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.messages[0]!.args[0]).toMatchObject({ type: 's', notUtf8: true });
    expect(result.messages[0]!.args[1]).toEqual({ type: 's', value: 'fine' });
  });
});

describe('blobs', () => {
  // Written by hand: "/blob" ,b 5 bytes 01..05 + 3 pad.
  const BLOB_DATAGRAM = hexBytes(`
    2f626c6f 62000000  # address "/blob" + NUL + 2 pad
    2c620000           # type tags ",b" + NUL + 1 pad
    00000005           # int32 5 blob size
    01020304 05000000  # 5 blob bytes + 3 pad
  `);
  const BLOB = '0102030405';

  const blobOf = (result: DecodeResult): string => hex(messagesOf(result)[0]!.args[0]!.value as Uint8Array);

  it('encodes and decodes a blob', () => {
    const message: OscMessage = { address: '/blob', args: [{ type: 'b', value: Buffer.from(BLOB, 'hex') }] };
    expect(hex(encodeMessage(message))).toBe(hex(BLOB_DATAGRAM));
    expect(blobOf(decodeDatagram(BLOB_DATAGRAM))).toBe(BLOB);
  });

  it('reads the blob right when the Buffer is a subarray (byteOffset != 0)', () => {
    const input = Buffer.concat([Buffer.from('junk-junk'), BLOB_DATAGRAM]).subarray(9);
    expect(input.byteOffset).not.toBe(0);
    expect(blobOf(decodeDatagram(input))).toBe(BLOB);
  });

  it('(the trap this guards against: osc.js alone misreads that same sliced Buffer)', () => {
    const input = Buffer.concat([Buffer.from('junk-junk'), BLOB_DATAGRAM]).subarray(9);
    const message = osc.readMessage(input, { metadata: true }, { idx: 0 });
    expect(hex(message.args[0]!.value as Uint8Array)).not.toBe(BLOB);
  });

  it('reads the blob right from a small pooled Buffer', () => {
    Buffer.from('shift the pool offset');
    const pooled = Buffer.from(BLOB_DATAGRAM);
    expect(pooled.byteOffset).not.toBe(0);
    expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.byteLength);
    expect(blobOf(decodeDatagram(pooled))).toBe(BLOB);
  });

  it('reads the blob right inside a bundle, from a sliced Buffer', () => {
    const input = sliced(bundle(BLOB_DATAGRAM, BLOB_DATAGRAM), 6);
    const messages = messagesOf(decodeDatagram(input));
    expect(messages.map((m) => hex(m.args[0]!.value as Uint8Array))).toEqual([BLOB, BLOB]);
  });

  it('round-trips random blobs of every padding length through sliced Buffers', () => {
    for (let length = 0; length < 12; length++) {
      const value = Buffer.alloc(length, 0).map((_, i) => (i * 37 + length) & 0xff);
      const encoded = encodeMessage({ address: '/blob', args: [{ type: 'b', value }, { type: 'i', value: 7 }] });
      const [message] = messagesOf(decodeDatagram(sliced(encoded, 1 + length)));
      expect(hex(message!.args[0]!.value as Uint8Array)).toBe(hex(value));
      expect(message!.args[1]).toEqual({ type: 'i', value: 7 });
    }
  });

  // osc.js builds blobs from the whole underlying ArrayBuffer (REFERENCE §4): a blob whose size runs past
  // the view's end but not the ArrayBuffer's would be read out of neighbouring memory.
  it('a blob running past the end of a view over a larger ArrayBuffer is bad_message', () => {
    const view = new Uint8Array(new ArrayBuffer(64), 0, 16);
    view.set(hexBytes('2f610000 2c620000 00000010 01020304'));
    const result = decodeDatagram(view);
    expectError(result, 'bad_message');
    expect(result.ok ? 0 : result.error.offset).toBeLessThanOrEqual(16);
  });
});

// ---- bundles ----------------------------------------------------------------------------------

describe('bundles', () => {
  const [first, second] = [fixtures.find((f) => f.name === 'request_port-sii')!, fixtures.find((f) => f.name === 'release')!];
  const tiny = rawMessage('/a', 'i', int32(1)); // 12 bytes

  it('flattens a bundle of two messages, in order', () => {
    const messages = messagesOf(decodeDatagram(bundle(first.bytes, second.bytes)));
    expect(messages.map((m) => m.address)).toEqual([first.address, second.address]);
    expectDecoded(messages[0]!.args, first.expect.args);
    expectDecoded(messages[1]!.args, second.expect.args);
  });

  it('flattens nested bundles depth-first, in order', () => {
    const input = bundle(rawMessage('/1', ''), bundle(rawMessage('/2', ''), bundle(rawMessage('/3', '')), rawMessage('/4', '')), rawMessage('/5', ''));
    expect(messagesOf(decodeDatagram(input)).map((m) => m.address)).toEqual(['/1', '/2', '/3', '/4', '/5']);
  });

  it('accepts an empty bundle', () => {
    expect(messagesOf(decodeDatagram(bundle()))).toEqual([]);
  });

  it('accepts bundles nested 4 deep (the default limit)', () => {
    expect(messagesOf(decodeDatagram(nest(tiny, 4))).map((m) => m.address)).toEqual(['/a']);
  });

  it('rejects bundles nested 5 deep with bundle_too_deep at the fifth header', () => {
    // Each level adds "#bundle\0" + time tag + size = 20 bytes before the next header.
    expectError(decodeDatagram(nest(tiny, 5)), 'bundle_too_deep', 4 * 20);
  });

  it.each([
    ['0', 0],
    ['negative', -4],
    ['not a multiple of 4', 6],
    ['past the end', 16],
    ['hugely past the end', 0x7ffffffc],
  ])('rejects element size %s with bad_bundle at the size field', (_label, size) => {
    expectError(decodeDatagram(bundleRaw(int32(size), tiny)), 'bad_bundle', 16);
  });

  it('rejects a good element followed by a bad size, at the second size field', () => {
    expectError(decodeDatagram(bundleRaw(int32(tiny.length), tiny, int32(-1))), 'bad_bundle', 16 + 4 + 12);
  });

  it('rejects a truncated element size field with bad_bundle', () => {
    expectError(decodeDatagram(bundleRaw(int32(12), tiny, Buffer.from([0, 0]))), 'bad_bundle', 32);
  });

  it('rejects an element that is neither message nor bundle with bad_header', () => {
    expectError(decodeDatagram(bundle(hexBytes('deadbeef'))), 'bad_header', 20);
  });

  it('rejects a message element with padding after it with trailing_bytes', () => {
    expectError(decodeDatagram(bundle(Buffer.concat([tiny, Buffer.alloc(4)]))), 'trailing_bytes', 20 + 12);
  });

  it('accepts 64 messages and rejects 65 with too_many_messages', () => {
    expect(messagesOf(decodeDatagram(bundle(...Array<Buffer>(64).fill(tiny))))).toHaveLength(64);
    expectError(decodeDatagram(bundle(...Array<Buffer>(65).fill(tiny))), 'too_many_messages', 16 + 64 * 16 + 4);
  });

  it('counts messages across nested bundles', () => {
    const half = bundle(...Array<Buffer>(32).fill(tiny));
    expect(messagesOf(decodeDatagram(bundle(half, half)))).toHaveLength(64);
    expectError(decodeDatagram(bundle(half, half, tiny)), 'too_many_messages');
  });
});

// ---- malformed datagrams (mqtt-packet testParseError style) -----------------------------------

interface ParseErrorCase {
  name: string;
  code: DecodeErrorCode;
  offset?: number;
  bytes: Uint8Array;
}

const manyArgs = (count: number): Buffer => rawMessage('/a', 'i'.repeat(count), ...Array<Buffer>(count).fill(int32(0)));

const MALFORMED: ParseErrorCase[] = [
  { name: 'empty datagram', code: 'empty', offset: 0, bytes: new Uint8Array(0) },
  { name: 'garbage', code: 'bad_header', offset: 0, bytes: hexBytes('deadbeef 00112233  # neither "/" nor "#bundle"') },
  {
    name: '"#bundle" with a truncated time tag',
    code: 'bad_header',
    offset: 0,
    bytes: hexBytes(`
      2362756e 646c6500  # "#bundle" + NUL
      00000000           # half a time tag
    `),
  },
  { name: '"#bun" only', code: 'bad_header', offset: 0, bytes: hexBytes('2362756e  # "#bun"') },
  { name: '"#bundle" without its NUL', code: 'bad_header', offset: 0, bytes: hexBytes('2362756e 646c6521 00000000 00000001  # "#bundle!" + time tag') },
  {
    name: 'address without leading "/"',
    code: 'bad_header',
    offset: 0,
    bytes: hexBytes(`
      6169706c 61796572 2f72656c 65617365 00000000  # "aiplayer/release" (16 chars) + NUL + 3 pad
      2c000000                                      # type tags ","
    `),
  },
  { name: 'missing type tag string', code: 'bad_message', offset: 4, bytes: hexBytes('2f610000  # address "/a", then nothing') },
  {
    name: 'type tag string without ","',
    code: 'bad_message',
    bytes: hexBytes(`
      2f610000  # address "/a"
      69000000  # "i" where ",i" belongs
      00000001  # int32 1
    `),
  },
  {
    name: 'truncated int32',
    code: 'bad_message',
    bytes: hexBytes(`
      2f610000  # address "/a"
      2c690000  # type tags ",i"
      0000      # 2 of the int32's 4 bytes
    `),
  },
  {
    name: 'truncated float32',
    code: 'bad_message',
    bytes: hexBytes(`
      2f610000  # address "/a"
      2c660000  # type tags ",f"
      3e80      # 2 of the float32's 4 bytes
    `),
  },
  {
    name: 'type tags declare more arguments than there are',
    code: 'bad_message',
    bytes: hexBytes(`
      2f610000  # address "/a"
      2c696900  # type tags ",ii"
      00000001  # int32 1, then no second int32
    `),
  },
  {
    // osc.js alone accepts this as ,s "abcd": it stops at the end of the data when no NUL is found and rounds
    // up to the 4-byte boundary, so every byte looks consumed. OSC 1.0 requires the NUL.
    name: 'last string without its NUL (ends on a 4-byte boundary)',
    code: 'bad_message',
    bytes: hexBytes(`
      2f610000  # address "/a"
      2c730000  # type tags ",s"
      61626364  # "abcd", no NUL
    `),
  },
  {
    // The same, one byte short of the boundary: osc.js's offset would run past the end.
    name: 'last string without its NUL (ends off a 4-byte boundary)',
    code: 'bad_message',
    bytes: hexBytes(`
      2f610000  # address "/a"
      2c730000  # type tags ",s"
      616263    # "abc", no NUL
    `),
  },
  {
    name: 'address without its NUL',
    code: 'bad_message',
    bytes: hexBytes('2f616263  # "/abc", no NUL, and so no type tags'),
  },
  {
    name: 'unknown type tag',
    code: 'bad_message',
    bytes: hexBytes(`
      2f610000  # address "/a"
      2c780000  # type tags ",x"
      00000000  # 4 bytes of something
    `),
  },
  {
    name: 'unclosed array type tag',
    code: 'bad_message',
    bytes: hexBytes(`
      2f610000  # address "/a"
      2c5b6900  # type tags ",[i"
      00000001  # int32 1
    `),
  },
  {
    name: 'trailing bytes after the last argument',
    code: 'trailing_bytes',
    offset: 12,
    bytes: hexBytes(`
      2f610000  # address "/a"
      2c690000  # type tags ",i"
      00000001  # int32 1
      00000000  # 4 bytes nobody declared
    `),
  },
  {
    name: 'datagram length not a multiple of 4',
    code: 'trailing_bytes',
    offset: 8,
    bytes: hexBytes(`
      2f610000  # address "/a"
      2c000000  # type tags "," (no arguments)
      00        # one stray byte
    `),
  },
  { name: '33 arguments', code: 'too_many_args', offset: 4, bytes: manyArgs(33) },
  {
    // OSC 1.1 array tags would let one argument carry any number of values.
    name: '40 arguments hidden in an OSC 1.1 array',
    code: 'too_many_args',
    bytes: Buffer.concat([oscString('/a'), oscString(',[' + 'i'.repeat(40) + ']'), Buffer.alloc(40 * 4)]),
  },
  {
    name: 'huge declared blob size',
    code: 'bad_message',
    bytes: hexBytes(`
      2f610000  # address "/a"
      2c620000  # type tags ",b"
      7fffffff  # int32 2147483647 blob size
      01020304  # 4 bytes of blob
    `),
  },
  {
    name: 'blob size past the end',
    code: 'bad_message',
    bytes: hexBytes(`
      2f610000  # address "/a"
      2c620000  # type tags ",b"
      00000010  # int32 16 blob size
      01020304  # 4 bytes of blob
    `),
  },
  {
    name: 'negative blob size',
    code: 'bad_message',
    bytes: hexBytes(`
      2f610000  # address "/a"
      2c620000  # type tags ",b"
      fffffffc  # int32 -4 blob size
      01020304  # 4 bytes
    `),
  },
];

describe('malformed datagrams', () => {
  for (const row of MALFORMED) {
    it(`${row.name} -> ${row.code}`, () => {
      const result = decodeDatagram(row.bytes);
      expectError(result, row.code, row.offset);
      if (!result.ok) {
        expect(result.error.offset).toBeGreaterThanOrEqual(0);
        expect(result.error.offset).toBeLessThanOrEqual(row.bytes.byteLength);
      }
    });
  }

  it('rejects the same rows identically through a sliced Buffer', () => {
    for (const row of MALFORMED) {
      if (row.bytes.byteLength === 0) continue;
      const direct = decodeDatagram(row.bytes);
      const viaSlice = decodeDatagram(sliced(row.bytes));
      expect(viaSlice.ok ? 'ok' : viaSlice.error.code, row.name).toBe(direct.ok ? 'ok' : direct.error.code);
    }
  });

  it('accepts 32 arguments', () => {
    expect(messagesOf(decodeDatagram(manyArgs(32)))[0]!.args).toHaveLength(32);
  });

  it('honours custom limits', () => {
    const limits = { maxBundleDepth: 1, maxMessages: 2, maxArgs: 2 };
    expectError(decodeDatagram(manyArgs(3), limits), 'too_many_args');
    expectError(decodeDatagram(nest(manyArgs(1), 2), limits), 'bundle_too_deep');
    expectError(decodeDatagram(bundle(manyArgs(1), manyArgs(1), manyArgs(1)), limits), 'too_many_messages');
    expect(messagesOf(decodeDatagram(bundle(manyArgs(2), manyArgs(2)), limits))).toHaveLength(2);
  });
});

// ---- fuzz (mqtt-packet testRandom style) ------------------------------------------------------

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FUZZ_SEED = 0x05c9027;
const FUZZ_ITERATIONS = 100_000;
const FUZZ_TAGS = 'ifsbifsbifsbhdtcrmTFNIS[]x';

function makeFuzzer(seed: number) {
  const rand = mulberry32(seed);
  const int = (n: number): number => Math.floor(rand() * n);
  const pick = <T>(items: ArrayLike<T>): T => items[int(items.length)]!;
  const randomBytes = (n: number): Buffer => {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = int(256);
    return out;
  };
  const addresses = [...new Set(fixtures.map((f) => f.address)), '/a', '/', '/x/y/z'];
  const interesting = [0, 1, 3, 4, 5, 8, 12, 16, -1, -4, 0x7fffffff, -0x80000000, 0x10000];

  const validish = (): Buffer => {
    const tags = Array.from({ length: int(6) }, () => pick(FUZZ_TAGS)).join('');
    const body = rand() < 0.5 ? randomBytes(int(10) * 4) : randomBytes(int(40));
    if (body.length >= 4 && rand() < 0.3) body.writeInt32BE(pick(interesting) | 0, int(body.length >> 2) * 4);
    return Buffer.concat([oscString(pick(addresses)), oscString(',' + tags), body]);
  };

  const mutate = (input: Uint8Array): Buffer => {
    const out = Buffer.from(input);
    switch (int(4)) {
      case 0: // bit flips
        for (let n = 1 + int(4); n > 0 && out.length > 0; n--) {
          const at = int(out.length);
          out[at] = out[at]! ^ (1 << int(8));
        }
        return out;
      case 1: // truncation
        return out.subarray(0, int(out.length + 1));
      case 2: // size or number field corruption, on a word boundary
        if (out.length >= 4) out.writeInt32BE(pick(interesting) | 0, int(out.length >> 2) * 4);
        return out;
      default: // extension
        return Buffer.concat([out, randomBytes(1 + int(12))]);
    }
  };

  const element = (depth: number): Buffer => {
    const r = rand();
    if (depth < 6 && r < 0.2) return bundleOf(depth + 1);
    if (r < 0.6) return Buffer.from(pick(fixtures).bytes);
    return validish();
  };

  const bundleOf = (depth: number): Buffer => {
    const parts: Buffer[] = [];
    for (let n = int(4); n > 0; n--) {
      const e = element(depth);
      // Mostly honest sizes, sometimes a lie.
      parts.push(int32(rand() < 0.8 ? e.length : pick(interesting)), e);
    }
    return bundleRaw(...parts);
  };

  const next = (): Buffer => {
    const r = rand();
    let out: Buffer;
    if (r < 0.4) out = validish();
    else if (r < 0.6) out = bundleOf(0);
    else if (r < 0.9) out = mutate(rand() < 0.7 ? pick(fixtures).bytes : bundleOf(0));
    else out = randomBytes(int(96));
    if (rand() < 0.25) out = sliced(out, 1 + int(15));
    return out;
  };

  return next;
}

describe('fuzz', () => {
  // 100,000 buffers measured at ~1.5 s on the 2-core box; the test timeout keeps it honest.
  it(`decodeDatagram never throws and only returns known codes (${FUZZ_ITERATIONS} buffers, seed ${FUZZ_SEED})`, { timeout: 5_000 }, () => {
    const next = makeFuzzer(FUZZ_SEED);
    const problems: string[] = [];
    const seen = new Map<string, number>();
    const started = performance.now();
    for (let i = 0; i < FUZZ_ITERATIONS && problems.length < 5; i++) {
      const input = next();
      let result: DecodeResult;
      try {
        result = decodeDatagram(input);
      } catch (err) {
        problems.push(`#${i} threw ${String(err)} on ${hex(input)}`);
        continue;
      }
      const outcome = result.ok ? 'ok' : result.error.code;
      seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
      if (result.ok) {
        const bad = result.messages.find((m) => !m.address.startsWith('/') || m.args.length > 32);
        if (result.messages.length > 64 || bad) problems.push(`#${i} ok with out-of-limit output on ${hex(input)}`);
      } else if (!(result.error.code in KNOWN_CODES) || !Number.isInteger(result.error.offset) || result.error.offset < 0) {
        problems.push(`#${i} returned ${JSON.stringify(result.error)} on ${hex(input)}`);
      }
    }
    const elapsed = performance.now() - started;
    expect(problems).toEqual([]);
    // The bias works: a good share decodes, and most error paths are reached.
    expect(seen.get('ok') ?? 0).toBeGreaterThan(FUZZ_ITERATIONS / 20);
    for (const code of ['bad_header', 'bad_bundle', 'bad_message', 'trailing_bytes'] as const) {
      expect(seen.get(code) ?? 0, code).toBeGreaterThan(FUZZ_ITERATIONS / 1000);
    }
    expect(elapsed).toBeLessThan(5_000);
  });
});
