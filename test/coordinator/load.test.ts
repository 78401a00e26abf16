import { describe, expect, it } from 'vitest';
import { requestPort, type SdkLease } from '../../src/sdk/request-port.js';
import { RANGES, testCoordinator } from '../helpers/coordinator.js';

describe('load', () => {
  it('200 instances asking at once get 200 distinct verified ports', async () => {
    const c = await testCoordinator(RANGES.load);
    const leases: SdkLease[] = await Promise.all(
      Array.from({ length: 200 }, (_, n) =>
        requestPort({ tempId: `load-${n}`, coordinator: { host: '127.0.0.1', port: c.port }, timeoutMs: 15_000 }),
      ),
    );
    try {
      const ports = leases.map((l) => l.port);
      expect(new Set(ports).size).toBe(200);
      await expect.poll(() => c.stats().leases.bound).toBe(200);
      for (const lease of leases) {
        expect(c.leases.holderOf(lease.port)).toBe(lease.tempId);
        expect(lease.port).toBeGreaterThanOrEqual(RANGES.load[0]);
        expect(lease.port).toBeLessThanOrEqual(RANGES.load[1]);
      }
      expect(c.stats().counters.malformed).toBe(0);
    } finally {
      await Promise.all(leases.map((l) => l.release()));
    }
    await expect.poll(() => c.leases.size).toBe(0);
    expect(c.stats().pool.free).toBe(c.stats().pool.size);
  });
});
