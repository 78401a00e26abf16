import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { createCounters } from '../../src/counters.js';
import type { Hub } from '../../src/handlers/hub.js';
import { receiveDatagram } from '../../src/handlers/index.js';
import { decodeDatagram, encodeMessage, type OscArg } from '../../src/osc/codec.js';
import { MESSAGES } from '../../src/osc/contract.js';
import { DEFAULT_SETTINGS } from '../../src/settings/index.js';

const s = (value: string): OscArg => ({ type: 's', value });
const i = (value: number): OscArg => ({ type: 'i', value });
const f = (value: number): OscArg => ({ type: 'f', value });

const LOCAL = { address: '127.0.0.1', port: 40000 };
const REMOTE = { address: '192.168.1.9', port: 40000 };

function bundle(...elements: Uint8Array[]): Buffer {
  const parts = elements.flatMap((element) => {
    const size = Buffer.alloc(4);
    size.writeInt32BE(element.length);
    return [size, Buffer.from(element)];
  });
  return Buffer.concat([Buffer.from('#bundle\0', 'latin1'), Buffer.alloc(8), ...parts]);
}

/**
 * The router with a hub whose collaborators are recorded stand-ins: what it sends, forwards and
 * logs, and what it asks of the leases, with one controller registered (or none).
 */
function hubWith({ controllers = 1, throwing = false } = {}) {
  const sent: Array<{ address: string; values: unknown[]; to: string }> = [];
  const forwarded: Buffer[] = [];
  const logged: string[] = [];
  const asked: Array<[string, ...unknown[]]> = [];
  const counters = createCounters();
  const leases = {
    keepAlive: (id: string) => (asked.push(['keepAlive', id]), id === 'AIplayer_1' ? id : id === 'TR1' ? 'AIplayer_1' : undefined),
    request: (request: unknown, source: unknown) => {
      asked.push(['request', request, source]);
      if (throwing) throw new Error('a bug');
    },
    confirm: (confirmation: unknown) => asked.push(['confirm', confirmation]),
  };
  const levels: Array<[string, number]> = [];
  const hub = {
    leases,
    levels: { record: (tempId: string, rms: number) => levels.push([tempId, rms]) },
    controllers: { size: controllers, forward: (bytes: Uint8Array) => forwarded.push(Buffer.from(bytes)), allowed: (address: string) => address.startsWith('127.') },
    counters,
    log: (kind: string) => logged.push(kind),
    send: (bytes: Uint8Array, host: string, port: number) => {
      const decoded = decodeDatagram(bytes);
      if (!decoded.ok) throw new Error('sent a malformed datagram');
      for (const m of decoded.messages) sent.push({ address: m.address, values: m.args.map((a) => a.value), to: `${host}:${port}` });
    },
    clock: new SimulatedClock(),
    settings: DEFAULT_SETTINGS,
  } as unknown as Hub;
  return { hub, sent, forwarded, logged, asked, counters, levels };
}

describe('the router: one handler per address [PROTOCOL §9, §12]', () => {
  it('telemetry takes the hot path: the lease is kept alive and the bytes go to the controllers as they came', () => {
    const { hub, forwarded, asked, counters } = hubWith();
    const telemetry = Buffer.from(encodeMessage({ address: '/aiplayer/telemetry', args: [s('AIplayer_1'), f(0.5), f(0.1), f(0.2), f(0.3), f(0.4)] }));
    receiveDatagram(hub, telemetry, LOCAL);
    expect(asked).toEqual([['keepAlive', 'AIplayer_1']]);
    expect(forwarded).toEqual([telemetry]);
    expect(counters).toMatchObject({ datagrams: 1, pluginTraffic: 1 });
  });

  it('the level in telemetry and rms is kept for its lease, by tempID or trackID, whole messages or in a bundle; a tone report is no level', () => {
    const { hub, levels } = hubWith();
    receiveDatagram(hub, Buffer.from(encodeMessage({ address: '/aiplayer/telemetry', args: [s('AIplayer_1'), f(0.5), f(0.1), f(0.2), f(0.3), f(0.4)] })), LOCAL);
    receiveDatagram(hub, Buffer.from(encodeMessage({ address: '/aiplayer/rms', args: [s('TR1'), f(0.25)] })), LOCAL);
    receiveDatagram(hub, bundle(encodeMessage({ address: '/aiplayer/rms', args: [s('AIplayer_1'), f(0.125)] })), LOCAL);
    receiveDatagram(hub, Buffer.from(encodeMessage({ address: '/aiplayer/tone_started', args: [s('AIplayer_1'), f(440)] })), LOCAL);
    receiveDatagram(hub, Buffer.from(encodeMessage({ address: '/aiplayer/rms', args: [s('stranger'), f(0.75)] })), LOCAL);
    expect(levels).toEqual([['AIplayer_1', 0.5], ['AIplayer_1', 0.25], ['AIplayer_1', 0.125]]);
  });

  it('nothing is forwarded while no controller listens', () => {
    const { hub, forwarded } = hubWith({ controllers: 0 });
    receiveDatagram(hub, Buffer.from(encodeMessage({ address: '/aiplayer/rms', args: [s('TR1'), f(0.5)] })), LOCAL);
    receiveDatagram(hub, Buffer.from(encodeMessage({ address: '/aiplayer/new_thing', args: [i(1)] })), LOCAL);
    expect(forwarded).toEqual([]);
  });

  it('an address it does not know is a plugin\'s: counted and forwarded, only that message\'s bytes out of a bundle', () => {
    const { hub, forwarded, counters } = hubWith();
    const unknown = encodeMessage({ address: '/aiplayer/new_thing', args: [i(1)] });
    const request = encodeMessage({ address: '/aiplayer/request_port', args: [s('AIplayer_2'), i(-1), i(50000)] });
    receiveDatagram(hub, bundle(request, unknown), LOCAL);
    expect(forwarded).toEqual([Buffer.from(unknown)]);
    expect(counters.unknownAddress).toBe(1);
  });

  it('an unknown /coordinator/ address is a controller\'s mistake: told back to a controller, never forwarded, ignored from elsewhere', () => {
    const { hub, sent, forwarded } = hubWith();
    receiveDatagram(hub, Buffer.from(encodeMessage({ address: '/coordinator/nonsense', args: [] })), LOCAL);
    receiveDatagram(hub, Buffer.from(encodeMessage({ address: '/coordinator/nonsense', args: [] })), REMOTE);
    expect(sent).toEqual([{ address: '/coordinator/error', values: ['unknown_address', 'no such address: /coordinator/nonsense', '/coordinator/nonsense'], to: '127.0.0.1:40000' }]);
    expect(forwarded).toEqual([]);
  });

  it.each(MESSAGES.filter((message) => message.direction !== 'out').map((message) => message.address))(
    '%s, which the contract says the coordinator accepts, has its row in the table',
    (address) => {
      const { hub, counters } = hubWith();
      receiveDatagram(hub, Buffer.from(encodeMessage({ address, args: [] })), LOCAL);
      expect(counters.unknownAddress).toBe(0);
    },
  );

  it('garbage is counted and logged, and goes nowhere', () => {
    const { hub, sent, forwarded, logged, asked, counters } = hubWith();
    receiveDatagram(hub, Buffer.from('not osc at all'), LOCAL);
    expect(counters).toMatchObject({ datagrams: 1, malformed: 1 });
    expect(logged).toEqual(['malformed']);
    expect([sent, forwarded, asked]).toEqual([[], [], []]);
  });

  it('a handler that fails is logged, and the next message of the bundle is still handled', () => {
    const { hub, logged, asked } = hubWith({ throwing: true });
    const request = encodeMessage({ address: '/aiplayer/request_port', args: [s('AIplayer_2'), i(-1), i(50000)] });
    const confirmation = encodeMessage({ address: '/aiplayer/port_confirmed', args: [s('AIplayer_3'), i(9005), s('bound')] });
    receiveDatagram(hub, bundle(request, confirmation), LOCAL);
    expect(logged).toEqual(['handler_failed']);
    expect(asked.map(([what]) => what)).toEqual(['request', 'confirm']);
  });
});

describe('request_port [PROTOCOL §1, §2]', () => {
  it('a well-formed request reaches the leases with its response port', () => {
    const { hub, asked } = hubWith();
    receiveDatagram(hub, Buffer.from(encodeMessage({ address: '/aiplayer/request_port', args: [s('AIplayer_2'), i(-1), i(50000)] })), LOCAL);
    expect(asked).toEqual([['request', { tempId: 'AIplayer_2', preferredPort: -1, responsePort: 50000 }, LOCAL]]);
  });

  it('a bad one is refused where the sender said it listens: error status, then the reason', () => {
    const { hub, sent, asked, counters } = hubWith();
    receiveDatagram(hub, Buffer.from(encodeMessage({ address: '/aiplayer/request_port', args: [s(''), i(-1), i(50000)] })), LOCAL);
    expect(asked).toEqual([]);
    expect(counters.invalid).toBe(1);
    expect(sent.map(({ address, to }) => [address, to])).toEqual([
      ['/aiplayer/port_assignment', '127.0.0.1:50000'],
      ['/aiplayer/port_error', '127.0.0.1:50000'],
    ]);
    expect(sent[1]!.values.slice(0, 2)).toEqual(['', 'invalid_request']);
  });
});
