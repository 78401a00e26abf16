import { closestName, ConfigFileError } from './config-file.js';
import { placeSettings, type Env, type PlacedSetting, type SettingsTable } from './table.js';
import { InvalidValue, SettingsError } from './values.js';

/** Where a value came from, lowest precedence first. */
export type Source = 'default' | 'config' | 'env' | 'flag';

export interface ConfigFile {
  readonly path: string;
  /** The file's mapping as read, not yet checked. */
  readonly settings: Readonly<Record<string, unknown>>;
}

export interface Layers {
  readonly env: Env;
  readonly configFile?: ConfigFile | undefined;
  /** Values given as flags, parsed already (by commander), by config key. */
  readonly flags: ReadonlyMap<string, unknown>;
}

export interface ResolvedSetting {
  readonly placed: PlacedSetting;
  readonly value: unknown;
  readonly source: Source;
}

export interface Resolution<Target> {
  /** Every setting of the table, in table order, with its value and where that came from. */
  readonly resolved: readonly ResolvedSetting[];
  /** The values in their fields: what the table fills of Target. */
  readonly settings: Partial<Target>;
}

/**
 * Each setting from the highest layer that gives it: flag > variable > config file > default.
 * The whole config file is checked, even keys a variable or a flag overrides: a broken file is
 * reported before the day it is used alone. Errors name the variable, or the file and the key.
 */
export function resolveSettings<Target>(table: SettingsTable<Target>, layers: Layers): Resolution<Target> {
  const fromConfig = new Map<string, unknown>();
  if (layers.configFile) readConfig(table, layers.configFile.path, layers.configFile.settings, '', fromConfig);
  const resolved = placeSettings(table).map((placed) => resolveOne(placed, layers, fromConfig));
  return { resolved, settings: fill(resolved) as Partial<Target> };
}

function resolveOne(placed: PlacedSetting, { env, flags }: Layers, fromConfig: ReadonlyMap<string, unknown>): ResolvedSetting {
  const { configKey, setting } = placed;
  if (flags.has(configKey)) return { placed, value: flags.get(configKey), source: 'flag' };
  const variable = placed.env;
  const text = variable === undefined ? undefined : env[variable];
  if (variable !== undefined && text !== undefined && setting.textType) {
    try {
      return { placed, value: setting.textType.parseText(text), source: 'env' };
    } catch (err) {
      throw err instanceof InvalidValue ? err.named(variable) : err;
    }
  }
  if (fromConfig.has(configKey)) return { placed, value: fromConfig.get(configKey), source: 'config' };
  return { placed, value: setting.defaultFor(env), source: 'default' };
}

const isMapping = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** Checks every key of a config file mapping (of a section, under `prefix`) and parses its value. */
function readConfig(table: SettingsTable<unknown>, path: string, given: Readonly<Record<string, unknown>>, prefix: string, into: Map<string, unknown>): void {
  const entries = new Map(table.map((entry) => [entry.key, entry]));
  for (const [key, value] of Object.entries(given)) {
    const configKey = `${prefix}${key}`;
    const entry = entries.get(key);
    if (!entry) {
      const suggestion = closestName(key, [...entries.keys()]);
      throw new ConfigFileError(path, `unknown setting "${configKey}"${suggestion ? ` (did you mean "${prefix}${suggestion}"?)` : ''}`);
    }
    if (entry.kind === 'section') {
      if (!isMapping(value)) throw new ConfigFileError(path, `${configKey}: must be a mapping of settings`);
      readConfig(entry.entries, path, value, `${configKey}.`, into);
      continue;
    }
    try {
      into.set(configKey, entry.type.parseConfig(value));
    } catch (err) {
      throw err instanceof InvalidValue ? new ConfigFileError(path, err.named(configKey).message) : err;
    }
  }
}

/** The values written into their fields, sections into nested objects. */
function fill(resolved: readonly Pick<ResolvedSetting, 'placed' | 'value'>[]): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  for (const { placed, value } of resolved) {
    let target = settings;
    for (const section of placed.sections) target = (target[section] ??= {}) as Record<string, unknown>;
    Object.assign(target, placed.setting.write(value));
  }
  return settings;
}

/** The defaults that do not depend on the machine, in their fields. */
export function fixedDefaults<Target>(table: SettingsTable<Target>): Partial<Target> {
  const fixed = placeSettings(table).filter(({ setting }) => setting.documentedDefault === undefined);
  return fill(fixed.map((placed) => ({ placed, value: placed.setting.defaultFor({}) }))) as Partial<Target>;
}

/** Checks values given in code against the table: each within its type and bounds; errors name the field. */
export function checkSettings<Target>(table: SettingsTable<Target>, settings: Target, prefix = ''): void {
  for (const entry of table) {
    if (entry.kind === 'section') {
      const section: unknown = (settings as Record<string, unknown>)[entry.key];
      if (!isMapping(section)) throw new SettingsError(`${prefix}${entry.key}`, 'must be a mapping of settings');
      checkSettings(entry.entries, section, `${prefix}${entry.key}.`);
      continue;
    }
    const value = entry.read(settings);
    if (entry.apiAlsoAccepts.includes(value)) continue;
    try {
      entry.type.check(value);
    } catch (err) {
      throw err instanceof InvalidValue ? err.named(`${prefix}${entry.field}`) : err;
    }
  }
}
