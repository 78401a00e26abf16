import type { Argument, Command, HelpConfiguration, Option, OutputConfiguration } from 'commander';

/** Every message the CLI prints about a failure starts with this. */
export const MESSAGE_PREFIX = 'oscport:';

/** Commander's own usage errors say "error: ..."; ours say "oscport: ...": one prefix for all. */
const OUTPUT: OutputConfiguration = {
  outputError: (text, write) => write(text.replace(/^error:/, MESSAGE_PREFIX)),
};

/** A default or a choice as a user types it: 127.0.0.1:9001, not {"host":"127.0.0.1","port":9001}; bound, not "bound". */
function plain(value: unknown): string {
  if (Array.isArray(value)) return value.map(plain).join(',');
  return typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
}

/** "(required)", "(choices: a, b)", "(default: 500)", "(env: X)" after the description, in that order. */
function withDetails(description: string, details: ReadonlyArray<string | false | undefined>): string {
  const shown = details.filter((detail): detail is string => typeof detail === 'string');
  return shown.length === 0 ? description : `${description} (${shown.join(', ')})`;
}

function shownDefault(item: Option | Argument, takesValue: boolean): string | false | undefined {
  if (item.defaultValueDescription !== undefined) return `default: ${item.defaultValueDescription}`;
  return takesValue && item.defaultValue !== undefined && `default: ${plain(item.defaultValue)}`;
}

/**
 * One style for every command's help: a required option says so, choices and defaults read as
 * plain text. Ranges are part of each description ("instances, 1-5000").
 */
const HELP: HelpConfiguration = {
  optionDescription: (option) =>
    withDetails(option.description, [
      option.mandatory && 'required',
      option.argChoices && `choices: ${option.argChoices.join(', ')}`,
      shownDefault(option, option.required || option.optional),
      option.envVar !== undefined && `env: ${option.envVar}`,
    ]),
  argumentDescription: (argument) =>
    withDetails(argument.description, [argument.argChoices && `choices: ${argument.argChoices.join(', ')}`, shownDefault(argument, true)]),
};

/** Gives `command`, and every subcommand added to it afterwards with `.command()`, the CLI's help and error style. */
export function styleCommand(command: Command): Command {
  return command.configureHelp(HELP).configureOutput(OUTPUT);
}
