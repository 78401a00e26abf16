import { rmSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeMessage } from '../../src/osc/codec.js';
import { ADDRESS } from '../../src/osc/contract.js';
import { DeployedPlugin } from '../../src/simulators/daw/deployed-plugin.js';
import type { Coordinator } from '../../src/main.js';
import { boundCount, RANGES, testCoordinator } from '../helpers/coordinator.js';
import { f, Peer, s } from '../helpers/peer.js';
import { freeUdpPort } from '../helpers/ports.js';
import { testDataDir } from '../helpers/temp-dir.js';

const POOL = RANGES.sweeps;
/** This file's response ports: below the ephemeral range, where no socket of a file running beside it lands. */
const SHARED = RANGES.sweepResponses[0];
/** Response ports of plugins without the JUCE bug, which scan on by 100 as the deployed one does. */
const SCANNED = { low: RANGES.sweepResponses[0] + 10, high: RANGES.sweepResponses[0] + 10 + 300, step: 100 };

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((close) => close()));
});

/** Instances as deployed today: one request at most, SO_REUSEADDR (unless told), any assignment taken, query_rms answered wherever they listen. */
async function deployed(count: number, coordinatorPort: number, options: { prefix?: string; juceBug?: boolean; responsePort?: number } = {}) {
  const { prefix = 'AIplayer', juceBug = true, responsePort = juceBug ? SHARED : SCANNED.low } = options;
  const plugins: DeployedPlugin[] = [];
  for (let n = 0; n < count; n++) {
    const plugin = new DeployedPlugin({ tempId: `${prefix}_${n}`, coordinator: { host: '127.0.0.1', port: coordinatorPort }, responsePort, juceBug });
    cleanups.push(() => plugin.close());
    await plugin.start();
    plugins.push(plugin);
  }
  return plugins;
}

/** Resolves once every plugin is verified: with the ports, all distinct, each credited to the instance on it. */
async function allVerified(c: Coordinator, plugins: readonly DeployedPlugin[]): Promise<number[]> {
  const ports = await Promise.all(plugins.map((plugin) => plugin.whenVerified()));
  await allBound(c, plugins.map((plugin) => plugin.tempId));
  expect(new Set(ports).size).toBe(plugins.length);
  for (const plugin of plugins) {
    expect(c.leases.view(plugin.tempId)).toMatchObject({ state: 'bound', port: plugin.port });
    expect(c.leases.holderOf(plugin.port!)).toBe(plugin.tempId);
  }
  return ports;
}

/** Resolves once every one of `tempIds` has a bound lease (a plugin knows it was probed before the coordinator has its answer). */
function allBound(c: Coordinator, tempIds: readonly string[]): Promise<void> {
  const waiting = new Set(tempIds.filter((tempId) => c.leases.view(tempId)?.state !== 'bound'));
  if (waiting.size === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const onBound = ({ tempId }: { tempId: string }) => {
      waiting.delete(tempId);
      if (waiting.size > 0) return;
      c.leases.off('bound', onBound);
      resolve();
    };
    c.leases.on('bound', onBound);
  });
}

/** Resolves once the coordinator has handled everything `peer` sent it before: its status reply comes after them. */
async function handled(peer: Peer, c: Coordinator): Promise<void> {
  peer.send(c.port, '/coordinator/status', s('after'));
  await peer.next('/coordinator/reply');
}

/** An IPv4 address of this host that is not loopback, if it has one. */
function offHostAddress(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((address) => address?.family === 'IPv4' && !address.internal)?.address;
}

const sweeping = (more: object = {}) => ({ sweepPorts: [{ low: SHARED, high: SHARED, step: 1 }, SCANNED], ...more });

describe('instances the coordinator never heard from', () => {
  it('asked before it started: every one found at its response port and verified, shared port or not', async () => {
    const port = await freeUdpPort();
    const shared = await deployed(12, port);
    const scanned = await deployed(3, port, { prefix: 'fixed', juceBug: false });
    expect(scanned.map((p) => p.responsePortBound)).toEqual([SCANNED.low, SCANNED.low + 100, SCANNED.low + 200]);
    // Their one request each goes nowhere: nothing listens yet.
    await Promise.all([...shared, ...scanned].map((plugin) => plugin.sendRequest()));

    const c = await testCoordinator(POOL, { port, ...sweeping() });
    await allVerified(c, [...shared, ...scanned]);
    expect(c.stats().counters).toMatchObject({ requests: 0, instancesAdopted: 15, bindingsAdopted: 0 });
  });

  it('20 on one shared response port converge at the plugin pace (N x 50 ms), not one per sweep', async () => {
    const port = await freeUdpPort();
    const plugins = await deployed(20, port);
    const startedAt = performance.now();
    // The periodic sweep alone would take 20 x 5 s: each instance must be asked for as soon as the one before moved off.
    const c = await testCoordinator(POOL, { port, ...sweeping({ sweepIntervalMs: 5000 }) });
    await allVerified(c, plugins);
    const elapsed = performance.now() - startedAt;
    expect(elapsed).toBeLessThan(20 * 50 + 1500);
    // One question per instance, and one more when the last has left and nobody answers.
    expect(c.stats().counters.sweepsSent).toBeLessThanOrEqual(20 + 2);
    expect(c.stats().counters.instancesAdopted).toBe(20);
  });

  it('a reopened project: a restored lease whose instance waits at its response port gets its old port back, checked free first', async () => {
    const dataDir = testDataDir('sweeps');
    const port = await freeUdpPort();
    const first = await testCoordinator(POOL, { port, dataDir });
    const [before] = await deployed(1, port, { prefix: 'track' });
    before!.sendRequest();
    const [oldPort] = await allVerified(first, [before!]);
    await first.close();
    await before!.close();

    // The project is opened again before the coordinator: the same instance asks into the void.
    const [again] = await deployed(1, port, { prefix: 'track' });
    await again!.sendRequest();
    const second = await testCoordinator(POOL, { port, dataDir, ...sweeping() });
    expect(await again!.whenVerified()).toBe(oldPort);
    expect(second.stats().counters).toMatchObject({ instancesAdopted: 1, expiries: 0, steals: 0 });
  });
});

describe('bindings the coordinator does not know', () => {
  it('the journal deleted under 8 live instances: all 8 bound again on their own ports, with no assignment sent', async () => {
    const dataDir = testDataDir('sweeps');
    const port = await freeUdpPort();
    const first = await testCoordinator(POOL, { port, dataDir });
    const plugins = await deployed(8, port);
    for (const plugin of plugins) plugin.sendRequest();
    const ports = await allVerified(first, plugins);
    await first.close();
    rmSync(join(dataDir, 'leases.jsonl'));

    const second = await testCoordinator(POOL, { port, dataDir, livenessIntervalMs: 300, probeTimeoutMs: 50, livenessProbes: 2 });
    const bound = boundCount(second, 8);
    expect(second.leases.size).toBe(0);
    expect([...(await bound).entries()].sort()).toEqual(plugins.map((p, n) => [p.tempId, ports[n]]).sort());
    expect(plugins.map((p) => p.port)).toEqual(ports);
    expect(second.stats().counters).toMatchObject({ bindingsAdopted: 8, assignments: 0, requests: 0 });

    // From there each lives like any lease: one that goes away is found out by its liveness checks.
    const expired = new Promise<string>((resolve) => second.leases.once('expired', ({ tempId }) => resolve(tempId)));
    await plugins[3]!.close();
    expect(await expired).toBe(plugins[3]!.tempId);
    expect(second.leases.holderOf(ports[3]!)).toBeUndefined();
    expect(second.stats().leases.bound).toBe(7);
  });
});

describe('what a sweep may never do', () => {
  it('a bound instance never receives an assignment because of a sweep, whoever answers in its name', async () => {
    const c = await testCoordinator(POOL, sweeping({ sweepIntervalMs: 20 }));
    const [plugin] = await deployed(1, c.port);
    plugin!.sendRequest();
    const [port] = await allVerified(c, [plugin!]);
    const { assignments, instancesAdopted } = c.stats().counters;

    // Once it has left the shared port, something there answers every sweep with the bound instance's tempID.
    const liar = await Peer.bind(SHARED);
    cleanups.push(() => liar.close());
    for (let n = 0; n < 3; n++) {
      const nonce = (await liar.next(ADDRESS.query_rms)).message.args[0]!.value as string;
      liar.send(c.port, ADDRESS.rms_response, s(nonce), s(plugin!.tempId), f(0));
    }
    await handled(liar, c);
    expect(plugin!.port).toBe(port);
    expect(c.leases.view(plugin!.tempId)).toMatchObject({ state: 'bound', port });
    expect(c.stats().counters).toMatchObject({ assignments, instancesAdopted });
    expect(liar.pending().filter((r) => r.message.address === ADDRESS.port_assignment)).toEqual([]);
  });

  it('answers cannot fill the table: a port that names a new instance at every sweep is capped like any endpoint', async () => {
    const c = await testCoordinator(POOL, sweeping({ sweepIntervalMs: 20, maxWaitingPerEndpoint: 3 }));
    const liar = await Peer.bind(SHARED);
    cleanups.push(() => liar.close());
    for (let n = 0; n < 6; n++) {
      const nonce = (await liar.next(ADDRESS.query_rms)).message.args[0]!.value as string;
      liar.send(c.port, ADDRESS.rms_response, s(nonce), s(`fake-${n}`), f(0));
    }
    // The 4th onwards are refused at the liar's port, as a request would be.
    await liar.next(ADDRESS.port_error);
    expect(c.leases.size).toBe(3);
    expect(c.stats().counters).toMatchObject({ instancesAdopted: 3 });
    expect(c.stats().counters.busy).toBeGreaterThan(0);
  });

  it.skipIf(offHostAddress() === undefined)('an answer from off the host, even with the right nonce, is nobody a lease is taken for', async () => {
    const c = await testCoordinator(POOL, sweeping({ host: '0.0.0.0', sweepIntervalMs: 20 }));
    const listener = await Peer.bind(SHARED);
    const remote = await Peer.bind(0, { host: offHostAddress()! });
    cleanups.push(() => listener.close(), () => remote.close());
    const nonce = (await listener.next(ADDRESS.query_rms)).message.args[0]!.value as string;
    await new Promise<void>((resolve) =>
      remote.socket.send(encodeMessage({ address: ADDRESS.rms_response, args: [s(nonce), s('remote'), f(0)] }), c.port, offHostAddress()!, () => resolve()),
    );
    await handled(listener, c);
    expect(c.leases.size).toBe(0);
    expect(c.stats().counters.instancesAdopted).toBe(0);
  });

  it('a forged answer, with a nonce no sweep sent, changes nothing', async () => {
    const c = await testCoordinator(POOL, sweeping({ sweepIntervalMs: 20 }));
    const liar = await Peer.bind(SHARED);
    cleanups.push(() => liar.close());
    await liar.next(ADDRESS.query_rms);
    for (let n = 0; n < 20; n++) liar.send(c.port, ADDRESS.rms_response, s(`guess-${n}`), s(`forged-${n}`), f(0));
    await handled(liar, c);
    expect(c.leases.size).toBe(0);
    expect(c.stats().counters).toMatchObject({ instancesAdopted: 0, unmatchedAnswers: 20 });
  });
});
