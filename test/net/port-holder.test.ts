import dgram from 'node:dgram';
import { createServer } from 'node:net';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, expect } from 'vitest';
import { describeHolders, findTcpPortHolders, findUdpPortHolders, parseProcNetUdp, shownCommand } from '../../src/net/port-holder.js';

const UDP4_HEADER =
  '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            ';
const UDP6_HEADER =
  '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops';

const PROC_NET_UDP = [
  UDP4_HEADER,
  ' 9170: 0100007F:2329 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 11111 2 000000007b9b7818 0          ',
  ' 9171: 00000000:2329 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 22222 2 000000007b9b7819 0          ',
  ' 9172: 0100007F:232A 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 33333 2 000000007b9b781a 0          ',
  // Inode 0: a socket already torn down, owned by no fd.
  ' 9173: 0100007F:2329 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 0 2 000000007b9b781b 0          ',
  '',
].join('\n');

const PROC_NET_UDP6 = [
  UDP6_HEADER,
  '11379: 00000000000000000000000001000000:2329 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 44444 2 0000000012d37eeb 0',
  '11380: 00000000000000000000000000000000:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 55555 2 0000000012d37eec 0',
  '',
].join('\n');

function bindUdp4(): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve(socket));
  });
}

function close(socket: dgram.Socket): Promise<void> {
  return new Promise((resolve) => socket.close(() => resolve()));
}

describe('parseProcNetUdp', () => {
  it('returns the inodes of sockets bound to the port, on any address', () => {
    expect(parseProcNetUdp(PROC_NET_UDP, 9001)).toEqual(['11111', '22222']);
    expect(parseProcNetUdp(PROC_NET_UDP, 9002)).toEqual(['33333']);
  });

  it('reads udp6 lines with 32-hex-digit addresses', () => {
    expect(parseProcNetUdp(PROC_NET_UDP6, 9001)).toEqual(['44444']);
    expect(parseProcNetUdp(PROC_NET_UDP6, 53)).toEqual(['55555']);
  });

  it('finds nothing for an unused port, a header alone, or empty text', () => {
    expect(parseProcNetUdp(PROC_NET_UDP, 1234)).toEqual([]);
    expect(parseProcNetUdp(UDP4_HEADER, 0)).toEqual([]);
    expect(parseProcNetUdp('', 9001)).toEqual([]);
  });
});

describe('describeHolders', () => {
  it('formats each holder as PID and command', () => {
    expect(describeHolders([{ pid: 1234, command: 'node server.js' }])).toBe('PID 1234 (node server.js)');
    expect(
      describeHolders([
        { pid: 1234, command: 'node server.js' },
        { pid: 5678, command: 'Reaper' },
      ]),
    ).toBe('PID 1234 (node server.js), PID 5678 (Reaper)');
  });

  it('gives "" for no holders', () => {
    expect(describeHolders([])).toBe('');
  });
});

describe('findUdpPortHolders', () => {
  it.skipIf(process.platform === 'win32')('finds this process holding a bound socket', async () => {
    const socket = await bindUdp4();
    try {
      const holders = await findUdpPortHolders(socket.address().port);
      const self = holders.find((holder) => holder.pid === process.pid);
      expect(self).toBeDefined();
      expect(self!.command).toMatch(/node/);
    } finally {
      await close(socket);
    }
  });

  it('returns [] for a port nobody holds', async () => {
    const socket = await bindUdp4();
    const port = socket.address().port;
    await close(socket);
    expect(await findUdpPortHolders(port)).toEqual([]);
  });

  it('reads a fixture /proc tree end to end', async () => {
    const procRoot = await mkdtemp(join(tmpdir(), 'port-holder-'));
    try {
      await mkdir(join(procRoot, 'net'));
      await writeFile(join(procRoot, 'net', 'udp'), PROC_NET_UDP.replace('11111', '12345'));
      // No udp6 file: a host without IPv6 must still answer.

      const holderDir = join(procRoot, '4242');
      await mkdir(join(holderDir, 'fd'), { recursive: true });
      await symlink('/dev/null', join(holderDir, 'fd', '0'));
      await symlink('socket:[12345]', join(holderDir, 'fd', '7'));
      await writeFile(join(holderDir, 'cmdline'), ['node', 'server.js', '--port', '9001', ''].join('\0'));

      // A process with an empty cmdline named only by comm, holding the wildcard socket.
      const kernelDir = join(procRoot, '17');
      await mkdir(join(kernelDir, 'fd'), { recursive: true });
      await symlink('socket:[22222]', join(kernelDir, 'fd', '3'));
      await writeFile(join(kernelDir, 'cmdline'), '');
      await writeFile(join(kernelDir, 'comm'), 'kworker\n');

      // Holds an unrelated socket; also has no cmdline or comm at all.
      const otherDir = join(procRoot, '99');
      await mkdir(join(otherDir, 'fd'), { recursive: true });
      await symlink('socket:[33333]', join(otherDir, 'fd', '3'));

      // Not a PID directory, must not be scanned.
      await mkdir(join(procRoot, 'self', 'fd'), { recursive: true });
      await symlink('socket:[12345]', join(procRoot, 'self', 'fd', '3'));

      expect(await findUdpPortHolders(9001, { procRoot })).toEqual([
        { pid: 17, command: 'kworker' },
        { pid: 4242, command: 'node server.js --port 9001' },
      ]);
      expect(await findUdpPortHolders(9002, { procRoot })).toEqual([{ pid: 99, command: '' }]);
      expect(await findUdpPortHolders(9003, { procRoot })).toEqual([]);
    } finally {
      await rm(procRoot, { recursive: true, force: true });
    }
  });

  it('returns [] when procRoot does not exist', async () => {
    expect(await findUdpPortHolders(9001, { procRoot: join(tmpdir(), 'port-holder-missing-dir') })).toEqual([]);
  });
});

describe('shownCommand', () => {
  it.each([
    [['/usr/bin/node', '/root/.npm/_npx/1a2b/node_modules/.bin/oscport', 'simulate', '-n', '8', '--hold'], 'oscport simulate -n 8 --hold'],
    [['node', '/home/me/oscport/dist/src/cli/main.js', 'start'], 'oscport start'],
    [['/usr/local/bin/nodejs', '/usr/lib/node_modules/oscport/node_modules/.bin/oscport', 'tail'], 'oscport tail'],
    [['/usr/bin/node', 'server.js'], '/usr/bin/node server.js'],
    [['ChattyChannels'], 'ChattyChannels'],
  ])('%j is shown as %j', (argv, shown) => {
    expect(shownCommand(argv)).toBe(shown);
  });
});

describe('findTcpPortHolders', () => {
  it.skipIf(process.platform === 'win32')('finds this process listening on a TCP port (the HTTP server\'s), and no UDP holder there', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const { port } = server.address() as { port: number };
    try {
      expect((await findTcpPortHolders(port)).map((holder) => holder.pid)).toContain(process.pid);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect(await findTcpPortHolders(port)).toEqual([]);
  });
});
