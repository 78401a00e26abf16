import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** The built CLI, exactly what `npx oscport` runs (`npm test` builds first). */
export const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

const run = promisify(execFile);

/** Runs `oscport ...args` to completion: its exit code and output. */
export async function oscport(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** A data directory of its own for one coordinator: tests never share leases, nor touch the user's. */
export function freshDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'oscport-cli-'));
}
