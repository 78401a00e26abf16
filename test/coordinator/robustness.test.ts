import { afterEach, describe, expect, it } from 'vitest';
import { requestPort } from '../../src/sdk/request-port.js';
import { encodeMessage } from '../../src/osc/codec.js';
import { ADDRESS } from '../../src/osc/contract.js';
import { startCoordinator } from '../../src/main.js';
import { BindError } from '../../src/net/udp.js';
import { RANGES, testCoordinator } from '../helpers/coordinator.js';
import { collectLogs } from '../helpers/logs.js';
import { f, i, Peer, s } from '../helpers/peer.js';

const peers: Peer[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close()));
});

function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function deepBundle(depth: number): Buffer {
  let inner: Buffer = Buffer.from(encodeMessage({ address: '/x', args: [] }));
  for (let d = 0; d < depth; d++) {
    const size = Buffer.alloc(4);
    size.writeInt32BE(inner.length);
    inner = Buffer.concat([Buffer.from('#bundle\0'), Buffer.alloc(8), size, inner]);
  }
  return inner;
}

/** Ten kinds of bad datagram, cycled: every one must be dropped and counted, none may stop the coordinator. */
function badDatagram(n: number, random: () => number): Uint8Array {
  const valid = Buffer.from(encodeMessage({ address: ADDRESS.request_port, args: [s('x'), i(-1), i(50000)] }));
  switch (n % 10) {
    case 0:
      return Buffer.from(Array.from({ length: 1 + Math.floor(random() * 200) }, () => Math.floor(random() * 256)));
    case 1:
      return valid.subarray(0, 1 + Math.floor(random() * (valid.length - 2)));
    case 2:
      return encodeMessage({ address: ADDRESS.request_port, args: [i(1), s('x')] });
    case 3:
      return encodeMessage({ address: ADDRESS.port_confirmed, args: [s('x'), f(9002), s('bound')] });
    case 4:
      return encodeMessage({ address: ADDRESS.rms_response, args: [s('nonce')] });
    case 5:
      return n % 1000 === 5 ? Buffer.alloc(60_000, 0x41) : Buffer.from('#bundle\0\0\0\0\0\0\0\0\0\x7f\xff\xff\xff');
    case 6:
      return deepBundle(8 + (n % 50));
    case 7:
      return encodeMessage({ address: ADDRESS.request_port, args: [s('x'.repeat(500)), i(-1)] });
    case 8:
      return encodeMessage({ address: ADDRESS.release, args: [s('bad\u0000id'), s('extra')] });
    default:
      return Buffer.concat([valid, Buffer.from([1, 2, 3, 4])]);
  }
}

describe('robustness', () => {
  it('drops and counts 10,000 malformed datagrams, logs them at a bounded rate, then serves a handshake', async () => {
    const { lines, logger } = collectLogs('warn');
    const c = await testCoordinator(RANGES.malformed, { logger });
    const attacker = await Peer.bind();
    peers.push(attacker);
    const random = mulberry32(7);
    // In bursts the socket buffer absorbs: the point is the coordinator's handling, not loopback loss.
    for (let burst = 0; burst < 10; burst++) {
      await Promise.all(Array.from({ length: 1000 }, (_, n) => attacker.sendRaw(c.port, badDatagram(burst * 1000 + n, random))));
      await expect.poll(() => c.stats().counters.datagrams, { timeout: 5000 }).toBe((burst + 1) * 1000);
    }
    const { counters } = c.stats();
    expect(counters.malformed + counters.invalid).toBe(10_000);
    expect(counters.malformed).toBeGreaterThan(4000);
    expect(c.leases.size).toBe(0);
    expect(lines.length).toBeLessThan(40);

    const lease = await requestPort({ tempId: 'after-the-storm', coordinator: { host: '127.0.0.1', port: c.port } });
    expect(lease.port).toBeGreaterThanOrEqual(RANGES.malformed[0]);
    await lease.release();
  });

  it('a second coordinator on the same port fails to start; the first keeps serving', async () => {
    const first = await testCoordinator(RANGES.malformed);
    const second = startCoordinator({ host: '127.0.0.1', port: first.port, poolLow: 30000, poolHigh: 30010, extraPorts: [], sweepPorts: [] });
    await expect(second).rejects.toBeInstanceOf(BindError);
    await expect(second).rejects.toMatchObject({ code: 'EADDRINUSE', port: first.port });
    const lease = await requestPort({ tempId: 'still-served', coordinator: { host: '127.0.0.1', port: first.port } });
    await lease.release();
  });

  it('refuses to share its port even with a socket that set SO_REUSEADDR', async () => {
    const squatter = await Peer.bind(0, { reuseAddr: true });
    peers.push(squatter);
    await expect(startCoordinator({ host: '127.0.0.1', port: squatter.port, poolLow: 30000, poolHigh: 30010, extraPorts: [], sweepPorts: [] })).rejects.toMatchObject({
      code: 'EADDRINUSE',
    });
  });
});
