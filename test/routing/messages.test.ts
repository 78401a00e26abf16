import { describe, expect, it } from 'vitest';
import { decodeDatagram, type DecodedMessage } from '../../src/osc/codec.js';
import { rmsReply, type RmsAnswer, type Silent } from '../../src/routing/messages.js';
import { loadFixtures } from '../osc/fixtures.js';

const fixture = (name: string) => loadFixtures().find((f) => f.name === name)!;

function decode(bytes: Uint8Array): DecodedMessage {
  const decoded = decodeDatagram(bytes);
  if (!decoded.ok) throw new Error('undecodable');
  return decoded.messages[0]!;
}

describe('a gather answer, written straight into bytes [PROTOCOL §14]', () => {
  it('is byte for byte the golden datagrams', () => {
    const parts = rmsReply('cal-1', [{ tempId: 'AIplayer_7f3a', trackId: 'TR1', port: 9002, rms: 0.25 }], [{ tempId: 'AIplayer_9c01', trackId: null, port: 9003 }]);
    expect(parts.map((part) => Buffer.from(part).toString('hex'))).toEqual(
      ['coordinator_rms', 'coordinator_rms_missing'].map((name) => Buffer.from(fixture(name).bytes).toString('hex')),
    );
  });

  it('carries every entry, in order, numbered part of parts, each part within 31 arguments and under 1200 bytes', () => {
    const answers: RmsAnswer[] = Array.from({ length: 130 }, (_, n) => ({ tempId: `plugin-${n}`, trackId: n % 3 === 0 ? null : `TR${n}`, port: 9000 + n, rms: n / 256 }));
    const silent: Silent[] = Array.from({ length: 20 }, (_, n) => ({ tempId: `gone-${'x'.repeat(n * 9)}`, trackId: null, port: 9500 + n }));
    const messages = rmsReply('q', answers, silent).map(decode);
    const got = { answers: [] as RmsAnswer[], silent: [] as Silent[] };
    messages.forEach((message, index) => {
      const [queryId, part, parts, ...rest] = message.args.map((arg) => arg.value);
      expect([queryId, part, parts]).toEqual(['q', index + 1, messages.length]);
      expect(message.args.length).toBeLessThanOrEqual(31);
      const width = message.address === '/coordinator/rms' ? 4 : 3;
      for (let n = 0; n < rest.length; n += width) {
        const [tempId, trackId, port, rms] = rest.slice(n, n + width) as [string, string, number, number];
        if (width === 4) got.answers.push({ tempId, trackId: trackId === '' ? null : trackId, port, rms });
        else got.silent.push({ tempId, trackId: trackId === '' ? null : trackId, port });
      }
    });
    expect(got).toEqual({ answers, silent });
    for (const part of rmsReply('q', answers, silent)) expect(part.length).toBeLessThan(1200);
  });

  it('is one empty part when no plugin is bound', () => {
    const [only, ...rest] = rmsReply('q', [], []).map(decode);
    expect(rest).toEqual([]);
    expect(only).toMatchObject({ address: '/coordinator/rms', args: [{ type: 's', value: 'q' }, { type: 'i', value: 1 }, { type: 'i', value: 1 }] });
  });
});
