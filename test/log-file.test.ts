import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, freshDataDir, oscport } from './helpers/cli.js';
import { freeUdpPort } from './helpers/ports.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as { msg: string }) : []);

describe('oscport start --log-file', () => {
  it('appends JSON lines to the file and opens it again on SIGHUP, as logrotate needs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oscport-log-'));
    dirs.push(dir);
    const file = join(dir, 'logs', 'oscport.log');
    const child = spawn(process.execPath, [CLI, 'start', '--port', String(await freeUdpPort()), '--data-dir', freshDataDir(), '--log-file', file], { stdio: 'ignore' });
    const exited = once(child, 'exit');
    try {
      await expect.poll(() => lines(file).map((line) => line.msg), { timeout: 5000 }).toContain('coordinator listening');
      renameSync(file, `${file}.1`);
      child.kill('SIGHUP');
      await expect.poll(() => lines(file).map((line) => line.msg), { timeout: 5000 }).toEqual(['log file reopened']);
      expect(lines(`${file}.1`).map((line) => line.msg)).toContain('coordinator listening');
    } finally {
      child.kill('SIGTERM');
    }
    expect((await exited)[0]).toBe(0);
    expect(lines(file).map((line) => line.msg)).toContain('coordinator stopped');
  });

  it('a log file that cannot be written stops the start, naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oscport-log-'));
    dirs.push(dir);
    // A directory where the log file should be: it cannot be opened as a file.
    const file = join(dir, 'taken');
    mkdirSync(file);
    const result = await oscport(['start', '--port', String(await freeUdpPort()), '--data-dir', freshDataDir(), '--log-file', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot write the log file ${file}: it is a directory`);
  });

  // Node 20's own recursive mkdir loops forever there: oscport makes directories itself.
  it.skipIf(process.platform !== 'linux')('a log file or data directory where no directory can be made fails at once, not forever', async () => {
    const log = await oscport(['start', '--port', String(await freeUdpPort()), '--data-dir', freshDataDir(), '--log-file', '/proc/oscport/no.log']);
    expect(log).toMatchObject({ code: 1, stderr: 'oscport: cannot write the log file /proc/oscport/no.log: its directory cannot be made\n' });
    const data = await oscport(['start', '--port', String(await freeUdpPort()), '--data-dir', '/proc/oscport/data']);
    expect(data).toMatchObject({ code: 1, stderr: 'oscport: cannot create the data directory /proc/oscport/data: no such file or directory\n' });
  });
});
