import { execFile } from 'node:child_process';
import { readdir, readFile, readlink } from 'node:fs/promises';

export interface PortHolder {
  pid: number;
  command: string;
}

const SCAN_CONCURRENCY = 64;
const MAX_COMMAND_LENGTH = 200;
const LSOF_TIMEOUT_MS = 2000;

type Transport = 'udp' | 'tcp';

/**
 * Processes holding local UDP `port`. Linux answers from /proc (no extra tools
 * needed); other platforms ask lsof. Never throws: returns [] when nothing is
 * found or the platform gives no answer.
 */
export function findUdpPortHolders(port: number, options: { procRoot?: string } = {}): Promise<PortHolder[]> {
  return findPortHolders('udp', port, options);
}

/** Processes holding local TCP `port` (the HTTP server's, a simulated Atlas processor's), found as UDP ones are. */
export function findTcpPortHolders(port: number, options: { procRoot?: string } = {}): Promise<PortHolder[]> {
  return findPortHolders('tcp', port, options);
}

/** Processes holding local `port` of `transport`, found as `findUdpPortHolders` finds them. */
async function findPortHolders(transport: Transport, port: number, options: { procRoot?: string } = {}): Promise<PortHolder[]> {
  try {
    // An explicit procRoot means a /proc-style tree is at hand, whatever the platform.
    const holders =
      options.procRoot !== undefined || process.platform === 'linux'
        ? await holdersFromProc(transport, port, options.procRoot ?? '/proc')
        : await holdersFromLsof(transport, port);
    return dedupeSortedByPid(holders);
  } catch {
    return [];
  }
}

/** Pure: inodes of sockets bound to local `port` in the text of /proc/net/udp or /proc/net/udp6 (tcp and tcp6 read the same). */
export function parseProcNetUdp(text: string, port: number): string[] {
  const inodes: string[] = [];
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const localAddress = fields[1];
    const inode = fields[9];
    if (localAddress === undefined || inode === undefined || inode === '0') continue;
    // The address part is 8 (IPv4) or 32 (IPv6) hex digits; the port follows the last colon.
    const hexPort = localAddress.slice(localAddress.lastIndexOf(':') + 1);
    if (Number.parseInt(hexPort, 16) === port) inodes.push(inode);
  }
  return inodes;
}

/** Pure: every local port some socket holds, in the text of /proc/net/udp or /proc/net/udp6. */
export function boundUdpPorts(text: string): Set<number> {
  const ports = new Set<number>();
  // Each line after the header: "  sl: ADDR:PORT REMOTE:PORT ...", the local port in hex after the first address.
  for (let start = text.indexOf('\n') + 1; start > 0 && start < text.length; ) {
    const end = text.indexOf('\n', start);
    const line = text.slice(start, end === -1 ? text.length : end);
    const colon = line.indexOf(':', line.indexOf(':') + 1);
    if (colon > 0) ports.add(Number.parseInt(line.slice(colon + 1, colon + 5), 16));
    start = end === -1 ? text.length : end + 1;
  }
  return ports;
}

/** Pure: "PID 1234 (node server.js)" joined with ", "; "" for none. */
export function describeHolders(holders: readonly PortHolder[]): string {
  return holders.map(({ pid, command }) => (command ? `PID ${pid} (${command})` : `PID ${pid}`)).join(', ');
}

async function holdersFromProc(transport: Transport, port: number, procRoot: string): Promise<PortHolder[]> {
  const tables = await Promise.all([transport, `${transport}6`].map((name) => readText(`${procRoot}/net/${name}`)));
  const wanted = new Set(tables.flatMap((text) => parseProcNetUdp(text, port)));
  if (wanted.size === 0) return [];

  const pids = (await readdir(procRoot)).filter((name) => /^\d+$/.test(name));
  const found = await mapBounded(pids, SCAN_CONCURRENCY, async (pid) =>
    (await holdsAnySocket(`${procRoot}/${pid}`, wanted)) ? { pid: Number(pid), command: await commandOf(`${procRoot}/${pid}`) } : null,
  );
  return found.filter((holder): holder is PortHolder => holder !== null);
}

async function holdsAnySocket(pidDir: string, inodes: ReadonlySet<string>): Promise<boolean> {
  // Other users' fd dirs are unreadable (EACCES) and processes exit mid-scan (ENOENT):
  // such entries simply hold nothing we can see.
  const fds = await readdir(`${pidDir}/fd`).catch(() => []);
  const targets = await Promise.all(fds.map((fd) => readlink(`${pidDir}/fd/${fd}`).catch(() => '')));
  return targets.some((target) => {
    const match = /^socket:\[(\d+)\]$/.exec(target);
    return match !== null && inodes.has(match[1]!);
  });
}

async function commandOf(pidDir: string): Promise<string> {
  const argv = (await readText(`${pidDir}/cmdline`)).split('\0').filter((arg) => arg !== '');
  // Kernel threads and zombies have an empty cmdline; comm still names them.
  return shownCommand(argv).slice(0, MAX_COMMAND_LENGTH) || (await readText(`${pidDir}/comm`)).trim();
}

/**
 * Pure: a command line as its user typed it. Node running oscport's entry (from npx's cache, a
 * global install or a clone) is shown as `oscport ...`, not as the path npx happened to use.
 */
export function shownCommand(argv: readonly string[]): string {
  const [program, script, ...rest] = argv;
  const isNode = program !== undefined && /(^|\/)node(js)?$/.test(program);
  const isOscport = script !== undefined && (/(^|\/)oscport$/.test(script) || /\/dist\/src\/cli\/main\.js$/.test(script));
  return (isNode && isOscport ? ['oscport', ...rest] : argv).join(' ');
}

function readText(path: string): Promise<string> {
  return readFile(path, 'utf8').catch(() => '');
}

function holdersFromLsof(transport: Transport, port: number): Promise<PortHolder[]> {
  return new Promise((resolve) => {
    execFile('lsof', ['-nP', `-i${transport.toUpperCase()}:${port}`, '-Fpc'], { timeout: LSOF_TIMEOUT_MS }, (error, stdout) => {
      // lsof exits 1 when nothing matches, so an error is just "no answer".
      resolve(error ? [] : parseLsofFields(stdout));
    });
  });
}

/** lsof -F output: a `p<pid>` line opens each process, a `c<command>` line names it. */
function parseLsofFields(text: string): PortHolder[] {
  const holders: PortHolder[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('p')) holders.push({ pid: Number(line.slice(1)), command: '' });
    else if (line.startsWith('c') && holders.length > 0) holders[holders.length - 1]!.command = line.slice(1);
  }
  return holders.filter((holder) => Number.isInteger(holder.pid) && holder.pid > 0);
}

function dedupeSortedByPid(holders: readonly PortHolder[]): PortHolder[] {
  const byPid = new Map(holders.map((holder) => [holder.pid, holder]));
  return [...byPid.values()].sort((a, b) => a.pid - b.pid);
}

/** Like Promise.all over `items.map(fn)`, but with at most `limit` calls in flight. */
async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
