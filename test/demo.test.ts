import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { hasCommand } from './helpers/system.js';

const DEMO = fileURLToPath(new URL('../dist/src/demo.js', import.meta.url));

describe('npm run demo', () => {
  it('brings up a coordinator, an Atlas simulator and 16 plugins, and shows each track with its meter level', { timeout: 30_000 }, async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [DEMO, '3']);
    const last = stdout.trimEnd().split('\n\n').at(-1)!.split('\n');
    expect(last[0]).toMatch(/^TEMPID\s+TRACK\s+PORT\s+STATE\s+METER\s+LEVEL$/);
    const rows = last.slice(1);
    expect(rows).toHaveLength(16);
    for (const [n, row] of rows.entries()) expect(row).toMatch(new RegExp(`\\sTR${n + 1}\\s+\\d+\\s+bound\\s+\\w+Meter_\\d\\s+[#.]{20} -?\\d+\\.\\d dB$`));
  });
});

describe('npm run demo on a terminal', () => {
  // util-linux's script(1) gives it a terminal, where the table is redrawn in place.
  it.skipIf(process.platform !== 'linux' || !hasCommand('script'))(
    'every redraw keeps the line naming the ports, and a time limit is said as such, not as "Ctrl-C to stop"',
    { timeout: 30_000 },
    async () => {
      const { stdout } = await promisify(execFile)('script', ['-qfec', `${process.execPath} ${DEMO} 2`, '/dev/null']);
      const screens = stdout.split('\x1b[H\x1b[2J').slice(1);
      expect(screens.length).toBeGreaterThan(0);
      for (const screen of screens) {
        expect(screen).toMatch(/^coordinator on 127\.0\.0\.1:\d+, Atlas simulator on 127\.0\.0\.1:\d+, meters on UDP \d+\r?\nweb view http:\/\/127\.0\.0\.1:\d+\/view\r?\n/);
        expect(screen).toMatch(/stops in \d s \(Ctrl-C to stop sooner\)/);
      }
    },
  );
});
