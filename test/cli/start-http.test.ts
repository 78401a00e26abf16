import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, freshDataDir, oscport } from '../helpers/cli.js';
import { RANGES } from '../helpers/coordinator.js';
import { ask } from '../helpers/http.js';
import { freeUdpPort } from '../helpers/ports.js';

const children: ChildProcess[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

// The last 20 ports of the HTTP files' range: the other files take the rest.
const POOL = `${RANGES.http[1] - 19}-${RANGES.http[1]}`;

/** A TCP port held by this process: listening on it, or just found free. */
async function tcpPort(keep: boolean): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const { port } = server.address() as { port: number };
  if (keep) servers.push(server);
  else await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `oscport start` in the background; resolves once it logs that it is listening, with what it said on stderr by then. */
async function startDaemon(args: string[]) {
  const child = spawn(process.execPath, [CLI, 'start', '--data-dir', freshDataDir(), '--port', String(await freeUdpPort()), '--pool', POOL, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += String(chunk)));
  for await (const line of createInterface({ input: child.stdout! })) {
    const entry = JSON.parse(line) as { msg: string; http?: string | null };
    if (entry.msg === 'coordinator listening') return { child, logged: entry, stderr: () => stderr };
  }
  throw new Error(`oscport start exited before listening: ${stderr}`);
}

/** TCP ports a process listens on, from /proc (Linux). */
function listeningTcpPorts(pid: number): number[] {
  const inodes = new Set(
    readdirSync(`/proc/${pid}/fd`)
      .map((fd) => /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`, { encoding: 'utf8' }))?.[1])
      .filter((inode) => inode !== undefined),
  );
  return ['tcp', 'tcp6'].flatMap((table) =>
    readFileSync(`/proc/net/${table}`, 'utf8')
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      // State 0A is LISTEN.
      .filter((fields) => fields[3] === '0A' && inodes.has(fields[9]!))
      .map((fields) => Number.parseInt(fields[1]!.split(':')[1]!, 16)),
  );
}

describe('oscport start and its HTTP server [PROTOCOL §17]', () => {
  it('prints the view, OSCQuery and metrics URLs on stderr, and serves them', async () => {
    const port = await tcpPort(false);
    const daemon = await startDaemon(['--http-port', String(port)]);
    const base = `http://127.0.0.1:${port}`;
    await expect.poll(daemon.stderr).toContain('metrics');
    expect(daemon.stderr()).toBe(`view      ${base}/view\nOSCQuery  ${base}/\nmetrics   ${base}/metrics\n`);
    expect(daemon.logged.http).toBe(base);
    const metrics = await ask(port, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/^oscport_datagrams_total \d+$/m);
    expect((await ask(port, '/view')).headers['content-type']).toBe('text/html; charset=utf-8');
  });

  it('--http-port off prints no URL and listens on no TCP port', async () => {
    const daemon = await startDaemon(['--http-port', 'off']);
    expect(daemon.logged.http).toBeNull();
    // The start lines would follow the log line at once; a status round trip later, none came.
    expect((await oscport(['status', '--json', '-c', `127.0.0.1:${(daemon.logged as { port?: number }).port}`])).code).toBe(0);
    expect(daemon.stderr()).toBe('');
    if (process.platform === 'linux') expect(listeningTcpPorts(daemon.child.pid!)).toEqual([]);
  });

  it('exits 1 when the HTTP port is taken, naming the TCP port and its holder, once, with nothing on stdout', async () => {
    const taken = await tcpPort(true);
    const started = Date.now();
    const result = await oscport(['start', '--data-dir', freshDataDir(), '--port', String(await freeUdpPort()), '--pool', POOL, '--http-port', String(taken)]);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`TCP 127.0.0.1:${taken} (the HTTP server) is already in use`);
    expect(result.stderr).toContain('--http-port');
    if (process.platform === 'linux') expect(result.stderr).toContain(`PID ${process.pid}`);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stdout).toBe('');
  });

  it('takes --http-port and --dnssd as the settings table says, rejecting what they cannot be', async () => {
    const bad = await oscport(['start', '--http-port', 'sometimes']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--http-port.*sometimes/);
    const badDnssd = await oscport(['start', '--dnssd', 'maybe']);
    expect(badDnssd.code).toBe(2);
    expect(badDnssd.stderr).toMatch(/--dnssd.*maybe.*on, off/);
    const printed = await oscport(['start', '--print-config', '--http-port', 'off', '--dnssd', 'off']);
    expect(printed.stdout).toMatch(/httpPort: off/);
    expect(printed.stdout).toMatch(/dnssd: off/);
  });
});
