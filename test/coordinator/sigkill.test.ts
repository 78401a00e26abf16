import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { CoordinatorClient } from '../../src/cli/coordinator-client.js';
import { requestPort, type SdkLease } from '../../src/sdk/request-port.js';
import { CLI } from '../helpers/cli.js';
import { RANGES } from '../helpers/coordinator.js';
import { freeUdpPort } from '../helpers/ports.js';

const children: ChildProcess[] = [];
const leases: SdkLease[] = [];
let dir: string | undefined;
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  await Promise.all(leases.splice(0).map((l) => l.close()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** `oscport start` as its own process, resolved once it is listening. */
async function startCoordinator(port: number, dataDir: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [CLI, 'start', '--port', String(port), '--pool', `${RANGES.sigkill[0]}-${RANGES.sigkill[1]}`, '--data-dir', dataDir,
      '--probe-timeout', '150', '--probe-attempts', '2', '--assign-timeout', '300'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(child);
  for await (const line of createInterface({ input: child.stdout! })) {
    if ((JSON.parse(line) as { msg: string }).msg === 'coordinator listening') return child;
  }
  throw new Error('coordinator exited before listening');
}

describe('a coordinator killed mid-load', () => {
  it('SIGKILL during 200 handshakes, restart on the same data directory: the living keep their ports, the dead are reclaimed', async () => {
    dir = mkdtempSync(join(tmpdir(), 'oscport-sigkill-'));
    const port = await freeUdpPort();
    const coordinator = { host: '127.0.0.1', port };
    const first = await startCoordinator(port, dir);

    const verifiedBeforeKill = new Map<string, number>();
    let resolveHalf: () => void;
    const half = new Promise<void>((resolve) => (resolveHalf = resolve));
    const all = Array.from({ length: 200 }, (_, n) =>
      requestPort({ tempId: `load-${n}`, coordinator, timeoutMs: 30_000, retryMs: 200, keepaliveMs: 500 }).then((lease) => {
        leases.push(lease);
        if (first.exitCode === null && first.signalCode === null) verifiedBeforeKill.set(lease.tempId, lease.port);
        if (verifiedBeforeKill.size >= 100) resolveHalf();
        return lease;
      }),
    );
    await half;
    first.kill('SIGKILL');
    await once(first, 'exit');
    const keptBefore = new Map(verifiedBeforeKill);

    // Thirty instances that had their port die with the coordinator down: they never answer again.
    const deadIds = [...keptBefore.keys()].slice(0, 30);
    const dead = leases.filter((l) => deadIds.includes(l.tempId));
    await Promise.all(dead.map((l) => l.close()));

    await startCoordinator(port, dir);
    const everyone = await Promise.all(all);
    const alive = everyone.filter((l) => !deadIds.includes(l.tempId));
    expect(alive).toHaveLength(170);

    const admin = await CoordinatorClient.open(coordinator);
    try {
      // The dead expire after their re-verification probes go unanswered.
      await expect
        .poll(async () => (await admin.status()).leases, { timeout: 10_000 })
        .toMatchObject({ bound: 170, verifying: 0, requesting: 0, assigned: 0 });
      const table = await admin.leases();
      const byTempId = new Map(table.map((lease) => [lease.tempId, lease.port]));
      // No port held twice.
      expect(new Set(table.map((lease) => lease.port)).size).toBe(table.length);
      for (const lease of alive) expect(byTempId.get(lease.tempId), lease.tempId).toBe(lease.port);
      // Every instance verified before the kill and still answering kept its port.
      for (const [tempId, before] of keptBefore) if (!deadIds.includes(tempId)) expect(byTempId.get(tempId)).toBe(before);
      // The dead hold nothing.
      for (const tempId of deadIds) expect(byTempId.has(tempId)).toBe(false);
    } finally {
      await admin.close();
    }
  });
});
