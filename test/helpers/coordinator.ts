import { afterEach, expect } from 'vitest';
import pino from 'pino';
import { startCoordinator, type Coordinator, type CoordinatorOptions } from '../../src/main.js';

/**
 * Pool ranges, one per test file, below Linux's ephemeral range (32768+) so no
 * test socket that binds port 0 can land in a pool, and files running in
 * parallel never offer each other's ports.
 */
export const RANGES = {
  handshake: [21000, 21099],
  deployed: [21100, 21199],
  load: [21200, 21599],
  cobind: [21600, 21649],
  exhaustion: [21650, 21659],
  malformed: [21660, 21699],
  interop: [21700, 21749],
  client: [21750, 21799],
  simulate: [21800, 21999],
  cli: [22000, 22099],
  sdk: [22100, 22199],
  liveness: [22200, 22299],
  persistence: [22300, 22399],
  sigkill: [22400, 22799],
  admin: [22800, 22899],
  forgery: [22900, 22999],
  flood: [23000, 23099],
  churn: [23100, 23299],
  crashloop: [23300, 23399],
  routing: [23400, 23499],
  routingCli: [23500, 23599],
  atlas: [23600, 23699],
  tail: [23700, 23709],
  sweeps: [23710, 23809],
  /** Response ports, no pool: swept only by the file that names them (a plugin without the JUCE bug scans on by 100 from its own). */
  sweepResponses: [23900, 23949],
  cliResponses: [23950, 23959],
  extraPorts: [23810, 23859],
  guards: [23860, 23899],
  studio: [27000, 27049],
  http: [27050, 27149],
  view: [27150, 27249],
} as const satisfies Record<string, readonly [number, number]>;

const open: Coordinator[] = [];

const problems: string[] = [];

// After every scenario, or when the test closes a coordinator itself, the pool's books must balance
// (free + quarantined + held = size, one lease per held port).
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
  expect(problems.splice(0)).toEqual([]);
});

/** A coordinator on an ephemeral port (never 9001), closed after each test. Logs with OSCPORT_TEST_LOG=debug. */
export async function testCoordinator(range: readonly [number, number], options: CoordinatorOptions = {}): Promise<Coordinator> {
  const coordinator = await startCoordinator({
    host: '127.0.0.1',
    port: 0,
    poolLow: range[0],
    poolHigh: range[1],
    reserved: [],
    // Files run in parallel: none takes 8999 or sweeps the real response ports unless its test says so.
    extraPorts: [],
    sweepPorts: [],
    // No HTTP server unless the test asks (`httpPort: 0`), and never an mDNS advertisement from a test unless it asks.
    httpPort: null,
    dnssd: false,
    logger: pino({ level: process.env.OSCPORT_TEST_LOG ?? 'silent' }),
    ...options,
  });
  const close = coordinator.close;
  let audited = false;
  coordinator.close = () => {
    if (!audited) problems.push(...coordinator.leases.checkInvariants());
    audited = true;
    return close();
  };
  open.push(coordinator);
  return coordinator;
}

/** Resolves when `count` instances have been verified. */
export function boundCount(coordinator: Coordinator, count: number): Promise<Map<string, number>> {
  const bound = new Map<string, number>();
  return new Promise((resolve) => {
    const onBound = ({ tempId, port }: { tempId: string; port: number }) => {
      bound.set(tempId, port);
      if (bound.size >= count) {
        coordinator.leases.off('bound', onBound);
        resolve(bound);
      }
    };
    coordinator.leases.on('bound', onBound);
  });
}
