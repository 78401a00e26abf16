import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

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
