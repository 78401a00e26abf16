import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, chmodSync, closeSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultDataDir } from '../../src/settings/data-dir.js';
import {
  formatRecord,
  JournalError,
  openJournal,
  parseJournal,
  type Journal,
  type JournalRecord,
  type JournalState,
  type JournalLease,
} from '../../src/leases/persistence/journal.js';
import { silentLogger } from '../../src/log.js';

const HEADER = '{"oscport":"leases","v":1}\n';
const STALE_PID = 2147483646;

const dirs: string[] = [];
const journals: Journal[] = [];

afterEach(async () => {
  for (const journal of journals.splice(0)) journal.close();
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'oscport-journal-'));
  dirs.push(dir);
  return dir;
}

type LogLine = { level: number; msg: string; [key: string]: unknown };

function collectingLogger() {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines, at: (level: 'info' | 'warn') => lines.filter((line) => line.level === pino.levels.values[level]) };
}

function open(dir: string, options: Partial<Parameters<typeof openJournal>[1]> = {}) {
  const opened = openJournal(dir, { logger: silentLogger, ...options });
  journals.push(opened.journal);
  return opened;
}

function clock(start = 1_700_000_000_000): () => number {
  let now = start;
  return () => now++;
}

function lease(tempId: string, port: number, extra: Partial<JournalLease> = {}): JournalLease {
  return {
    tempId,
    port,
    endpoint: { host: '127.0.0.1', port: 50_000 + (port % 1000) },
    host: '127.0.0.1',
    trackId: `track-${tempId}`,
    boundAt: 1_700_000_000_000,
    lastSeen: 1_700_000_005_000,
    ...extra,
  };
}

function fileLines(dir: string): string[] {
  return readFileSync(join(dir, 'leases.jsonl'), 'utf8').split('\n').slice(0, -1);
}

function corruptFiles(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.startsWith('leases.jsonl.corrupt-'));
}

/** The state `records` leave, worked out independently of the module. */
function expectedState(records: readonly JournalRecord[]): JournalState {
  const state: JournalState = { leases: new Map(), lastPorts: new Map() };
  for (const record of records) {
    if (record.op === 'put') {
      state.leases.set(record.lease.tempId, record.lease);
      state.lastPorts.set(record.lease.tempId, { port: record.lease.port, at: record.at });
    } else {
      state.leases.delete(record.tempId);
      state.lastPorts.set(record.tempId, { port: record.port, at: record.at });
    }
  }
  return state;
}

describe('openJournal', () => {
  it('restores bound leases exactly, and the last port of every tempID, after close and reopen', async () => {
    const dir = await tempDir();
    const now = clock(1000);
    const { journal, restored } = open(dir, { now });
    expect(restored.leases.size).toBe(0);
    const a = lease('plugin-a', 9001);
    const b = lease('plugin-b', 9002, { endpoint: null, trackId: null });
    const c = lease('plugin-c', 9003, { host: '::1', endpoint: { host: '::1', port: 7000 } });
    journal.put(a);
    journal.put(b);
    journal.put(c);
    journal.drop('plugin-b', 9002, 'released');
    journal.close();
    expect(existsSync(join(dir, 'oscport.lock'))).toBe(false);

    const again = open(dir).restored;
    expect(again.leases).toEqual(new Map([['plugin-a', a], ['plugin-c', c]]));
    expect(again.lastPorts).toEqual(
      new Map([
        ['plugin-a', { port: 9001, at: 1000 }],
        ['plugin-c', { port: 9003, at: 1002 }],
        ['plugin-b', { port: 9002, at: 1003 }],
      ]),
    );
  });

  it('writes a header and then one JSON record per line', async () => {
    const dir = await tempDir();
    const { journal } = open(dir, { now: () => 42 });
    journal.put(lease('p', 9001));
    journal.drop('p', 9001, 'expired');
    expect(readFileSync(join(dir, 'leases.jsonl'), 'utf8')).toBe(HEADER);
    // Written once the turn of the event loop is over, both in one write.
    await new Promise((resolve) => setImmediate(resolve));
    expect(readFileSync(join(dir, 'leases.jsonl'), 'utf8')).toBe(
      HEADER +
        '{"op":"put","lease":{"tempId":"p","port":9001,"endpoint":{"host":"127.0.0.1","port":50001},"host":"127.0.0.1","trackId":"track-p","boundAt":1700000000000,"lastSeen":1700000005000},"at":42}\n' +
        '{"op":"drop","tempId":"p","port":9001,"reason":"expired","at":42}\n',
    );
  });

  it('lets the last record for a tempID win', async () => {
    const dir = await tempDir();
    const { journal } = open(dir);
    journal.put(lease('p', 9001));
    journal.put(lease('p', 9002, { trackId: 'moved' }));
    journal.close();
    const { restored } = open(dir);
    expect(restored.leases).toEqual(new Map([['p', lease('p', 9002, { trackId: 'moved' })]]));
    expect(restored.lastPorts.get('p')?.port).toBe(9002);
  });

  it('keeps its own copy: later changes to a lease object do not reach the journal', async () => {
    const dir = await tempDir();
    const { journal } = open(dir, { compactEvery: 2 });
    const mutable = lease('p', 9001);
    journal.put(mutable);
    mutable.port = 1;
    journal.put(lease('q', 9002)); // the second append compacts, from the journal's own view
    journal.close();
    expect(open(dir).restored.leases.get('p')?.port).toBe(9001);
  });

  it('refuses invalid records instead of writing lines it could not read back', async () => {
    const dir = await tempDir();
    const { journal } = open(dir);
    expect(() => journal.put(lease('p', 0))).toThrow(JournalError);
    expect(() => journal.put(lease('', 9001))).toThrow(/tempID is empty/);
    expect(() => journal.drop('p', 70000, 'released')).toThrow(JournalError);
    expect(fileLines(dir)).toEqual([HEADER.trim()]);
  });

  it('survives a failing write: logs it once, keeps the lease in memory, and rewrites the file on the next change', async () => {
    const dir = await tempDir();
    const log = collectingLogger();
    const { journal } = open(dir, { logger: log.logger });
    journal.put(lease('a', 9001));
    journal.flush();
    // A disk that fails, reached the only way a test can without root: the journal's file descriptor goes bad.
    closeSync((journal as unknown as { fd: number }).fd);
    journal.put(lease('b', 9002));
    journal.flush();
    expect(log.at('warn')).toEqual([]);
    expect(log.lines.filter((line) => line.level === pino.levels.values.error).map((line) => line.msg)).toEqual([
      expect.stringContaining(`cannot write lease journal ${join(dir, 'leases.jsonl')}`),
    ]);
    journal.put(lease('c', 9003));
    journal.flush();
    expect(log.at('info').map((line) => line.msg)).toEqual([expect.stringContaining('is written again')]);
    journal.close();
    expect([...open(dir).restored.leases.keys()]).toEqual(['a', 'b', 'c']);
  });

  it('throws on use after close, and close is idempotent', async () => {
    const dir = await tempDir();
    const { journal } = open(dir);
    journal.close();
    journal.close();
    expect(() => journal.put(lease('p', 9001))).toThrow(/closed/);
    expect(() => journal.compact({ leases: new Map(), lastPorts: new Map() })).toThrow(JournalError);
  });

  it('creates the data directory, parents included, private to the user', async () => {
    const dir = join(await tempDir(), 'a', 'b');
    const { journal } = open(dir);
    journal.close();
    expect(fileLines(dir)).toEqual([HEADER.trim()]);
    if (process.platform !== 'win32') expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it.skipIf(process.platform === 'win32' || process.getuid?.() === 0)('reports a data directory it may not write as a JournalError naming it', async () => {
    const parent = await tempDir();
    chmodSync(parent, 0o500);
    try {
      expect(() => open(join(parent, 'data'))).toThrow(/permission denied: .*data/);
    } finally {
      chmodSync(parent, 0o700);
    }
  });
});

describe('torn writes', () => {
  it('ignores a torn last line, logs it, and rewrites the file without it', async () => {
    const dir = await tempDir();
    const first = open(dir).journal;
    first.put(lease('a', 9001));
    first.put(lease('b', 9002));
    first.close();
    appendFileSync(join(dir, 'leases.jsonl'), '{"op":"put","lease":{"tempId":"c","po');

    const log = collectingLogger();
    const { restored } = open(dir, { logger: log.logger });
    expect([...restored.leases.keys()]).toEqual(['a', 'b']);
    expect(log.at('info').map((line) => line.msg)).toEqual([expect.stringMatching(/ignored a torn last line/)]);
    expect(log.at('warn')).toEqual([]);
    expect(corruptFiles(dir)).toEqual([]);
    const text = readFileSync(join(dir, 'leases.jsonl'), 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    expect(text).not.toContain('"tempId":"c"');
    expect(fileLines(dir)).toHaveLength(3);
  });

  it('treats a write cut inside a multi-byte character as torn, not as corruption', async () => {
    const dir = await tempDir();
    const line = Buffer.from(formatRecord({ op: 'put', lease: lease('caf\u00e9', 9001), at: 1 }));
    writeFileSync(join(dir, 'leases.jsonl'), Buffer.concat([Buffer.from(HEADER), line.subarray(0, line.indexOf(0xc3) + 1)]));
    const log = collectingLogger();
    const { restored } = open(dir, { logger: log.logger });
    expect(restored.leases.size).toBe(0);
    expect(log.at('info')).toHaveLength(1);
    expect(log.at('warn')).toEqual([]);
    expect(readFileSync(join(dir, 'leases.jsonl'), 'utf8')).toBe(HEADER);
  });

  it('keeps a complete last record that only lacks its newline, and mends the file', async () => {
    const dir = await tempDir();
    const record = formatRecord({ op: 'put', lease: lease('a', 9001), at: 1 });
    writeFileSync(join(dir, 'leases.jsonl'), HEADER + record.trimEnd());
    const { journal, restored } = open(dir);
    expect(restored.leases.get('a')).toEqual(lease('a', 9001));
    journal.put(lease('b', 9002));
    journal.close();
    expect([...open(dir).restored.leases.keys()]).toEqual(['a', 'b']);
  });

  it('restores a consistent prefix after the writing process is SIGKILLed mid-stream', async () => {
    const records: JournalRecord[] = Array.from({ length: 400 }, (_, i) => {
      const tempId = `inst-\u00e9-${i % 37}`;
      const port = 9000 + (i % 101);
      return i % 5 === 4 ? { op: 'drop', tempId, port, reason: 'released', at: 1000 + i } : { op: 'put', lease: lease(tempId, port), at: 1000 + i };
    });
    const lines = records.map(formatRecord);
    // A kill tears a line only some of the time; a few runs make it likely that one does (measured: ~80% per run).
    for (let run = 0, torn = false; run < 3 && !torn; run++) {
      const dir = await tempDir();
      open(dir).journal.close();
      const { bytes, pid } = await killWriterMidStream(dir, lines);
      torn = bytes.at(-1) !== 0x0a;

      // Everything written before the kill is on disk, byte for byte: no user-space buffer was lost.
      const complete = bytes.subarray(0, bytes.lastIndexOf(0x0a) + 1).toString('utf8').split('\n').length - 2;
      expect(complete).toBeGreaterThan(lines.length);
      const stream = Buffer.from(HEADER + Array.from({ length: complete + 1 }, (_, i) => lines[i % lines.length]).join(''));
      expect(bytes.equals(stream.subarray(0, bytes.length))).toBe(true);

      const log = collectingLogger();
      const { restored } = open(dir, { logger: log.logger });
      const expected = expectedState(Array.from({ length: complete }, (_, i) => records[i % records.length]!));
      expect(restored.leases).toEqual(expected.leases);
      expect(restored.lastPorts).toEqual(expected.lastPorts);
      expect(log.at('warn')).toEqual([]);
      expect(log.at('info').map((line) => line.msg)).toContainEqual(expect.stringContaining(`PID ${pid} is not running`));
      expect(log.at('info').some((line) => /torn/.test(line.msg))).toBe(torn);
      expect(readFileSync(join(dir, 'leases.jsonl')).at(-1)).toBe(0x0a);
    }
  });
});

/**
 * Runs a child that takes the lock and appends `lines` in a loop, then SIGKILLs it mid-stream. The child cannot import
 * the TypeScript module: it appends as the journal does (writeSync on an append fd), but each line in two writes split
 * inside the 'é', with a short pause between, so that the kill can tear a line (and a character) in two.
 */
async function killWriterMidStream(dir: string, lines: readonly string[]): Promise<{ bytes: Buffer; pid: number | undefined }> {
  const script = join(dir, 'writer.mjs');
  writeFileSync(
    script,
    `import { openSync, writeFileSync, writeSync } from 'node:fs';
const lines = ${JSON.stringify(lines)}.map((line) => Buffer.from(line));
writeFileSync(${JSON.stringify(join(dir, 'oscport.lock'))}, process.pid + '\\n', { flag: 'wx' });
const fd = openSync(${JSON.stringify(join(dir, 'leases.jsonl'))}, 'a');
for (let i = 0; ; i++) {
  const line = lines[i % lines.length];
  const cut = line.indexOf(0xc3) + 1;
  writeSync(fd, line, 0, cut);
  for (const until = performance.now() + 0.02; performance.now() < until; );
  writeSync(fd, line, cut);
  if (i === lines.length) process.stdout.write('wrapped\\n');
}
`,
  );
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await once(child.stdout, 'data');
  // Killing at once would land just after the child's stdout write, always between lines.
  await sleep(5);
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  expect((await exited)[1]).toBe('SIGKILL');
  return { bytes: readFileSync(join(dir, 'leases.jsonl')), pid: child.pid };
}

describe('corrupt journals', () => {
  const put = (tempId: string, port: number) => formatRecord({ op: 'put', lease: lease(tempId, port), at: port });
  const drop = (tempId: string, port: number) => formatRecord({ op: 'drop', tempId, port, reason: 'released', at: port });
  const junk = Buffer.from([0xff, 0xfe, 0x00, 0x9c, 0x0a, 0xc3, 0x28, 0x7b, 0x0a, 0x80]);

  const cases: Array<{ name: string; bytes: Buffer; lines: number[]; salvaged: number; leases: string[]; remembered: string[] }> = [
    {
      name: 'a garbage line in the middle',
      bytes: Buffer.from(HEADER + put('a', 9001) + 'this is not json\n' + put('b', 9002) + drop('a', 9003)),
      lines: [3],
      salvaged: 3,
      leases: ['b'],
      remembered: ['a', 'b'],
    },
    {
      name: 'a wrong header',
      bytes: Buffer.from('{"oscport":"leases","v":2}\n' + put('a', 9001)),
      lines: [1],
      salvaged: 1,
      leases: ['a'],
      remembered: ['a'],
    },
    {
      name: 'a missing header',
      bytes: Buffer.from(put('a', 9001) + put('b', 9002)),
      lines: [1],
      salvaged: 2,
      leases: ['a', 'b'],
      remembered: ['a', 'b'],
    },
    {
      name: 'records that parse but do not validate',
      bytes: Buffer.from(
        HEADER +
          put('a', 9001) +
          put('b', 9002).replace('"port":9002', '"port":70000') +
          '{"op":"renew","tempId":"a","at":1}\n' +
          drop('x'.repeat(129), 9004) +
          '[1,2]\n' +
          put('c', 9005),
      ),
      lines: [3, 4, 5, 6],
      salvaged: 2,
      leases: ['a', 'c'],
      remembered: ['a', 'c'],
    },
    {
      name: 'binary junk between records',
      bytes: Buffer.concat([Buffer.from(HEADER + put('a', 9001)), junk, Buffer.from('\n' + put('b', 9002))]),
      lines: [3, 4, 5],
      salvaged: 2,
      leases: ['a', 'b'],
      remembered: ['a', 'b'],
    },
    {
      name: 'a file that is not text at all',
      bytes: Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 167 + 13) % 256).filter((byte) => byte !== 0x0a)),
      lines: [1],
      salvaged: 0,
      leases: [],
      remembered: [],
    },
  ];

  it.each(cases)('$name: reported, moved aside intact, valid records salvaged', async ({ bytes, lines, salvaged, leases, remembered }) => {
    const dir = await tempDir();
    const path = join(dir, 'leases.jsonl');
    writeFileSync(path, bytes);
    const log = collectingLogger();
    const { journal, restored } = open(dir, { logger: log.logger, now: () => Date.UTC(2025, 0, 2, 3, 4, 5) });

    const [warning, ...more] = log.at('warn');
    expect(more).toEqual([]);
    expect(warning).toMatchObject({ path, lines, salvaged, movedTo: `${path}.corrupt-20250102T030405` });
    expect(warning?.msg).toContain(path);
    expect(warning?.msg).toContain(`salvaged ${salvaged} record`);
    expect(corruptFiles(dir)).toEqual(['leases.jsonl.corrupt-20250102T030405']);
    expect(readFileSync(`${path}.corrupt-20250102T030405`).equals(bytes)).toBe(true);
    expect([...restored.leases.keys()]).toEqual(leases);
    expect([...restored.lastPorts.keys()].sort()).toEqual(remembered);

    // The fresh journal is clean and works.
    expect(fileLines(dir)[0]).toBe(HEADER.trim());
    journal.put(lease('new', 9100));
    journal.close();
    const reopened = collectingLogger();
    expect([...open(dir, { logger: reopened.logger }).restored.leases.keys()]).toEqual([...leases, 'new']);
    expect(reopened.at('warn')).toEqual([]);
  });

  it('never overwrites an earlier corrupt file moved aside in the same second', async () => {
    const dir = await tempDir();
    const path = join(dir, 'leases.jsonl');
    const now = () => Date.UTC(2025, 0, 2, 3, 4, 5);
    for (const garbage of ['first\n', 'second\n']) {
      writeFileSync(path, garbage);
      open(dir, { now }).journal.close();
    }
    expect(corruptFiles(dir).sort()).toEqual(['leases.jsonl.corrupt-20250102T030405', 'leases.jsonl.corrupt-20250102T030405-1']);
    expect(readFileSync(`${path}.corrupt-20250102T030405-1`, 'utf8')).toBe('second\n');
  });
});

describe('compaction', () => {
  it('rewrites the file to header plus live records after compactEvery appends', async () => {
    const dir = await tempDir();
    const { journal } = open(dir, { compactEvery: 5, now: clock() });
    journal.put(lease('a', 9001));
    journal.put(lease('b', 9002));
    journal.put(lease('a', 9003));
    journal.put(lease('a', 9004));
    journal.flush();
    expect(fileLines(dir)).toHaveLength(5);
    journal.put(lease('b', 9005));
    await journal.whenIdle();
    expect(fileLines(dir)).toEqual([HEADER.trim(), expect.stringContaining('"port":9004'), expect.stringContaining('"port":9005')]);
    expect(journal.compactions.count).toBe(1);
    journal.drop('a', 9004, 'released');
    journal.flush();
    expect(fileLines(dir)).toHaveLength(4);
    expect(readdirSync(dir).sort()).toEqual(['leases.jsonl', 'oscport.lock']);
    journal.close();
    const { restored } = open(dir);
    expect([...restored.leases.values()]).toEqual([lease('b', 9005)]);
    expect(restored.lastPorts.get('a')?.port).toBe(9004);
  });

  it('counts records superseded in an earlier run that crashed, so a daemon restarted often still compacts', async () => {
    const dir = await tempDir();
    const crashed = [9001, 9002, 9003].map((port, n) => formatRecord({ op: 'put', lease: lease('a', port), at: n + 1 }));
    writeFileSync(join(dir, 'leases.jsonl'), HEADER + crashed.join(''));
    const { journal } = open(dir, { compactEvery: 5 });
    expect(fileLines(dir)).toHaveLength(4);
    journal.put(lease('a', 9004));
    journal.put(lease('a', 9005));
    journal.put(lease('a', 9006));
    await journal.whenIdle();
    expect(fileLines(dir)).toHaveLength(2);
  });

  it('a clean close leaves no superseded record behind', async () => {
    const dir = await tempDir();
    const { journal } = open(dir);
    for (const port of [9001, 9002, 9003]) journal.put(lease('a', port));
    journal.flush();
    expect(fileLines(dir)).toHaveLength(4);
    journal.close();
    expect(fileLines(dir)).toHaveLength(2);
  });

  it('compacts in the background: records written meanwhile reach the new file, nothing is lost', async () => {
    const dir = await tempDir();
    const { journal } = open(dir, { compactEvery: 600, maxRemembered: 10_000 });
    for (let n = 0; n < 600; n++) journal.put(lease(`t${n}`, 9000 + (n % 900)));
    // The compaction has started but not finished: these land in the old file and in its tail.
    journal.put(lease('during', 9950));
    journal.drop('t0', 9000, 'released');
    await journal.whenIdle();
    expect(journal.compactions.count).toBe(1);
    expect(readdirSync(dir).sort()).toEqual(['leases.jsonl', 'oscport.lock']);
    journal.put(lease('after', 9951));
    journal.flush();
    const lines = fileLines(dir);
    expect(lines).toHaveLength(1 + 600 + 2 + 1);
    journal.close();
    const { restored } = open(dir, { maxRemembered: 10_000 });
    expect(restored.leases.size).toBe(600 - 1 + 2);
    expect(restored.leases.has('t0')).toBe(false);
    expect(restored.leases.get('during')?.port).toBe(9950);
  });

  it('stays bounded under churn: live leases plus the remembered last ports, in the file and in memory', async () => {
    const dir = await tempDir();
    const { journal } = open(dir, { compactEvery: 200, maxRemembered: 300 });
    for (let n = 0; n < 10_000; n++) {
      journal.put(lease(`churn-${n}`, 9000 + (n % 900)));
      journal.drop(`churn-${n}`, 9000 + (n % 900), 'released');
      if (n % 500 === 0) await journal.whenIdle();
    }
    journal.put(lease('live', 9999));
    await journal.whenIdle();
    expect(fileLines(dir).length).toBeLessThanOrEqual(1 + 300 + 200);
    journal.close();
    expect(fileLines(dir).length).toBeLessThanOrEqual(1 + 300);
    const { restored } = open(dir, { maxRemembered: 300 });
    expect(restored.lastPorts.size).toBe(300);
    expect([...restored.leases.keys()]).toEqual(['live']);
  });

  it('compacts on demand from the state it is given, leaving no temporary file', async () => {
    const dir = await tempDir();
    const { journal, restored } = open(dir, { now: clock(500) });
    journal.put(lease('a', 9001));
    journal.put(lease('b', 9002));
    journal.drop('b', 9002, 'expired');
    restored.leases.set('c', lease('c', 9003));
    restored.lastPorts.set('c', { port: 9003, at: 10 });
    restored.lastPorts.set('gone', { port: 9009, at: 20 });
    journal.compact(restored);
    expect(fileLines(dir)).toEqual([
      HEADER.trim(),
      formatRecord({ op: 'put', lease: lease('c', 9003), at: 10 }).trim(),
      '{"op":"drop","tempId":"gone","port":9009,"reason":"compacted","at":20}',
    ]);
    expect(readdirSync(dir).some((name) => name.endsWith('.tmp'))).toBe(false);
    journal.put(lease('d', 9004));
    journal.close();
    expect([...open(dir).restored.leases.keys()]).toEqual(['c', 'd']);
  });

  it('remembers at most maxRemembered last ports, the most recent, and never forgets a bound lease', async () => {
    const dir = await tempDir();
    const { journal } = open(dir, { maxRemembered: 4, now: clock(100) });
    journal.put(lease('bound-old', 9000));
    for (let i = 1; i <= 6; i++) {
      journal.put(lease(`ended-${i}`, 9000 + i));
      journal.drop(`ended-${i}`, 9000 + i, 'released');
    }
    journal.close();
    const { journal: second, restored } = open(dir, { maxRemembered: 4 });
    expect([...restored.leases.keys()]).toEqual(['bound-old']);
    expect([...restored.lastPorts.keys()]).toEqual(['bound-old', 'ended-4', 'ended-5', 'ended-6']);
    second.compact(restored);
    expect(fileLines(dir)).toHaveLength(5);
  });

  it('replaces a temporary file left by a crash during compaction', async () => {
    const dir = await tempDir();
    open(dir).journal.close();
    writeFileSync(join(dir, 'leases.jsonl.tmp'), 'half a compaction');
    open(dir);
    expect(existsSync(join(dir, 'leases.jsonl.tmp'))).toBe(false);
  });
});

describe('lock', () => {
  it('refuses a second opening of a data directory in use, naming the PID', async () => {
    const dir = await tempDir();
    const { journal } = open(dir);
    expect(() => open(dir)).toThrow(JournalError);
    expect(() => open(dir)).toThrow(`data directory ${dir} is in use by PID ${process.pid}`);
    journal.close();
    expect(() => open(dir)).not.toThrow();
  });

  it.each([
    ['names a process that is gone', `${STALE_PID}\n`, `PID ${STALE_PID} is not running`],
    ['holds garbage', 'not a pid', 'names no PID'],
    ['is empty', '', 'names no PID'],
  ])('takes over a lock file that %s', async (_, content, message) => {
    const dir = await tempDir();
    writeFileSync(join(dir, 'oscport.lock'), content);
    const log = collectingLogger();
    const { journal } = open(dir, { logger: log.logger });
    expect(log.at('info').map((line) => line.msg)).toEqual([expect.stringContaining(message)]);
    expect(readFileSync(join(dir, 'oscport.lock'), 'utf8')).toBe(`${process.pid}\n`);
    journal.close();
    expect(existsSync(join(dir, 'oscport.lock'))).toBe(false);
  });

  it.skipIf(process.platform !== 'linux')('takes over the lock of a killed coordinator its parent has not reaped yet', async () => {
    // The shell backgrounds a child, then becomes `sleep`, which never reaps it: killed, the child is a zombie.
    const parent = spawn('sh', ['-c', 'sleep 30 & echo $!; exec sleep 5'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const [chunk] = (await once(parent.stdout!, 'data')) as [Buffer];
      const pid = Number(String(chunk).trim());
      process.kill(pid, 'SIGKILL');
      for (let tries = 0; !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z '); tries++) {
        if (tries > 100) throw new Error('child never became a zombie');
        await sleep(10);
      }
      const dir = await tempDir();
      writeFileSync(join(dir, 'oscport.lock'), `${pid}\n`);
      const { journal } = open(dir);
      expect(readFileSync(join(dir, 'oscport.lock'), 'utf8')).toBe(`${process.pid}\n`);
      journal.close();
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('releases the lock when opening fails', async () => {
    const dir = await tempDir();
    mkdirSync(join(dir, 'leases.jsonl'));
    expect(() => open(dir)).toThrow(JournalError);
    expect(existsSync(join(dir, 'oscport.lock'))).toBe(false);
  });
});

describe('parseJournal', () => {
  it('reads an empty file as an empty journal without a header', () => {
    expect(parseJournal('')).toEqual({ state: { leases: new Map(), lastPorts: new Map() }, problems: [], torn: false, header: false, records: 0 });
  });

  it('reads a header alone as an empty journal', () => {
    expect(parseJournal(HEADER)).toMatchObject({ problems: [], torn: false, header: true, records: 0 });
  });

  it('accepts a drop of a tempID it never saw bound, remembering its port', () => {
    const parsed = parseJournal(HEADER + formatRecord({ op: 'drop', tempId: 'stranger', port: 9050, reason: 'stolen', at: 7 }));
    expect(parsed.problems).toEqual([]);
    expect(parsed.state.leases.size).toBe(0);
    expect(parsed.state.lastPorts).toEqual(new Map([['stranger', { port: 9050, at: 7 }]]));
  });

  it('round-trips every field through formatRecord', () => {
    const records: JournalRecord[] = [
      { op: 'put', lease: lease('a', 1, { endpoint: null, trackId: null, host: 'studio.local' }), at: 1 },
      { op: 'put', lease: lease('b', 65535, { trackId: 'Drums "L" \u{1F941}' }), at: 2 },
    ];
    const parsed = parseJournal(HEADER + records.map(formatRecord).join(''));
    expect(parsed.state.leases).toEqual(expectedState(records).leases);
    expect(parsed.records).toBe(2);
  });

  it('writes only the known fields, so extra properties on a lease stay out of the file', () => {
    const extra = { ...lease('a', 9001), secret: 'x' };
    expect(formatRecord({ op: 'put', lease: extra, at: 1 })).not.toContain('secret');
  });

  it('names the line and the reason of every record that does not validate', () => {
    const good = formatRecord({ op: 'put', lease: lease('a', 9001), at: 1 }).trimEnd();
    const text = [
      HEADER.trim(),
      good.replace('"port":9001', '"port":0'),
      good.replace('"tempId":"a"', '"tempId":""'),
      good.replace('"trackId":"track-a"', '"trackId":5'),
      good.replace('"endpoint":{"host":"127.0.0.1","port":50001}', '"endpoint":{"host":"127.0.0.1"}'),
      good.replace('"host":"127.0.0.1","trackId"', '"host":"","trackId"'),
      good.replace('"at":1', '"at":"now"'),
      '{"op":"drop","tempId":"a","port":9001,"at":1}',
      '{"tempId":"a","port":9001,"at":1}',
      '',
      good,
    ].join('\n');
    const parsed = parseJournal(`${text}\n`);
    expect(parsed.problems).toEqual([
      { line: 2, reason: 'port is not 1-65535' },
      { line: 3, reason: 'tempID is empty' },
      { line: 4, reason: 'trackId is neither null nor a string' },
      { line: 5, reason: 'endpoint is neither null nor { host, port }' },
      { line: 6, reason: 'host is not a non-empty string' },
      { line: 7, reason: '"at" is not a time' },
      { line: 8, reason: 'reason is not a string' },
      { line: 9, reason: 'no op' },
      { line: 10, reason: 'not JSON' },
    ]);
    expect(parsed.records).toBe(1);
    expect(parsed.torn).toBe(false);
  });

  it('treats only an unfinished record at the very end as torn', () => {
    const good = formatRecord({ op: 'put', lease: lease('a', 9001), at: 1 });
    expect(parseJournal(HEADER + good + good.slice(0, 30))).toMatchObject({ torn: true, problems: [], records: 1 });
    expect(parseJournal(HEADER + good + '{"o')).toMatchObject({ torn: true, problems: [] });
    // Not the start of a record: junk, whatever its position.
    expect(parseJournal(HEADER + good + 'garbage')).toMatchObject({ torn: false, problems: [{ line: 3, reason: 'not JSON' }] });
    // A cut line followed by more lines was not the last write.
    expect(parseJournal(HEADER + good.slice(0, 30) + '\n' + good)).toMatchObject({ torn: false, problems: [{ line: 2 }], records: 1 });
    // The header is never appended, so an unfinished one is corruption.
    expect(parseJournal('{"oscport":"lea')).toMatchObject({ torn: false, header: false, problems: [{ line: 1 }] });
  });
});

describe('defaultDataDir', () => {
  it('uses XDG_STATE_HOME on linux when it is absolute', () => {
    expect(defaultDataDir({ XDG_STATE_HOME: '/var/state' }, 'linux', '/home/ann')).toBe('/var/state/oscport');
  });

  it('falls back to ~/.local/state on linux and other unixes', () => {
    expect(defaultDataDir({}, 'linux', '/home/ann')).toBe('/home/ann/.local/state/oscport');
    expect(defaultDataDir({ XDG_STATE_HOME: '' }, 'linux', '/home/ann')).toBe('/home/ann/.local/state/oscport');
    expect(defaultDataDir({ XDG_STATE_HOME: 'relative/state' }, 'linux', '/home/ann')).toBe('/home/ann/.local/state/oscport');
    expect(defaultDataDir({}, 'freebsd', '/home/ann')).toBe('/home/ann/.local/state/oscport');
  });

  it('uses Application Support on darwin, whatever XDG says', () => {
    expect(defaultDataDir({ XDG_STATE_HOME: '/x' }, 'darwin', '/Users/ann')).toBe('/Users/ann/Library/Application Support/oscport');
  });

  it('uses LOCALAPPDATA on win32, else AppData\\Local under the home', () => {
    expect(defaultDataDir({ LOCALAPPDATA: 'C:\\Users\\ann\\AppData\\Local' }, 'win32', 'C:\\Users\\ann')).toBe('C:\\Users\\ann\\AppData\\Local\\oscport');
    expect(defaultDataDir({ LOCALAPPDATA: 'D:\\Local' }, 'win32', 'C:\\Users\\ann')).toBe('D:\\Local\\oscport');
    expect(defaultDataDir({}, 'win32', 'C:\\Users\\ann')).toBe('C:\\Users\\ann\\AppData\\Local\\oscport');
  });
});
