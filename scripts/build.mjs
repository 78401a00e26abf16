#!/usr/bin/env node
// `npm run build`: compiles with `tsc -p tsconfig.build.json`, removes what it did not write, then leaves dist/.build-stamp, dated when
// the build began (so a source saved while tsc ran still counts as newer than the build).
// `npm start` runs this with --if-stale first (its prestart): it compiles only when an input is newer than
// that stamp, so a start with a current build costs a directory walk (a few ms), not a compile (seconds).
// `--check` only says whether the build is current (exit 0) or why not (exit 1).
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const stamp = join(root, 'dist', '.build-stamp');
/** What the build reads: tsconfig.build.json's folders, the protocol contract it imports, the package and tsconfig files. */
const inputDirs = ['src', 'machines', 'bench', 'protocol'];
const inputFiles = () => readdirSync(root).filter((name) => name === 'package.json' || name === 'package-lock.json' || /^tsconfig.*\.json$/.test(name));
/** What `oscport start` runs: missing, the build is not current whatever the stamp says. */
const outputs = ['dist/src/cli/main.js', 'dist/src/index.js'];

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

/** The newest input (a folder's own date counts too: it changes when a file is deleted or renamed). */
function newestInput() {
  let newest = { path: '', mtimeMs: -Infinity };
  const consider = (path, mtimeMs) => {
    if (mtimeMs > newest.mtimeMs) newest = { path, mtimeMs };
  };
  const walk = (dir) => {
    const mtimeMs = mtime(dir);
    if (mtimeMs === undefined) return;
    consider(dir, mtimeMs);
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else consider(path, mtime(path) ?? -Infinity);
    }
  };
  for (const dir of inputDirs) walk(join(root, dir));
  for (const file of inputFiles()) consider(join(root, file), mtime(join(root, file)) ?? -Infinity);
  return newest;
}

/** Why the build is not current, or undefined when it is. */
export function staleness() {
  const built = mtime(stamp);
  if (built === undefined) return 'no build stamp (dist/.build-stamp)';
  const missing = outputs.find((file) => mtime(join(root, file)) === undefined);
  if (missing) return `${missing} is missing`;
  const newest = newestInput();
  // >=: a file saved in the same tick as the build began (or the same second, on a coarse file system) may not be in it.
  if (newest.mtimeMs >= built) return `${relative(root, newest.path)} is newer than the last build`;
  return undefined;
}

/** The files package.json names as its commands. */
function packageBins() {
  const { bin } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  if (bin === undefined) return [];
  return typeof bin === 'string' ? [bin] : Object.values(bin);
}

function build() {
  const began = new Date();
  let tsc;
  try {
    tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  } catch {
    process.stderr.write('oscport: cannot build: typescript is not installed (run npm install)\n');
    return 1;
  }
  const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--listEmittedFiles'], { cwd: root, encoding: 'utf8' });
  const emitted = new Set();
  for (const line of result.stdout.split('\n')) {
    if (line.startsWith('TSFILE: ')) emitted.add(resolve(line.slice('TSFILE: '.length)));
    else if (line !== '') process.stdout.write(`${line}\n`);
  }
  process.stderr.write(result.stderr);
  if (result.status !== 0) return result.status ?? 1;
  removeStale(join(root, 'dist'), emitted);
  // tsc writes new files 0644: `npx oscport` in a fresh clone runs the bin itself, and needs it executable.
  for (const bin of packageBins()) chmodSync(join(root, bin), 0o755);
  writeFileSync(stamp, `built by scripts/build.mjs; began ${began.toISOString()}\n`);
  utimesSync(stamp, began, began);
  return 0;
}

/** Whatever the compile did not write: a module moved or deleted leaves no old copy for the package or a test to find. */
function removeStale(dir, emitted) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      removeStale(path, emitted);
      if (readdirSync(path).length === 0) rmSync(path, { recursive: true });
    } else if (!emitted.has(path) && path !== stamp) rmSync(path);
  }
}

// Only when run (importing this file runs nothing).
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--check')) {
    // Tells whether the build is current, and builds nothing: exit 0 current, 1 not.
    const why = staleness();
    process.stdout.write(`${why ?? 'current'}\n`);
    process.exitCode = why === undefined ? 0 : 1;
  } else if (process.argv.includes('--if-stale')) {
    const why = staleness();
    if (why !== undefined) {
      process.stderr.write(`oscport: building (${why})\n`);
      process.exitCode = build();
    }
  } else {
    process.exitCode = build();
  }
}
