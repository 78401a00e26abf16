import { Command, CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ConfigFileError } from '../../src/settings/config-file.js';
import {
  addSettingsOptions,
  checkSettings,
  fixedDefaults,
  formatConfig,
  list,
  placeSettings,
  port,
  readmeTable,
  resolveSettings,
  SettingsError,
  settingsFor,
  text,
  type Env,
  type Layers,
} from '../../src/settings/index.js';
import { FIXTURE, FIXTURE_DEFAULTS, processor, type BridgeSettings, type FixtureSettings } from './fixture.js';

const FILE = '/etc/fixture.yaml';

/** `fixture [args]` parsed by a command built from the table, as `oscport start` is. */
function parseFlags(args: string[], env: Env = {}) {
  const command = new Command('fixture').exitOverride().configureOutput({ writeErr: () => {} }).configureHelp({ helpWidth: 200 });
  const read = addSettingsOptions(command, FIXTURE, env);
  command.parse(args, { from: 'user' });
  return { command, ...read() };
}

function resolve(layers: Partial<Layers>) {
  return resolveSettings(FIXTURE, { env: {}, flags: new Map(), ...layers });
}

function configError(settings: Record<string, unknown>): string {
  try {
    resolve({ configFile: { path: FILE, settings } });
  } catch (err) {
    if (err instanceof ConfigFileError) return err.message;
    throw err;
  }
  throw new Error('no error');
}

describe('a settings table', () => {
  it('spells each setting as a config key, a flag and a variable; config-only settings have neither', () => {
    expect(placeSettings(FIXTURE).map(({ configKey, flag, env }) => [configKey, flag, env])).toEqual([
      ['port', '--port', 'OSCPORT_PORT'],
      ['controllersAllow', '--controllers-allow', 'OSCPORT_CONTROLLERS_ALLOW'],
      ['bridge.meterPort', '--bridge-meter-port', 'OSCPORT_BRIDGE_METER_PORT'],
      ['bridge.meterHost', '--bridge-meter-host', 'OSCPORT_BRIDGE_METER_HOST'],
      ['bridge.processors', undefined, undefined],
    ]);
  });

  it('fills its fields, sections as nested objects, from the defaults', () => {
    const { settings, resolved } = resolve({});
    expect(settings).toEqual(FIXTURE_DEFAULTS);
    expect(new Set(resolved.map(({ source }) => source))).toEqual(new Set(['default']));
    expect(fixedDefaults(FIXTURE)).toEqual(FIXTURE_DEFAULTS);
  });

  it('takes each value from the highest layer that gives it: flag > env > config > default', () => {
    const { flags } = parseFlags(['--bridge-meter-port', '4000', '--controllers-allow', '10.0.0.0/8,192.168.0.0/16']);
    const processors = [{ id: 'a', host: '10.0.0.5', tcpPort: 4000 }];
    const { settings, resolved } = resolve({
      flags,
      env: { OSCPORT_PORT: '9200', OSCPORT_BRIDGE_METER_HOST: '10.1.1.1', OSCPORT_BRIDGE_PROCESSORS: 'ignored: config only' },
      configFile: { path: FILE, settings: { port: 9100, bridge: { meterPort: 3200, meterHost: 'h', processors } } },
    });
    expect(settings).toEqual({
      port: 9200,
      controllersAllow: ['10.0.0.0/8', '192.168.0.0/16'],
      bridge: { meterPort: 4000, meterHost: '10.1.1.1', processors },
    });
    expect(resolved.map(({ placed, source }) => [placed.configKey, source])).toEqual([
      ['port', 'env'],
      ['controllersAllow', 'flag'],
      ['bridge.meterPort', 'flag'],
      ['bridge.meterHost', 'env'],
      ['bridge.processors', 'config'],
    ]);
  });

  it('names the variable whose value is bad', () => {
    expect(() => resolve({ env: { OSCPORT_BRIDGE_METER_PORT: 'abc' } })).toThrow(
      new SettingsError('OSCPORT_BRIDGE_METER_PORT', '"abc" is not a whole number'),
    );
  });

  it('checks every key of a config file, nested ones and list items too, naming the file and the key', () => {
    expect(configError({ prot: 1 })).toBe(`config file ${FILE}: unknown setting "prot" (did you mean "port"?)`);
    expect(configError({ bridge: { meterPrt: 1 } })).toContain('unknown setting "bridge.meterPrt" (did you mean "bridge.meterPort"?)');
    expect(configError({ bridge: 5 })).toContain('bridge: must be a mapping of settings');
    expect(configError({ controllersAllow: [1] })).toContain('controllersAllow[0]: 1 is not a value this setting takes');
    const processors = [{ id: 'a', host: 'h', tcpPort: 1 }, { id: 'b', host: 'h', tcpPort: 70000 }];
    expect(configError({ bridge: { processors } })).toContain('bridge.processors[1].tcpPort: 70000 is outside 1-65535');
    expect(configError({ bridge: { processors: [{ id: 'a', hots: 'h', tcpPort: 1 }] } })).toContain(
      'bridge.processors[0]: unknown field "hots" (did you mean "host"?)',
    );
  });

  it('checks the whole config file, even values a flag overrides', () => {
    const { flags } = parseFlags(['--port', '9300']);
    expect(() => resolve({ flags, configFile: { path: FILE, settings: { port: 'x' } } })).toThrow('port: "x" is not a whole number');
  });

  it('prints YAML, each value marked with its source, that reads back as a config file', () => {
    const resolution = resolve({
      env: { OSCPORT_BRIDGE_METER_PORT: '4000' },
      configFile: { path: FILE, settings: { bridge: { processors: [{ id: 'a', host: '10.0.0.5', tcpPort: 4000 }] } } },
    });
    const printed = formatConfig(resolution);
    expect(printed).toBe(
      [
        'port: 9001                                                  # default',
        'controllersAllow: [ 127.0.0.1/32 ]                          # default',
        'bridge:',
        '  meterPort: 4000                                           # env',
        '  meterHost: 0.0.0.0                                        # default',
        '  processors: [ { id: a, host: 10.0.0.5, tcpPort: 4000 } ]  # config',
        '',
      ].join('\n'),
    );
    const readBack = resolve({ configFile: { path: FILE, settings: parseYaml(printed) as Record<string, unknown> } });
    expect(readBack.settings).toEqual(resolution.settings);
    expect(new Set(readBack.resolved.map(({ source }) => source))).toEqual(new Set(['config']));
  });
});

describe('the commander options from a table', () => {
  it('are the flags of its settings, with help from the table; config-only settings have none', () => {
    const { command } = parseFlags([]);
    const help = command.helpInformation();
    expect(help).toContain('-p, --port <n>');
    expect(help).toContain('--bridge-meter-port <n>');
    expect(help).toContain('where meters arrive (default: 3131, env: OSCPORT_BRIDGE_METER_PORT)');
    expect(help).toContain('--controllers-allow <cidr,...>');
    expect(help).toContain('--config <file>');
    expect(help).not.toContain('processors');
  });

  it('read --config and --print-config, and only the flags given', () => {
    const read = parseFlags(['--config', 'x.yaml', '--print-config', '-p', '9005'], { OSCPORT_BRIDGE_METER_PORT: '4000' });
    expect(read.configFile).toBe('x.yaml');
    expect(read.printConfig).toBe(true);
    expect([...read.flags]).toEqual([['port', 9005]]);
  });

  it('report a bad flag as commander usage error naming it', () => {
    expect(() => parseFlags(['--bridge-meter-port', 'abc'])).toThrow(CommanderError);
    expect(() => parseFlags(['--bridge-meter-port', 'abc'])).toThrow(/--bridge-meter-port.*abc.*not a whole number/);
  });

  it('show the default computed for this machine', () => {
    const computed = settingsFor<{ dir: string }>().setting({
      key: 'dir',
      type: text('DIR'),
      computeDefault: (env) => `${env.HOME}/state`,
      documentedDefault: 'under $HOME',
      fills: 'dir',
      description: 'a directory',
    });
    const command = new Command('computed').configureHelp({ helpWidth: 200 });
    addSettingsOptions(command, [computed], { HOME: '/home/me' });
    expect(command.helpInformation()).toContain('a directory (default: /home/me/state, env: OSCPORT_DIR)');
    expect(readmeTable([computed], [])).toContain('| `--dir DIR` | `OSCPORT_DIR` | `dir` | under $HOME | a directory |');
  });
});

describe('the README table from a table', () => {
  it('has a line per setting, nested and config-only ones included', () => {
    expect(readmeTable(FIXTURE, []).split('\n')).toEqual([
      '| flag | variable | config key | default | meaning |',
      '| --- | --- | --- | --- | --- |',
      '| `-p, --port N` | `OSCPORT_PORT` | `port` | 9001 | the port |',
      '| `--controllers-allow CIDR,...` | `OSCPORT_CONTROLLERS_ALLOW` | `controllersAllow` | 127.0.0.1/32 | who may control |',
      '| `--bridge-meter-port N` | `OSCPORT_BRIDGE_METER_PORT` | `bridge.meterPort` | 3131 | where meters arrive |',
      '| `--bridge-meter-host ADDR` | `OSCPORT_BRIDGE_METER_HOST` | `bridge.meterHost` | 0.0.0.0 | address meters bind |',
      '| | | `bridge.processors` | none | processors to reach |',
    ]);
  });
});

describe('values given in code', () => {
  it('are checked against the table, naming the field', () => {
    expect(() => checkSettings(FIXTURE, FIXTURE_DEFAULTS)).not.toThrow();
    const badProcessor = { ...FIXTURE_DEFAULTS, bridge: { ...FIXTURE_DEFAULTS.bridge, processors: [{ id: 'a', host: 'h', tcpPort: 0 }] } };
    expect(() => checkSettings(FIXTURE, badProcessor)).toThrow(new SettingsError('bridge.processors[0].tcpPort', '0 is outside 1-65535'));
    const noSection = { ...FIXTURE_DEFAULTS, bridge: undefined } as unknown as FixtureSettings;
    expect(() => checkSettings(FIXTURE, noSection)).toThrow('bridge: must be a mapping of settings');
  });
});

describe('rows', () => {
  it('are type-checked against the fields they fill (tsc checks these; they never run)', () => {
    const bridge = settingsFor<BridgeSettings>();
    const rows = () => [
      // @ts-expect-error a port does not fill a text field
      bridge.setting({ key: 'meterHost', type: port, default: 1, fills: 'meterHost', description: '' }),
      // @ts-expect-error the default must be of the setting's type
      bridge.setting({ key: 'meterPort', type: port, default: 'x', fills: 'meterPort', description: '' }),
      // @ts-expect-error a list of records has no text form: it must be config-only
      bridge.setting({ key: 'processors', type: list(processor), default: [], fills: 'processors', description: '' }),
    ];
    expect(rows).toBeTypeOf('function');
  });
});
