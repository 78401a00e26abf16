import { CONFIG_OPTIONS, type ConfigOption } from './commander.js';
import { flagWithArgument, placeSettings, type SettingsTable } from './table.js';


const code = (text: string | undefined) => (text ? `\`${text}\`` : '');
const cell = (text: string) => text.replace(/\|/g, '\\|');

/** The table of settings in docs/configuration.md: one line per setting, then the options about the config file. */
export function readmeTable<Target>(table: SettingsTable<Target>, configOptions: readonly ConfigOption[] = CONFIG_OPTIONS): string {
  const rows = placeSettings(table).map((placed) => {
    const { setting } = placed;
    const shownDefault = setting.documentedDefault ?? setting.type.show(setting.defaultFor({}));
    return [code(flagWithArgument(placed, (argument) => argument)), code(placed.env), code(placed.configKey), shownDefault, setting.description];
  });
  for (const { flag, argument, env, description } of configOptions) {
    rows.push([code(argument ? `${flag} ${argument}` : flag), code(env), '', '', description]);
  }
  const lines = [['flag', 'variable', 'config key', 'default', 'meaning'], ['---', '---', '---', '---', '---'], ...rows];
  return lines.map((line) => `|${line.map((text) => (text ? ` ${cell(text)} ` : ' ')).join('|')}|`).join('\n');
}
