import type { TextType, ValueType } from './values.js';

/** The environment the variables and machine-dependent defaults are read from. */
export type Env = Readonly<Record<string, string | undefined>>;

export const ENV_PREFIX = 'OSCPORT_';

/** Fields of Target that can hold a T. */
type FieldFor<Target, T> = { [K in keyof Target]-?: [T] extends [Target[K]] ? K : never }[keyof Target] & string;

/** How a setting's value lands in the settings object: one field, or several (the pool's low and high). */
type Fills<Target, T> = FieldFor<Target, T> | { write(value: T): Partial<Target>; read(settings: Target): T };

type Default<T> =
  | { default: NoInfer<T> }
  /** A default that depends on the machine (a directory under $HOME); the docs cannot show the value. */
  | { computeDefault(env: Env): NoInfer<T>; documentedDefault: string };

/** A flag and a variable carry text; a setting whose type has no text form is for config files only. */
type Input<T> = { type: TextType<T>; short?: `-${string}`; configOnly?: false } | { type: ValueType<T>; configOnly: true };

/**
 * One row of a settings table. Its config key is `key` (inside its sections); the flag and
 * the variable are spelled from the same words: `atlas` > `meterPort` is `atlas.meterPort`,
 * `--atlas-meter-port` and `OSCPORT_ATLAS_METER_PORT`.
 */
export type SettingSpec<Target, T> = {
  key: string;
  /** One line, for --help and docs/configuration.md. */
  description: string;
  fills: Fills<Target, T>;
  /** Values startCoordinator takes that no flag, variable or config file may give (port 0: the OS picks). */
  apiAlsoAccepts?: readonly unknown[];
} & Default<T> &
  Input<T>;

/** A row once built: its value's type forgotten, which a table of mixed rows needs. */
export interface Setting<Target> {
  readonly kind: 'setting';
  readonly key: string;
  readonly description: string;
  readonly type: ValueType<unknown>;
  /** Present unless the setting is for config files only. */
  readonly textType: TextType<unknown> | undefined;
  readonly short: string | undefined;
  /** Set when the default depends on the machine: what docs/configuration.md says instead of a value. */
  readonly documentedDefault: string | undefined;
  readonly apiAlsoAccepts: readonly unknown[];
  /** The field it fills, or its key when it fills several: what errors about a value given in code name. */
  readonly field: string;
  defaultFor(env: Env): unknown;
  write(value: unknown): Partial<Target>;
  read(settings: Target): unknown;
}

/** Settings grouped under one config key, filling the field of that name (settingsFor checks its type). */
export interface Section {
  readonly kind: 'section';
  readonly key: string;
  readonly entries: SettingsTable<unknown>;
}

export type SettingsTable<Target> = ReadonlyArray<Setting<Target> | Section>;

/** Row builders for a table that fills Target: each row is checked against its field's type. */
export function settingsFor<Target>() {
  return {
    setting<T>(spec: SettingSpec<Target, T>): Setting<Target> {
      const fills = spec.fills;
      const field = typeof fills === 'string' ? fills : spec.key;
      return {
        kind: 'setting',
        key: spec.key,
        description: spec.description,
        type: spec.type,
        textType: spec.configOnly ? undefined : spec.type,
        short: spec.configOnly ? undefined : spec.short,
        documentedDefault: 'documentedDefault' in spec ? spec.documentedDefault : undefined,
        apiAlsoAccepts: spec.apiAlsoAccepts ?? [],
        field,
        defaultFor: (env) => ('computeDefault' in spec ? spec.computeDefault(env) : spec.default),
        write: (value) => (typeof fills === 'string' ? ({ [fills]: value } as Partial<Target>) : fills.write(value as T)),
        read: (settings) => (typeof fills === 'string' ? settings[fills as keyof Target] : fills.read(settings)),
      };
    },
    section<K extends keyof Target & string>(key: K, entries: SettingsTable<Target[K]>): Section {
      return { kind: 'section', key, entries };
    },
  };
}

/** A setting with the names it goes by, from its place in the table. */
export interface PlacedSetting {
  readonly setting: Setting<unknown>;
  /** The keys of the sections it sits in, outermost first. */
  readonly sections: readonly string[];
  /** As a config file spells it, dotted inside sections: `atlas.meterPort`. */
  readonly configKey: string;
  /** Without its argument: `--atlas-meter-port`; undefined for config-only settings. */
  readonly flag: string | undefined;
  readonly env: string | undefined;
}

const words = (camel: string) => camel.replace(/[A-Z]/g, (letter) => ` ${letter.toLowerCase()}`).split(' ');

/** Every setting of the table, in table order, with its names. */
export function placeSettings<Target>(table: SettingsTable<Target>, sections: readonly string[] = []): PlacedSetting[] {
  return table.flatMap((entry): PlacedSetting[] => {
    if (entry.kind === 'section') return placeSettings(entry.entries, [...sections, entry.key]);
    const path = [...sections, entry.key].flatMap(words);
    const cli = entry.textType !== undefined;
    return [
      {
        setting: entry,
        sections,
        configKey: [...sections, entry.key].join('.'),
        flag: cli ? `--${path.join('-')}` : undefined,
        env: cli ? `${ENV_PREFIX}${path.join('_').toUpperCase()}` : undefined,
      },
    ];
  });
}

/** The flag with its argument, as --help and docs/configuration.md show it: `-p, --port N`. */
export function flagWithArgument(placed: PlacedSetting, argument: (text: string) => string): string | undefined {
  const { flag, setting } = placed;
  if (flag === undefined) return undefined;
  return `${setting.short ? `${setting.short}, ` : ''}${flag} ${argument(setting.type.argument)}`;
}
