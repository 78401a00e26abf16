import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';
import { hasCommand } from '../helpers/system.js';

/** deploy/: the systemd user unit and the launchd agent, as the install lines in their headers make them. */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);
const UNIT = readFileSync(join(ROOT, 'deploy/oscport.service'), 'utf8');
const PLIST = readFileSync(join(ROOT, 'deploy/com.oscport.coordinator.plist'), 'utf8');

/** The install line's `sed` (from the file's own header comment), run in the checkout with `bindir` and `HOME` set. */
async function installed(text: string, bindir: string, home: string): Promise<string> {
  const lines = text.split('\n');
  let line = lines.findIndex((l) => /\bsed -e /.test(l));
  expect(line, 'no sed install line in the header').toBeGreaterThanOrEqual(0);
  let command = '';
  for (;;) {
    const part = lines[line++]!.replace(/^#?\s*/, '');
    if (!part.endsWith('\\')) {
      command += part;
      break;
    }
    command += `${part.slice(0, -1)} `;
  }
  // Up to its output redirection, which is the user's file.
  command = command.replace(/ > \S+$/, '');
  expect(command).toMatch(/^sed -e .* deploy\/\S+$/);
  return (await run('sh', ['-c', command], { cwd: ROOT, env: { ...process.env, bindir, HOME: home } })).stdout;
}

/** The flags a service passes to `oscport start`, checked by the CLI itself (--print-config exits 0 on good ones). */
async function startAccepts(flags: string[]): Promise<void> {
  const { stdout } = await run(process.execPath, [CLI, 'start', ...flags, '--print-config']);
  expect(stdout).toMatch(/^port: 9001/m);
}

describe('deploy/oscport.service (systemd --user)', () => {
  it('runs the global oscport start, restarts it on failure but not on a usage error, reloads with SIGHUP', () => {
    expect(UNIT).toMatch(/^ExecStart=\/usr\/local\/bin\/oscport start$/m);
    expect(UNIT).toMatch(/^Restart=on-failure$/m);
    expect(UNIT).toMatch(/^RestartPreventExitStatus=2$/m);
    expect(UNIT).toMatch(/^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    expect(UNIT).toMatch(/^WantedBy=default\.target$/m);
  });

  it('the install line writes in where oscport is, and puts that folder first on PATH', async () => {
    const unit = await installed(UNIT, '/home/u/.nvm/versions/node/v20/bin', '/home/u');
    expect(unit).toMatch(/^ExecStart=\/home\/u\/\.nvm\/versions\/node\/v20\/bin\/oscport start$/m);
    expect(unit).toMatch(/^Environment=PATH=\/home\/u\/\.nvm\/versions\/node\/v20\/bin:\/usr\/local\/bin:\/usr\/bin:\/bin$/m);
  });

  it.skipIf(!hasCommand('systemd-analyze'))('systemd-analyze verify accepts the installed unit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oscport-unit-'));
    try {
      mkdirSync(join(dir, 'bin'));
      writeFileSync(join(dir, 'bin/oscport'), '#!/bin/sh\n');
      chmodSync(join(dir, 'bin/oscport'), 0o755);
      writeFileSync(join(dir, 'oscport.service'), await installed(UNIT, join(dir, 'bin'), dir));
      const { stderr } = await run('systemd-analyze', ['verify', join(dir, 'oscport.service')]);
      expect(stderr).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('deploy/com.oscport.coordinator.plist (launchd)', () => {
  const strings = (key: string, text = PLIST) =>
    [...(text.match(new RegExp(`<key>${key}</key>\\s*<array>([\\s\\S]*?)</array>`))?.[1] ?? '').matchAll(/<string>(.*?)<\/string>/g)].map((m) => m[1]);

  it('is well-formed enough for launchd: no "--" inside a comment, every key followed by a value', () => {
    for (const [, comment] of PLIST.matchAll(/<!--([\s\S]*?)-->/g)) expect(comment).not.toContain('--');
    const body = PLIST.replace(/<!--[\s\S]*?-->/g, '');
    expect(body).toMatch(/^<\?xml version="1\.0" encoding="UTF-8"\?>\n<!DOCTYPE plist/);
    expect(body.match(/<key>/g)!.length).toBe(body.match(/<\/key>\s*<(string|integer|true\/|false\/|dict|array)>/g)!.length);
  });

  it('runs the global oscport start at login, and again only after a failure', () => {
    expect(strings('ProgramArguments').slice(0, 2)).toEqual(['/usr/local/bin/oscport', 'start']);
    expect(PLIST).toMatch(/<key>RunAtLoad<\/key>\s*<true\/>/);
    expect(PLIST).toMatch(/<key>KeepAlive<\/key>\s*<dict>\s*<key>SuccessfulExit<\/key>\s*<false\/>/);
  });

  it('the install line writes in the home folder and where oscport is', async () => {
    const plist = await installed(PLIST, '/opt/homebrew/bin', '/Users/ada');
    expect(strings('ProgramArguments', plist)).toEqual(['/opt/homebrew/bin/oscport', 'start', '--log-file', '/Users/ada/Library/Logs/oscport/oscport.log']);
    expect(plist).toMatch(/<key>PATH<\/key>\s*<string>\/opt\/homebrew\/bin:\/usr\/local\/bin:\/usr\/bin:\/bin<\/string>/);
    expect(plist).not.toContain('/Users/YOU');
  });

  it('passes flags oscport start takes', async () => {
    await startAccepts(strings('ProgramArguments').slice(2) as string[]);
  });
});
