import type { Argument, Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { COORDINATOR_SETTINGS, placeSettings } from '../../src/settings/index.js';
import { oscport } from '../helpers/cli.js';

/** The program as `oscport` builds it: its commands, options and parsers are what the help is checked against. */
const program = buildProgram({ version: '0.0.0', runCoordinator: async () => {} });

interface HelpItem {
  term: string;
  description: string;
}

interface ParsedHelp {
  usage: string;
  description: string;
  /** "Arguments", "Options", "Commands": each item with its wrapped description joined into one line. */
  sections: Map<string, HelpItem[]>;
}

function parseHelp(text: string): ParsedHelp {
  const [usageBlock, descriptionBlock, ...sectionBlocks] = text.trimEnd().split('\n\n');
  const sections = new Map<string, HelpItem[]>();
  for (const block of sectionBlocks) {
    const [title, ...lines] = block.split('\n');
    const items: HelpItem[] = [];
    for (const line of lines) {
      const item = /^ {2}(\S.*?)(?: {2,}(.*))?$/.exec(line);
      if (item) items.push({ term: item[1]!, description: item[2] ?? '' });
      else items.at(-1)!.description += ` ${line.trim()}`;
    }
    sections.set(title!.replace(/:$/, ''), items);
  }
  return { usage: usageBlock!, description: descriptionBlock!.split('\n').join(' '), sections };
}

function usageOf(argument: Argument): string {
  const name = `${argument.name()}${argument.variadic ? '...' : ''}`;
  return argument.required ? `<${name}>` : `[${name}]`;
}

/** A statement of the values a bounded number takes: "1-5000", "0 to 1", "at least 1". */
const RANGE = /\b\d+(?:\.\d+)?(?:-| to )\d+\b|\bat (?:least|most) \d+/;
const NUMBERS = ['-1', '0', '1', '2', '50', '1000', '1001', '5001', '10001', '65535', '65536', '100000'];

/** A parser that takes some whole numbers and refuses others takes a range of them. */
function takesARange(parse: ((value: string, previous: unknown) => unknown) | undefined): boolean {
  if (!parse) return false;
  const taken = NUMBERS.filter((text) => {
    try {
      parse(text, undefined);
      return true;
    } catch {
      return false;
    }
  });
  return taken.length > 0 && taken.length < NUMBERS.length;
}

/**
 * Options whose range their help does not state yet, each owned elsewhere: `start`'s settings are
 * described by the settings table (src/settings), `atlas-sim`'s options by src/atlas.
 */
const RANGE_OWNED_ELSEWHERE = new Map<string, ReadonlySet<string | undefined>>([
  ['start', new Set(placeSettings(COORDINATOR_SETTINGS).map(({ flag }) => flag))],
  ['atlas-sim', new Set(['--tcp-port', '--meter-port', '--rate'])],
]);

function checkOption(command: Command, option: Option, item: HelpItem | undefined): void {
  const where = `${command.name()} ${option.flags}`;
  expect(item, `${where} is in the help`).toBeDefined();
  const { description } = item!;
  expect(option.description, `${where} has a description`).not.toBe('');
  for (const [, shown] of description.matchAll(/\(?(?:default|choices): ([^,)]*)/g)) {
    expect(shown, `${where} shows its default and choices as plain text`).toMatch(/^[^\s{["']/);
  }
  if (option.mandatory) expect(description, `${where} says it is required`).toContain('(required');
  if (takesARange(option.parseArg) && !RANGE_OWNED_ELSEWHERE.get(command.name())?.has(option.long)) {
    expect(description, `${where} states its range`).toMatch(RANGE);
  }
}

function checkArgument(command: Command, argument: Argument, item: HelpItem | undefined): void {
  const where = `${command.name()} <${argument.name()}>`;
  expect(item?.description, `${where} is described`).toMatch(/\S/);
  if (takesARange(argument.parseArg)) expect(item!.description, `${where} states its range`).toMatch(RANGE);
}

describe('--help', () => {
  it('lists every command of the program', async () => {
    const result = await oscport(['--help']);
    expect(result.code).toBe(0);
    const help = parseHelp(result.stdout);
    expect(help.usage).toBe('Usage: oscport [options] [command]');
    expect(help.description).toBe(program.description());
    const listed = help.sections.get('Commands')!.map(({ term }) => term.split(' ')[0]);
    expect(listed).toEqual([...program.commands.map((command) => command.name()), 'help']);
  });

  // Every command, and the commands under one (`atlas add`).
  const commands = program.commands.flatMap((command) => [
    [command.name(), command] as const,
    ...command.commands.map((sub) => [`${command.name()} ${sub.name()}`, sub] as const),
  ]);

  it.each(commands)(
    'oscport %s --help: usage, description, every argument described, options with plain defaults, required ones marked, ranges stated',
    async (name, command) => {
      const result = await oscport([...name.split(' '), '--help']);
      expect(result.code).toBe(0);
      const help = parseHelp(result.stdout);
      const args = command.registeredArguments;
      const subcommands = command.commands.length > 0 ? ' [command]' : '';
      expect(help.usage).toBe(`Usage: oscport ${name} [options]${subcommands}${args.map((argument) => ` ${usageOf(argument)}`).join('')}`);
      expect(help.description).toBe(command.description());
      expect(help.description).toMatch(/^\S.*[^.]$/);

      const argumentItems = help.sections.get('Arguments');
      if (args.length === 0) expect(argumentItems).toBeUndefined();
      else expect(argumentItems?.map(({ term }) => term)).toEqual(args.map((argument) => argument.name()));
      for (const [n, argument] of args.entries()) checkArgument(command, argument, argumentItems?.[n]);

      const optionItems = help.sections.get('Options')!;
      for (const option of command.options) checkOption(command, option, optionItems.find(({ term }) => term === option.flags));
    },
  );
});
