import { once } from 'node:events';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { requestPort, type SdkLease } from '../../src/sdk/request-port.js';
import { ADDRESS } from '../../src/osc/contract.js';
import { formatRecord, JournalError } from '../../src/leases/persistence/journal.js';
import { RANGES, testCoordinator } from '../helpers/coordinator.js';
import { collectLogs } from '../helpers/logs.js';
import { ManualPlugin } from '../helpers/manual-plugin.js';
import { i, Peer, s } from '../helpers/peer.js';
import { freeUdpPort } from '../helpers/ports.js';
import { testDataDir } from '../helpers/temp-dir.js';

const RANGE = RANGES.persistence;
const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function lease(tempId: string, port: number): Promise<SdkLease> {
  const l = await requestPort({ tempId, coordinator: { host: '127.0.0.1', port } });
  closers.push(() => l.release());
  return l;
}

async function plugin(tempId: string, port: number): Promise<ManualPlugin> {
  const p = await ManualPlugin.create(tempId, port);
  closers.push(() => p.close());
  return p;
}


const FAST = { probeTimeoutMs: 40, probeAttempts: 2 };

describe('leases across restarts', () => {
  it('a live instance keeps its port after a restart; a dead one is reclaimed; an unconfirmed offer is dropped', async () => {
    const dir = testDataDir('persist');
    const first = await testCoordinator(RANGE, { ...FAST, dataDir: dir });
    const port = first.port;
    const alive = await lease('alive', port);
    const dead = await plugin('dead', port);
    const deadPort = await dead.handshake();
    await expect.poll(() => first.leases.view('dead')?.state).toBe('bound');
    const pending = await Peer.bind();
    closers.push(() => pending.close());
    pending.send(port, ADDRESS.request_port, s('unconfirmed'), i(-1));
    const offered = (await pending.next(ADDRESS.port_assignment)).message.args[1]!.value as number;
    await first.close();
    dead.answering = false;

    const second = await testCoordinator(RANGE, { ...FAST, dataDir: dir, port });
    expect(second.leases.view('alive')).toMatchObject({ state: 'verifying', port: alive.port });
    expect(second.leases.holderOf(alive.port)).toBe('alive');
    const expired = once(second.leases, 'expired');
    await expect.poll(() => second.leases.view('alive')?.state).toBe('bound');
    expect(second.leases.view('alive')?.port).toBe(alive.port);
    expect(await expired).toEqual([{ tempId: 'dead' }]);
    expect(second.leases.holderOf(deadPort)).toBeUndefined();
    expect(second.leases.view('unconfirmed')).toBeUndefined();
    expect(second.leases.pool.stateOf(offered)).toBe('free');
    expect(second.stats().leases.bound).toBe(1);
  });

  it('a tempID seen in an earlier session gets its old port back', async () => {
    const dir = testDataDir('persist');
    const first = await testCoordinator(RANGE, { dataDir: dir });
    const port = first.port;
    const before = await requestPort({ tempId: 'regular', coordinator: { host: '127.0.0.1', port } });
    await before.release();
    await expect.poll(() => first.leases.view('regular')).toBeUndefined();
    await first.close();

    const second = await testCoordinator(RANGE, { dataDir: dir, port });
    await lease('newcomer', port);
    const after = await lease('regular', port);
    expect(after.port).toBe(before.port);
    await expect.poll(() => second.stats().leases.bound).toBe(2);
  });

  it('restores past a torn last line, and the restored lease is verified by probe', async () => {
    const dir = testDataDir('persist');
    const coordinatorPort = await freeUdpPort();
    const survivor = await plugin('survivor', coordinatorPort);
    const port = RANGE[0] + 40;
    await survivor.bind(port);
    const record = {
      tempId: 'survivor',
      port,
      endpoint: { host: '127.0.0.1', port: survivor.sender.port },
      host: '127.0.0.1',
      trackId: 'TR7',
      boundAt: Date.now(),
      lastSeen: Date.now(),
    };
    const torn = formatRecord({ op: 'put', lease: { ...record, tempId: 'half', port: port + 1 }, at: Date.now() }).slice(0, 30);
    writeFileSync(join(dir, 'leases.jsonl'), `{"oscport":"leases","v":1}\n${formatRecord({ op: 'put', lease: record, at: Date.now() })}${torn}`);

    const { lines, logger } = collectLogs();
    const c = await testCoordinator(RANGE, { dataDir: dir, port: coordinatorPort, logger });
    await expect.poll(() => c.leases.view('survivor')?.state).toBe('bound');
    expect(c.leases.view('survivor')).toMatchObject({ port, trackId: 'TR7' });
    expect(c.leases.view('half')).toBeUndefined();
    expect(lines.some((l) => /torn/.test(l.msg))).toBe(true);
    // Compacted since: every line whole JSON, nothing of the torn record left.
    const text = readFileSync(join(dir, 'leases.jsonl'), 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    for (const line of text.trimEnd().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
    expect(text).not.toContain('"half"');
  });

  it('a corrupt journal is reported with its path and moved aside, and what is valid in it is restored', async () => {
    const dir = testDataDir('persist');
    const coordinatorPort = await freeUdpPort();
    const keeper = await plugin('keeper', coordinatorPort);
    const port = RANGE[0] + 50;
    await keeper.bind(port);
    const record = { tempId: 'keeper', port, endpoint: null, host: '127.0.0.1', trackId: null, boundAt: 1, lastSeen: 1 };
    const original = `{"oscport":"leases","v":1}\nthis line is not JSON\n${formatRecord({ op: 'put', lease: record, at: 1 })}`;
    const path = join(dir, 'leases.jsonl');
    writeFileSync(path, original);

    const { lines, logger } = collectLogs();
    const c = await testCoordinator(RANGE, { dataDir: dir, port: coordinatorPort, logger });
    const warning = lines.find((l) => l.level === 40 && /corrupt/.test(l.msg));
    expect(warning?.msg).toContain(path);
    const aside = readdirSync(dir).filter((name) => name.startsWith('leases.jsonl.corrupt-'));
    expect(aside).toHaveLength(1);
    expect(readFileSync(join(dir, aside[0]!), 'utf8')).toBe(original);
    await expect.poll(() => c.leases.view('keeper')?.state).toBe('bound');
  });

  it('refuses a data directory another running coordinator holds', async () => {
    const dir = testDataDir('persist');
    await testCoordinator(RANGE, { dataDir: dir });
    await expect(testCoordinator(RANGE, { dataDir: dir })).rejects.toBeInstanceOf(JournalError);
    await expect(testCoordinator(RANGE, { dataDir: dir })).rejects.toThrow(`PID ${process.pid}`);
  });
});
