import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { closestName, readConfigFile } from '../../src/settings/config-file.js';
import { oscport } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'oscport-config-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** `--print-config` as a map of setting to [value, source]. */
async function effective(args: string[], env: Record<string, string> = {}) {
  const result = await oscport(['start', '--print-config', ...args], env);
  expect(result.code, result.stderr).toBe(0);
  const settings = new Map<string, [unknown, string]>();
  for (const line of result.stdout.trimEnd().split('\n')) {
    const [yaml, source] = line.split(/\s+#\s+/);
    const [key, value] = Object.entries(parseYaml(yaml!) as Record<string, unknown>)[0]!;
    settings.set(key, [value, source!]);
  }
  return { settings, text: result.stdout };
}

describe('the config file', () => {
  it('fills settings under the environment and the flags: flag > env > file > default', async () => {
    const config = file('layers.yaml', 'port: 9101\nprobeTimeout: 500\nassignResends: 2\nreserve: [9000, 9010]\n');
    const { settings } = await effective(['--config', config, '--port', '9102'], { OSCPORT_PROBE_TIMEOUT: '700' });
    expect(settings.get('port')).toEqual([9102, 'flag']);
    expect(settings.get('probeTimeout')).toEqual([700, 'env']);
    expect(settings.get('assignResends')).toEqual([2, 'config']);
    expect(settings.get('reserve')).toEqual([[9000, 9010], 'config']);
    expect(settings.get('maxTries')).toEqual([5, 'default']);
  });

  it('reads JSON by its extension, a pool as a string or as low and high', async () => {
    const json = file('pool.json', JSON.stringify({ pool: { low: 20000, high: 20099 }, livenessInterval: 2500 }));
    const { settings } = await effective(['--config', json]);
    expect(settings.get('pool')).toEqual(['20000-20099', 'config']);
    expect(settings.get('livenessInterval')).toEqual([2500, 'config']);
    const yaml = file('pool.yaml', 'pool: "21000-21099"\n');
    expect((await effective(['--config', yaml])).settings.get('pool')).toEqual(['21000-21099', 'config']);
  });

  it('takes its path from OSCPORT_CONFIG too, and what it prints can be read back as a config file', async () => {
    const config = file('env.yaml', 'quarantine: 1234\n');
    const { text } = await effective([], { OSCPORT_CONFIG: config });
    const roundTrip = file('printed.yaml', text);
    const { settings } = await effective(['--config', roundTrip]);
    expect(settings.get('quarantine')).toEqual([1234, 'config']);
  });

  it.each([
    ['an unknown key, with a suggestion', 'typo.yaml', 'porrt: 9001\n', 'unknown setting "porrt" (did you mean "port"?)'],
    ['a bad value, naming the key', 'value.json', '{"probeTimeout": "fast"}', 'probeTimeout: "fast" is not a whole number'],
    ['a value out of range', 'range.yaml', 'port: 70000\n', 'port: 70000 is outside 1-65535'],
    ['a value of the wrong shape', 'shape.yaml', 'maxTries: [1, "x"]\n', 'maxTries: [1,"x"] is not a value this setting takes'],
    ['something that is not a mapping', 'list.yaml', '- 1\n- 2\n', 'must be a mapping'],
    ['broken YAML, naming the line and column', 'broken.yaml', 'port: 9001\n  host: x\n', 'not valid YAML at line 1, column 7: Nested mappings'],
    ['a key that is not a setting', 'meta.yaml', 'printConfig: true\n', 'unknown setting "printConfig"'],
  ])('rejects %s with exit 2, naming the file', async (_, name, text, message) => {
    const path = file(name, text);
    const result = await oscport(['start', '--config', path]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`config file ${path}`);
    expect(result.stderr).toContain(message);
  });

  it.each([
    ['a comment', '// the coordinator\n{"port": 9001}', 'line 1, column 1: expected a value'],
    ['a value left out', '{\n  "port": 9001,\n  "host": \n}', 'line 4, column 1: expected a value'],
    ['a missing comma', '{\n  "port": 9001\n  "host": "127.0.0.1"\n}', "line 3, column 3: expected ',' or '}' after a property"],
    ['a trailing comma', '{"port": 9001,\n}', 'line 2, column 1: expected a property name in double quotes'],
    ['an unquoted name', '{\n\tport: 9001}', 'line 2, column 2: expected a property name in double quotes'],
    ['a string left open', '{"host": "127.0.0.1}', 'line 1, column 21: the string has no closing "'],
    ['a line break inside a string', '{"host": "127.0.0.1\n"}', 'line 1, column 20: a control character inside a string'],
    ['more after the end', '{"port": 9001}\n}', 'line 2, column 1: more after the end of the value'],
    ['an empty file', '', 'line 1, column 1: the file ends where a value should be'],
  ])('names the line and column of broken JSON: %s', async (mistake, text, where) => {
    const path = file(`${mistake.replaceAll(' ', '-')}.json`, text);
    const result = await oscport(['start', '--config', path]);
    expect(result.code).toBe(2);
    expect(result.stderr.startsWith(`oscport: config file ${path}: not valid JSON at ${where}`), result.stderr).toBe(true);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('a file it cannot read is a clear error, in words rather than codes', async () => {
    const missing = await oscport(['start', '--config', join(dir, 'missing.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`oscport: config file ${join(dir, 'missing.yaml')}: cannot read it: no such file or directory\n`);
    const directory = await oscport(['start', '--config', dir]);
    expect(directory.code).toBe(2);
    expect(directory.stderr).toBe(`oscport: config file ${dir}: cannot read it: it is a directory\n`);
  });
});

describe('config file helpers', () => {
  it('suggests the closest known name, or none when nothing is close', () => {
    expect(closestName('probTimeout', ['probeTimeout', 'port'])).toBe('probeTimeout');
    expect(closestName('zzzzzzzz', ['probeTimeout', 'port'])).toBeUndefined();
  });

  it('an empty file is no settings', () => {
    expect(readConfigFile(file('empty.yaml', ''))).toEqual({});
  });
});
