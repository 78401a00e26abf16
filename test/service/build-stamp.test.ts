import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeEach, describe, expect, it } from 'vitest';

/**
 * scripts/build.mjs, which `npm start` runs first (--if-stale): it compiles only when a source is
 * newer than dist/.build-stamp, which `npm run build` leaves dated when the build began. Run here in a
 * small project of its own, so the checkout's dist is never touched.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

let project: string;

function write(path: string, text: string): void {
  mkdirSync(dirname(join(project, path)), { recursive: true });
  writeFileSync(join(project, path), text);
}

/** Sets a file's (or folder's) modification time, seconds from now. */
function age(path: string, secondsFromNow: number): void {
  const when = new Date(Date.now() + secondsFromNow * 1000);
  utimesSync(join(project, path), when, when);
}

/** Every file and folder of the project but dist/, scripts/ and node_modules/. */
function inputs(dir = ''): string[] {
  return readdirSync(join(project, dir), { withFileTypes: true })
    .filter((entry) => dir !== '' || !['dist', 'scripts', 'node_modules'].includes(entry.name))
    .flatMap((entry) => {
      const path = dir === '' ? entry.name : `${dir}/${entry.name}`;
      return entry.isDirectory() ? [path, ...inputs(path)] : [path];
    });
}

async function script(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [join(project, 'scripts/build.mjs'), ...args], { cwd: project });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeEach(() => {
  project = mkdtempSync(join(tmpdir(), 'oscport-build-stamp-'));
  mkdirSync(join(project, 'scripts'));
  copyFileSync(join(ROOT, 'scripts/build.mjs'), join(project, 'scripts/build.mjs'));
  // typescript, as the checkout has it.
  symlinkSync(join(ROOT, 'node_modules'), join(project, 'node_modules'), 'dir');
  write('package.json', '{ "name": "stamp-test", "type": "module", "bin": { "stamp-test": "dist/src/cli/main.js" } }\n');
  write('tsconfig.json', JSON.stringify({ compilerOptions: { target: 'ES2022', lib: ['ES2022'], types: [], skipLibCheck: true, module: 'NodeNext', strict: true, rootDir: '.', outDir: 'dist', noEmit: true } }));
  write('tsconfig.build.json', JSON.stringify({ extends: './tsconfig.json', compilerOptions: { noEmit: false }, include: ['src', 'machines'] }));
  write('src/a.ts', 'export const a: number = 1;\n');
  write('src/cli/main.ts', 'export const main = "cli";\n');
  write('src/index.ts', 'export const index = "index";\n');
  write('machines/m.ts', 'export const m = 2;\n');
  mkdirSync(join(project, 'bench'));
  write('protocol/messages.json', '{}\n');
  return () => rmSync(project, { recursive: true, force: true });
});

describe('the build stamp', () => {
  it('npm run build compiles and leaves a stamp; --if-stale then builds nothing until a source changes', async () => {
    expect(await script('--check')).toMatchObject({ code: 1, stdout: 'no build stamp (dist/.build-stamp)\n' });

    expect(await script()).toMatchObject({ code: 0 });
    expect(await script('--check')).toEqual({ code: 0, stdout: 'current\n', stderr: '' });

    // Current: nothing compiled, nothing said.
    const started = performance.now();
    expect(await script('--if-stale')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(performance.now() - started).toBeLessThan(2000);

    // A source saved after the build: the next start compiles it.
    age('dist/.build-stamp', -10);
    write('src/a.ts', 'export const a: number = 3;\n');
    expect(await script('--check')).toMatchObject({ code: 1, stdout: 'src/a.ts is newer than the last build\n' });
    expect(await script('--if-stale')).toMatchObject({ code: 0, stderr: 'oscport: building (src/a.ts is newer than the last build)\n' });
    expect(await script('--check')).toMatchObject({ code: 0, stdout: 'current\n' });
  }, 60_000);

  it('leaves the command package.json names executable, as `npx oscport` in a fresh clone runs it', async () => {
    expect(await script()).toMatchObject({ code: 0 });
    expect(statSync(join(project, 'dist/src/cli/main.js')).mode & 0o111).toBe(0o111);
  }, 60_000);

  it('a module moved or deleted leaves no copy in dist/: what ships is what the sources make', async () => {
    write('src/old/gone.ts', 'export const gone = 1;\n');
    expect(await script()).toMatchObject({ code: 0 });
    expect(existsSync(join(project, 'dist/src/old/gone.js'))).toBe(true);
    rmSync(join(project, 'src/old'), { recursive: true });
    expect(await script()).toMatchObject({ code: 0 });
    expect(existsSync(join(project, 'dist/src/old'))).toBe(false);
    expect(existsSync(join(project, 'dist/src/a.js'))).toBe(true);
    expect(existsSync(join(project, 'dist/.build-stamp'))).toBe(true);
  }, 60_000);

  it('a failed build leaves no new stamp, so the next start tries again', async () => {
    expect(await script()).toMatchObject({ code: 0 });
    age('dist/.build-stamp', -10);
    write('src/a.ts', 'export const a: number = "not a number";\n');
    const failed = await script('--if-stale');
    expect(failed.code).not.toBe(0);
    expect(failed.stdout).toMatch(/src\/a\.ts.*error TS2322/);
    expect(await script('--check')).toMatchObject({ code: 1, stdout: 'src/a.ts is newer than the last build\n' });
  }, 60_000);

  describe('what counts as newer than the build', () => {
    /** A stamp, and outputs, newer than every input (no compile needed to test the rule). */
    function builtAfterEverything(): void {
      for (const path of inputs()) age(path, -60);
      write('dist/src/cli/main.js', '');
      write('dist/src/index.js', '');
      write('dist/.build-stamp', '');
      age('dist/.build-stamp', -30);
    }

    it('nothing: current', async () => {
      builtAfterEverything();
      expect(await script('--check')).toMatchObject({ code: 0, stdout: 'current\n' });
    });

    for (const input of ['machines/m.ts', 'protocol/messages.json', 'package.json', 'tsconfig.build.json', 'tsconfig.json']) {
      it(input, async () => {
        builtAfterEverything();
        age(input, -10);
        expect(await script('--check')).toMatchObject({ code: 1, stdout: `${input} is newer than the last build\n` });
      });
    }

    it('a file added to bench/', async () => {
      builtAfterEverything();
      write('bench/new.ts', 'export {};\n');
      expect((await script('--check')).stdout).toMatch(/^bench(\/new\.ts)? is newer than the last build\n$/);
    });

    it('a source deleted (its folder changed)', async () => {
      builtAfterEverything();
      rmSync(join(project, 'machines/m.ts'));
      expect(await script('--check')).toMatchObject({ code: 1, stdout: 'machines is newer than the last build\n' });
    });

    it('an output missing, whatever the stamp says', async () => {
      builtAfterEverything();
      rmSync(join(project, 'dist/src/cli/main.js'));
      expect(await script('--check')).toMatchObject({ code: 1, stdout: 'dist/src/cli/main.js is missing\n' });
    });
  });
});
