import { afterEach, describe, expect, it } from 'vitest';
import { PortRequestError, requestPort, type SdkLease } from '../../src/sdk/request-port.js';
import { ADDRESS } from '../../src/osc/contract.js';
import { RANGES, testCoordinator } from '../helpers/coordinator.js';
import { i, Peer, s, tags, values } from '../helpers/peer.js';

const RANGE = [RANGES.exhaustion[0], RANGES.exhaustion[0] + 2] as const;
const leases: SdkLease[] = [];
afterEach(async () => {
  await Promise.all(leases.splice(0).map((l) => l.release()));
});

describe('pool exhaustion', () => {
  it('answers pool_exhausted when every port is taken, and serves again once one is released', async () => {
    const c = await testCoordinator(RANGE);
    const coordinator = { host: '127.0.0.1', port: c.port };
    for (let n = 0; n < 3; n++) leases.push(await requestPort({ tempId: `full-${n}`, coordinator }));
    expect(c.stats().pool.free).toBe(0);

    const late = await Peer.bind();
    late.send(c.port, ADDRESS.request_port, s('late'), i(-1));
    const refusal = await late.next(ADDRESS.port_assignment);
    expect(tags(refusal)).toBe('sis');
    expect(values(refusal)).toEqual(['late', -1, 'error']);
    expect(values(await late.next(ADDRESS.port_error)).slice(0, 2)).toEqual(['late', 'pool_exhausted']);
    await late.close();

    await expect(requestPort({ tempId: 'sdk-late', coordinator })).rejects.toMatchObject({
      name: 'PortRequestError',
      code: 'pool_exhausted',
    } satisfies Partial<PortRequestError>);

    await leases.shift()!.release();
    await expect.poll(() => c.stats().pool.free).toBe(1);
    const lease = await requestPort({ tempId: 'late', coordinator });
    leases.push(lease);
    expect(lease.port).toBeGreaterThanOrEqual(RANGE[0]);
    await expect.poll(() => c.stats().leases.bound).toBe(3);
  });
});
