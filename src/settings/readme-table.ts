import { CONFIG_OPTIONS, type ConfigOption } from './commander.js';
import { flagWithArgument, placeSettings, type SettingsTable } from './table.js';

export const README_START = '<!-- settings:start -->';
export const README_END = '<!-- settings:end -->';

const code = (text: string | undefined) => (text ? `\`${text}\`` : '');
const cell = (text: string) => text.replace(/\|/g, '\\|');

/** The README's table of settings: one line per setting, then the options about the config file. */
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

/** The README with `table` between its settings markers. */
export function withReadmeTable(readme: string, table: string): string {
  const start = readme.indexOf(README_START);
  const end = readme.indexOf(README_END);
  if (start === -1 || end < start) throw new Error(`README has no ${README_START} ... ${README_END} markers`);
  return `${readme.slice(0, start + README_START.length)}\n${table}\n${readme.slice(end)}`;
}
