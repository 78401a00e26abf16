import { describe, expect, it } from 'vitest';
import {
  datagramLines,
  encodeLine,
  KEEPALIVE_REQUEST,
  LineSplitter,
  MAX_LINE_BYTES,
  parseLine,
  type AtlasMessage,
  type ParseErrorCode,
} from '../../src/atlas/protocol.js';

const chunks = (...parts: (string | Buffer)[]) => parts.map((part) => (typeof part === 'string' ? Buffer.from(part) : part));

function split(splitter: LineSplitter, ...parts: (string | Buffer)[]): string[] {
  return chunks(...parts).flatMap((chunk) => splitter.push(chunk));
}

describe('LineSplitter', () => {
  it('cuts whole lines and keeps a partial one until its newline arrives', () => {
    const splitter = new LineSplitter();
    expect(split(splitter, '{"a":1}\n{"b"', ':2}\n{"c":3}\n{')).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
    expect(split(splitter, '"d":4}', '\n')).toEqual(['{"d":4}']);
  });

  it('reassembles a UTF-8 character split across chunks', () => {
    const bytes = Buffer.from('{"str":"Bühne"}\n');
    const cut = bytes.indexOf(0xbc); // the second byte of ü
    expect(split(new LineSplitter(), bytes.subarray(0, cut), bytes.subarray(cut))).toEqual(['{"str":"Bühne"}']);
  });

  it('drops blank lines and trims CR and spaces', () => {
    expect(split(new LineSplitter(), '\n\r\n  {"a":1} \r\n\n')).toEqual(['{"a":1}']);
  });

  it('drops and counts a line over the limit, in one chunk, and recovers at the next newline', () => {
    const splitter = new LineSplitter(8);
    expect(split(splitter, '12345678\n123456789\nok\n')).toEqual(['12345678', 'ok']);
    expect(splitter.overlong).toBe(1);
  });

  it('drops an overlong line that arrives over many chunks without holding it, counted once', () => {
    const splitter = new LineSplitter(8);
    expect(split(splitter, 'abcde', 'fghij', 'klmno', 'pq\nnext', '\n')).toEqual(['next']);
    expect(splitter.overlong).toBe(1);
  });

  it('drops an overlong line whose newline arrives in the chunk that also overflows the limit', () => {
    const splitter = new LineSplitter(8);
    expect(split(splitter, 'abcde', 'fghij\nok\n')).toEqual(['ok']);
    expect(splitter.overlong).toBe(1);
  });

  it('defaults to 64 KiB', () => {
    const splitter = new LineSplitter();
    expect(split(splitter, `${'x'.repeat(MAX_LINE_BYTES)}\n`, `${'x'.repeat(MAX_LINE_BYTES + 1)}\n`)).toHaveLength(1);
    expect(splitter.overlong).toBe(1);
  });
});

describe('datagramLines', () => {
  it('yields every object of a datagram that packs several', () => {
    const datagram = Buffer.from('{"a":1}\n{"b":2}\n\n{"c":3}');
    expect(datagramLines(datagram)).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
  });
});

describe('parseLine: messages', () => {
  const cases: [string, string, AtlasMessage][] = [
    [
      'an update with params as one object',
      '{"jsonrpc":"2.0","method":"update","params":{"param":"SourceMeter_0","val":-42.5}}',
      { kind: 'values', method: 'update', values: [{ param: 'SourceMeter_0', fmt: 'val', value: -42.5 }] },
    ],
    [
      'an update with params as an array, in pct and str',
      '{"jsonrpc":"2.0","method":"update","params":[{"param":"ZoneMeter_1","pct":47},{"param":"ZoneName_1","str":"Bar"}]}',
      {
        kind: 'values',
        method: 'update',
        values: [
          { param: 'ZoneMeter_1', fmt: 'pct', value: 47 },
          { param: 'ZoneName_1', fmt: 'str', value: 'Bar' },
        ],
      },
    ],
    [
      'the keep-alive answer (getResp, array form, no id)',
      '{"jsonrpc":"2.0","method":"getResp","params":[{"param":"KeepAlive","str":"OK"}]}',
      { kind: 'values', method: 'getResp', values: [{ param: 'KeepAlive', fmt: 'str', value: 'OK' }] },
    ],
    ['an OK acknowledgement', '{"jsonrpc":"2.0","result":"OK","id":7}', { kind: 'result', id: 7, values: [] }],
    ['an OK without id', '{"jsonrpc":"2.0","result":"OK"}', { kind: 'result', id: undefined, values: [] }],
    [
      'a result carrying params',
      '{"jsonrpc":"2.0","result":[{"param":"SourceGain_0","val":-20}],"id":"x1"}',
      { kind: 'result', id: 'x1', values: [{ param: 'SourceGain_0', fmt: 'val', value: -20 }] },
    ],
    [
      'an error object, its param taken from the message',
      '{"error":{"code":-32604,"message":"param \'Foo_3\' could not be found"}}',
      { kind: 'error', id: undefined, code: -32604, message: "param 'Foo_3' could not be found", param: 'Foo_3' },
    ],
    [
      'an error JSON-encoded in a string, with an id',
      '{"jsonrpc":"2.0","error":"{\\"code\\":-32604,\\"message\\":\\"param \'Foo_3\' could not be found\\"}","id":4}',
      { kind: 'error', id: 4, code: -32604, message: "param 'Foo_3' could not be found", param: 'Foo_3' },
    ],
    [
      'an error that is only a string',
      '{"error":"device busy","id":5}',
      { kind: 'error', id: 5, code: undefined, message: 'device busy', param: undefined },
    ],
    [
      'a sub batch with an id',
      '{"jsonrpc":"2.0","method":"sub","params":[{"param":"SourceMeter_0","fmt":"val"},{"param":"SourceMeter_1","fmt":"pct"}],"id":3}',
      {
        kind: 'query',
        method: 'sub',
        id: 3,
        params: [
          { param: 'SourceMeter_0', fmt: 'val' },
          { param: 'SourceMeter_1', fmt: 'pct' },
        ],
      },
    ],
    [
      'a get without fmt (dB assumed)',
      '{"jsonrpc":"2.0","method":"get","params":{"param":"ZoneGain_0"}}',
      { kind: 'query', method: 'get', id: undefined, params: [{ param: 'ZoneGain_0', fmt: 'val' }] },
    ],
    ['an unsub', '{"method":"unsub","params":{"param":"A_1","fmt":"val"}}', { kind: 'query', method: 'unsub', id: undefined, params: [{ param: 'A_1', fmt: 'val' }] }],
    [
      'a set and a bmp',
      '{"jsonrpc":"2.0","method":"bmp","params":{"param":"ZoneGain_0","val":-3},"id":9}',
      { kind: 'write', method: 'bmp', id: 9, values: [{ param: 'ZoneGain_0', fmt: 'val', value: -3 }] },
    ],
  ];

  it.each(cases)('%s', (_name, line, message) => {
    expect(parseLine(line)).toEqual({ ok: true, message });
  });
});

describe('parseLine: malformed lines are typed errors, never exceptions', () => {
  const cases: [string, ParseErrorCode][] = [
    ['{"jsonrpc":"2.0","method":"update","params":{"param":', 'not_json'],
    ['this is not json', 'not_json'],
    ['[{"param":"A_1","val":1}]', 'not_object'],
    ['42', 'not_object'],
    ['null', 'not_object'],
    ['{"jsonrpc":"2.0","method":"reboot"}', 'unknown_shape'],
    ['{"jsonrpc":"2.0"}', 'unknown_shape'],
    ['{"method":"update","params":[{"param":"SourceMeter_0"}]}', 'bad_params'],
    ['{"method":"update","params":{"val":-3}}', 'bad_params'],
    ['{"method":"update","params":{"param":"A_1","val":"-3"}}', 'bad_params'],
    ['{"method":"update","params":{"param":"A_1","str":3}}', 'bad_params'],
    ['{"method":"update"}', 'bad_params'],
    ['{"method":"sub","params":{"param":"A_1","fmt":"dB"}}', 'bad_params'],
    ['{"method":"sub","params":[{"param":"A_1"},7]}', 'bad_params'],
    ['{"result":42,"id":1}', 'bad_result'],
    ['{"error":17}', 'bad_error'],
    [`{"method":"update","params":{"param":"${'x'.repeat(MAX_LINE_BYTES)}","val":1}}`, 'too_long'],
  ];

  it.each(cases)('%s', (line, code) => {
    const result = parseLine(line);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.code).toBe(code);
  });

  it('survives 20,000 random JSON objects made of protocol words, and 20,000 torn lines', () => {
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const keys = ['jsonrpc', 'method', 'params', 'param', 'val', 'pct', 'str', 'fmt', 'result', 'error', 'id', 'code', 'message'];
    const words = ['2.0', 'update', 'getResp', 'sub', 'unsub', 'get', 'set', 'bmp', 'OK', 'val', 'pct', 'KeepAlive', '{"code":1}', "param 'A_1'"];
    const value = (depth: number): unknown => {
      const roll = random();
      if (depth > 3 || roll < 0.3) return pick([...words, -42.5, 0, 7, null, true, 1e308]);
      if (roll < 0.55) return Array.from({ length: Math.floor(random() * 3) }, () => value(depth + 1));
      return Object.fromEntries(Array.from({ length: 1 + Math.floor(random() * 4) }, () => [pick(keys), value(depth + 1)]));
    };
    const entry = () => ({ param: pick(['A_1', 'KeepAlive', 7]), [pick(['val', 'pct', 'str', 'fmt', 'x'])]: pick([-3, 'OK', 'val', null]) });
    const shaped = () => ({
      jsonrpc: '2.0',
      method: pick(['update', 'getResp', 'sub', 'unsub', 'get', 'set', 'bmp', 'reboot']),
      params: random() < 0.5 ? entry() : Array.from({ length: Math.floor(random() * 3) }, entry),
      ...(random() < 0.5 ? { id: pick([1, 'a', null]) } : {}),
    });
    const kinds = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const line = JSON.stringify(random() < 0.5 ? shaped() : value(0));
      const result = parseLine(line);
      if (result.ok) kinds.add(result.message.kind);
      parseLine(line.slice(0, Math.floor(random() * line.length)));
    }
    // The generator reaches every kind, so the shape checks were exercised, not just JSON.parse.
    expect([...kinds].sort()).toEqual(['error', 'query', 'result', 'values', 'write']);
  });
});

describe('encodeLine', () => {
  it('encodes the keep-alive exactly as the manual writes it', () => {
    expect(encodeLine({ kind: 'query', method: 'get', id: undefined, params: [{ param: 'KeepAlive', fmt: 'str' }] })).toBe(KEEPALIVE_REQUEST);
    expect(KEEPALIVE_REQUEST).toBe('{"jsonrpc":"2.0","method":"get","params":{"param":"KeepAlive","fmt":"str"}}\n');
  });

  it('sends a sub batch as an array with an id, one line', () => {
    const line = encodeLine({
      kind: 'query',
      method: 'sub',
      id: 12,
      params: [
        { param: 'SourceMeter_0', fmt: 'val' },
        { param: 'SourceMeter_1', fmt: 'val' },
      ],
    });
    expect(line).toBe('{"jsonrpc":"2.0","method":"sub","params":[{"param":"SourceMeter_0","fmt":"val"},{"param":"SourceMeter_1","fmt":"val"}],"id":12}\n');
  });

  it('writes an error as an object, or JSON-encoded in a string', () => {
    const error: AtlasMessage = { kind: 'error', id: 2, code: -32604, message: "param 'X_1' could not be found", param: 'X_1' };
    expect(encodeLine(error)).toBe('{"jsonrpc":"2.0","error":{"code":-32604,"message":"param \'X_1\' could not be found"},"id":2}\n');
    expect(parseLine(encodeLine(error, { errorAsString: true }).trim())).toEqual({ ok: true, message: error });
  });

  it('round-trips every kind of message through parseLine', () => {
    const messages: AtlasMessage[] = [
      { kind: 'values', method: 'update', values: [{ param: 'SourceMeter_0', fmt: 'val', value: -12.5 }] },
      {
        kind: 'values',
        method: 'getResp',
        values: [
          { param: 'KeepAlive', fmt: 'str', value: 'OK' },
          { param: 'ZoneMeter_0', fmt: 'pct', value: 80 },
        ],
      },
      { kind: 'result', id: 1, values: [] },
      { kind: 'result', id: 'a', values: [{ param: 'ZoneGain_0', fmt: 'val', value: -6 }] },
      { kind: 'error', id: undefined, code: -32604, message: "param 'Q_1' could not be found", param: 'Q_1' },
      { kind: 'query', method: 'unsub', id: 5, params: [{ param: 'SourceMeter_3', fmt: 'val' }] },
      { kind: 'write', method: 'set', id: undefined, values: [{ param: 'ZoneMute_2', fmt: 'val', value: 1 }] },
    ];
    for (const message of messages) {
      const line = encodeLine(message);
      expect(line.endsWith('\n')).toBe(true);
      expect(line.indexOf('\n')).toBe(line.length - 1);
      expect(parseLine(line.trim())).toEqual({ ok: true, message });
    }
  });
});
