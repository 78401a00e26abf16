import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freshDataDir, oscport } from '../helpers/cli.js';
import { freeUdpPort } from '../helpers/ports.js';

/** 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never an address of any machine. */
const NOT_LOCAL = '192.0.2.1';

describe('oscport start, when it cannot start', () => {
  it('says why once, on stderr, in words: a data directory a file stands in the way of, exit 1', async () => {
    const dir = freshDataDir();
    const blocked = join(dir, 'leases');
    writeFileSync(blocked, '');
    const result = await oscport(['start', '--port', String(await freeUdpPort()), '--data-dir', blocked]);
    expect(result).toEqual({ code: 1, stdout: '', stderr: `oscport: cannot create the data directory ${blocked}: a file of that name is in the way\n` });
  });

  it.each([
    ['an address of another machine', NOT_LOCAL, `${NOT_LOCAL} is not an address of this machine`],
    ['an IPv6 address', '::1', '"::1" is not an IPv4 address'],
    ['a name that resolves to nothing', 'nosuch.invalid', '"nosuch.invalid" is neither an IPv4 address nor a known host name'],
  ])('takes a --host it cannot bind, %s, as a usage error (exit 2) naming the flag', async (_, host, reason) => {
    const result = await oscport(['start', '--host', host, '--port', String(await freeUdpPort()), '--data-dir', freshDataDir()]);
    expect(result).toEqual({ code: 2, stdout: '', stderr: `oscport: --host: ${reason}\n` });
  });

  it('names the variable or the config file that gave the host', async () => {
    const dataDir = freshDataDir();
    const fromEnv = await oscport(['start', '--data-dir', dataDir], { OSCPORT_HOST: NOT_LOCAL });
    expect(fromEnv).toEqual({ code: 2, stdout: '', stderr: `oscport: OSCPORT_HOST: ${NOT_LOCAL} is not an address of this machine\n` });
    const config = join(dataDir, 'oscport.yaml');
    writeFileSync(config, `host: ${NOT_LOCAL}\n`);
    const fromFile = await oscport(['start', '--config', config, '--data-dir', dataDir]);
    expect(fromFile).toEqual({ code: 2, stdout: '', stderr: `oscport: config file ${config}: host: ${NOT_LOCAL} is not an address of this machine\n` });
  });
});

describe('the commands that talk to a coordinator, with none there', () => {
  it.each([
    [['status']],
    [['leases']],
    [['leases', '--json']],
    [['probe', '9005']],
    [['release', 'plugin-1']],
    [['atlas']],
    [['send', 'plugin-1', '/aiplayer/stop_tone']],
    [['calibrate-rms']],
    [['tail']],
  ])('oscport %j says so within seconds, not a timeout later, exit 1', async (args) => {
    const port = await freeUdpPort();
    const started = performance.now();
    const result = await oscport([...args, '--coordinator', `127.0.0.1:${port}`]);
    // The retry schedule itself (100, 200, 400 ms) is checked to the millisecond in simulated time; this bound only
    // catches a wait of the probe timeout's order (15 s), on however loaded a machine.
    expect(performance.now() - started).toBeLessThan(5000);
    expect(result).toEqual({ code: 1, stdout: '', stderr: `oscport: no coordinator answering on 127.0.0.1:${port}\n` });
  });

  it('oscport who says so within seconds and still answers for the port, exit 0', async () => {
    const port = await freeUdpPort();
    const started = performance.now();
    const result = await oscport(['who', String(port), '--coordinator', `127.0.0.1:${port}`]);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(result).toEqual({
      code: 0,
      stdout: `no local process holds UDP port ${port}\ncoordinator: no coordinator answering on 127.0.0.1:${port}\n`,
      stderr: '',
    });
  });
});

describe('a port out of range is a usage error (exit 2) whichever command is given it', () => {
  it.each([['release'], ['probe'], ['who']])('oscport %s 70000', async (command) => {
    const result = await oscport([command, '70000', '--coordinator', `127.0.0.1:${await freeUdpPort()}`]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('70000 is outside 1-65535');
  });
});
