import { Option, type Command } from 'commander';
import { flagOf } from './flags.js';
import { ENV_PREFIX, flagWithArgument, placeSettings, type Env, type PlacedSetting, type SettingsTable } from './table.js';

/** An option of `start` about the settings rather than a setting: shown with them in docs/configuration.md. */
export interface ConfigOption {
  readonly flag: string;
  readonly argument?: string;
  readonly env?: string;
  readonly description: string;
}

export const CONFIG_FILE_OPTION: ConfigOption = {
  flag: '--config',
  argument: 'FILE',
  env: `${ENV_PREFIX}CONFIG`,
  description: 'JSON or YAML file of settings; variables and flags win over it',
};

export const PRINT_CONFIG_OPTION: ConfigOption = {
  flag: '--print-config',
  description: 'print the effective settings, each with where it came from, and exit',
};

export const CONFIG_OPTIONS: readonly ConfigOption[] = [CONFIG_FILE_OPTION, PRINT_CONFIG_OPTION];

/** What `start` was given, read after parsing. */
export interface SettingsOptions {
  readonly configFile: string | undefined;
  readonly printConfig: boolean;
  /** Settings given as flags, parsed, by config key. */
  readonly flags: ReadonlyMap<string, unknown>;
}

const asCommander = (argument: string) => `<${argument.toLowerCase()}>`;

function configOption({ flag, argument, env, description }: ConfigOption): Option {
  const option = new Option(argument ? `${flag} ${asCommander(argument)}` : flag, description);
  return env ? option.env(env) : option;
}

/**
 * A setting's flag. No commander default and no commander variable: resolveSettings applies
 * both, under the config file; --help still shows them, from the table.
 */
function settingOption(placed: PlacedSetting, env: Env): Option | undefined {
  const flags = flagWithArgument(placed, asCommander);
  const { setting } = placed;
  if (flags === undefined || !setting.textType) return undefined;
  const shownDefault = setting.type.show(setting.defaultFor(env));
  // The description is Markdown for docs/configuration.md; a terminal shows its code marks as noise.
  const description = setting.description.replaceAll('`', '');
  return new Option(flags, `${description} (default: ${shownDefault}, env: ${placed.env})`).argParser(flagOf(setting.textType));
}

/** Adds --config, --print-config and every setting's flag to `command`; returns how to read them once parsed. */
export function addSettingsOptions<Target>(command: Command, table: SettingsTable<Target>, env: Env): () => SettingsOptions {
  const configFile = configOption(CONFIG_FILE_OPTION);
  const printConfig = configOption(PRINT_CONFIG_OPTION);
  command.addOption(configFile).addOption(printConfig);
  const settingFlags: Array<[configKey: string, attribute: string]> = [];
  for (const placed of placeSettings(table)) {
    const option = settingOption(placed, env);
    if (!option) continue;
    command.addOption(option);
    settingFlags.push([placed.configKey, option.attributeName()]);
  }
  return () => {
    const values = command.opts();
    const given = settingFlags.filter(([, attribute]) => command.getOptionValueSource(attribute) === 'cli');
    return {
      configFile: values[configFile.attributeName()] as string | undefined,
      printConfig: values[printConfig.attributeName()] === true,
      flags: new Map(given.map(([configKey, attribute]) => [configKey, values[attribute]])),
    };
  };
}
