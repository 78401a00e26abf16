import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { PortRequestError, requestPort, type SdkLease } from '../../src/sdk/request-port.js';
import { ADDRESS } from '../../src/osc/contract.js';
import { RANGES, testCoordinator } from '../helpers/coordinator.js';
import { Peer, s } from '../helpers/peer.js';
import { freeUdpPort } from '../helpers/ports.js';

const RANGE = RANGES.sdk;
const leases: SdkLease[] = [];
const sockets: Array<{ close: () => unknown }> = [];
afterEach(async () => {
  await Promise.all(leases.splice(0).map((l) => l.release()));
  for (const socket of sockets.splice(0)) socket.close();
});

async function lease(options: Parameters<typeof requestPort>[0]): Promise<SdkLease> {
  const l = await requestPort(options);
  leases.push(l);
  return l;
}

describe('SDK client: requestPort', () => {
  it('resolves with a verified port held by an exclusive socket', async () => {
    const c = await testCoordinator(RANGE);
    const l = await lease({ tempId: 'sdk-a', coordinator: { host: '127.0.0.1', port: c.port } });
    expect(l.socket.address().port).toBe(l.port);
    await expect.poll(() => c.leases.view('sdk-a')).toMatchObject({ state: 'bound', port: l.port });
    await expect(Peer.bind(l.port, { reuseAddr: true })).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });

  it('passes application messages on, but answers probes itself', async () => {
    const c = await testCoordinator(RANGE);
    const l = await lease({ tempId: 'sdk-b', coordinator: { host: '127.0.0.1', port: c.port } });
    const app = await Peer.bind();
    sockets.push(app);
    const received = new Promise((resolve) => l.once('message', resolve));
    app.send(l.port, ADDRESS.query_rms, s('not-a-probe'), s('extra'));
    app.send(l.port, '/aiplayer/start_tone', { type: 'f', value: 440 }, { type: 'f', value: -12 });
    expect(await received).toMatchObject({ address: ADDRESS.query_rms });
  });

  it('asks for its preferred port', async () => {
    const c = await testCoordinator(RANGE);
    const l = await lease({ tempId: 'sdk-c', preferredPort: RANGE[0] + 50, coordinator: { host: '127.0.0.1', port: c.port } });
    expect(l.port).toBe(RANGE[0] + 50);
  });

  it('reports a port it cannot bind as failed and takes the next offer', async () => {
    const c = await testCoordinator([RANGE[0] + 60, RANGE[0] + 61], { portCheck: async () => new Set<number>() });
    const squatter = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => squatter.bind(RANGE[0] + 60, '127.0.0.1', resolve));
    sockets.push(squatter);
    const l = await lease({ tempId: 'sdk-d', coordinator: { host: '127.0.0.1', port: c.port } });
    expect(l.port).toBe(RANGE[0] + 61);
    expect(c.stats().pool.quarantined).toBe(1);
  });

  it('keeps asking until a coordinator answers', async () => {
    const port = await freeUdpPort();
    const early = await Peer.bind(port);
    const pending = requestPort({ tempId: 'sdk-e', coordinator: { host: '127.0.0.1', port }, retryMs: 20 });
    await early.next(ADDRESS.request_port);
    await early.close();
    await testCoordinator(RANGE, { port });
    leases.push(await pending);
  });

  it('rejects with timeout when nobody answers, and with invalid_request for a bad tempID', async () => {
    const port = await freeUdpPort();
    await expect(requestPort({ tempId: 'sdk-f', coordinator: { host: '127.0.0.1', port }, timeoutMs: 150 })).rejects.toMatchObject({
      code: 'timeout',
    } satisfies Partial<PortRequestError>);
    await expect(requestPort({ tempId: '', coordinator: { host: '127.0.0.1', port } })).rejects.toMatchObject({
      code: 'invalid_request',
    });
  });

  it('release frees the port on the coordinator', async () => {
    const c = await testCoordinator(RANGE);
    const l = await requestPort({ tempId: 'sdk-g', coordinator: { host: '127.0.0.1', port: c.port } });
    await l.release();
    await expect.poll(() => c.leases.view('sdk-g')).toBeUndefined();
    expect(c.stats().pool.free).toBe(c.stats().pool.size);
  });
});
