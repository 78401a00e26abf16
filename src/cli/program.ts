import { Command } from 'commander';
import { buildAtlasSimCommand } from '../simulators/atlas/command.js';
import { registerSimulateCommand } from '../simulators/daw/command.js';
import { registerAdminCommands } from './lease-commands.js';
import { registerRoutingCommands } from './routing-commands.js';
import { addStartCommand, type RunCoordinator } from './start-command.js';
import { styleCommand } from './style.js';

/** Every `oscport` command. `runCoordinator` is what `start` does once its settings are checked. */
export function buildProgram({ version, runCoordinator }: { version: string; runCoordinator: RunCoordinator }): Command {
  const program = styleCommand(new Command('oscport'))
    .description('OSC port coordinator: gives every DAW plugin instance its own verified UDP port')
    .version(version, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    // Before the subcommands are added, so they inherit it (and the style): usage errors exit 2, not 1.
    .exitOverride()
    // A flag belongs to the command it follows: `oscport atlas add ... -c` is add's, not atlas's.
    .enablePositionalOptions();

  addStartCommand(program, runCoordinator);
  registerAdminCommands(program);
  registerRoutingCommands(program);
  // Built on its own, so it inherits nothing: it is given the program's settings.
  program.addCommand(buildAtlasSimCommand().copyInheritedSettings(program));
  registerSimulateCommand(program);
  return program;
}
