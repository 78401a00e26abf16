import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startCoordinator } from '../src/coordinator.js';

/**
 * 1000 instances (SDK clients, in a child process) ask for a port at once;
 * the time from the first request to the last verified binding (request,
 * assignment, confirmation, probe, answer: three exchanges each) is set beside
 * a raw dgram echo doing the same three exchanges per instance, in the same
 * run, so the ratio survives a noisy machine.
 * Usage: npm run bench [-- INSTANCES [ROUNDS]]
 */
const instances = Number(process.argv[2] ?? 1000);
const rounds = Number(process.argv[3] ?? 5);
const clients = fileURLToPath(new URL('./clients.js', import.meta.url));
const run = promisify(execFile);

async function clientRun(mode: 'echo' | 'handshake', port: number): Promise<number> {
  const { stdout } = await run(process.execPath, [clients, mode, String(port), String(instances)], { maxBuffer: 1 << 20 });
  return (JSON.parse(stdout) as { ms: number }).ms;
}

async function echoServer(): Promise<dgram.Socket> {
  const server = dgram.createSocket('udp4');
  server.on('message', (data, from) => server.send(data, from.port, from.address));
  await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
  server.setRecvBufferSize(8 * 1024 * 1024);
  return server;
}

/**
 * On the coordinator's clock: from the first request it received to the last
 * binding it verified (clients finish earlier, when their probe arrives).
 */
function verifiedSpan(count: number): Promise<number> {
  let first = Infinity;
  let seen = 0;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${seen} of ${count} verified`)), 30_000);
    const onBound = ({ handshakeMs }: { handshakeMs: number | undefined }) => {
      const now = performance.now();
      first = Math.min(first, now - (handshakeMs ?? 0));
      if (++seen < count) return;
      coordinator.assignments.off('bound', onBound);
      clearTimeout(timer);
      resolve(now - first);
    };
    coordinator.assignments.on('bound', onBound);
  });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const server = await echoServer();
// Leases journalled as `oscport start` does: persistence is part of what is measured.
const dataDir = mkdtempSync(join(tmpdir(), 'oscport-bench-'));
const coordinator = await startCoordinator({ port: 0, poolLow: 24000, poolHigh: 24000 + instances + 99, reserved: [], dataDir });
const echoMs: number[] = [];
const handshakeMs: number[] = [];
process.stderr.write(`oscport bench: ${instances} instances at once, ${rounds} rounds after a warm-up, node ${process.version}\n`);
// One round each to warm the JIT up, not counted.
await clientRun('echo', server.address().port);
const warmUp = verifiedSpan(instances);
await clientRun('handshake', coordinator.port);
await warmUp;
for (let round = 1; round <= rounds; round++) {
  echoMs.push(await clientRun('echo', server.address().port));
  const span = verifiedSpan(instances);
  await clientRun('handshake', coordinator.port);
  handshakeMs.push(await span);
  process.stderr.write(
    `  round ${round}/${rounds}: echo ${echoMs.at(-1)!.toFixed(1)} ms, handshake ${handshakeMs.at(-1)!.toFixed(1)} ms\n`,
  );
}
const echo = median(echoMs);
const handshake = median(handshakeMs);
const { counters } = coordinator.stats();
console.log(`raw dgram echo, ${instances} x 3 exchanges:        ${echo.toFixed(1)} ms (median of ${rounds})`);
console.log(`verified handshakes, ${instances} instances:       ${handshake.toFixed(1)} ms (median of ${rounds})`);
console.log(`ratio handshake / echo:                   ${(handshake / echo).toFixed(2)}x`);
console.log(`handshakes per second:                    ${Math.round((instances / handshake) * 1000)}`);
console.log(`coordinator: ${counters.bound} bound, ${counters.repeatedRequests} repeated requests, ${counters.malformed} malformed`);
await coordinator.close();
server.close();
rmSync(dataDir, { recursive: true, force: true });
