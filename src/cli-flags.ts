import { InvalidArgumentError } from 'commander';
import { SettingsError } from './core/settings.js';

/** Turns a settings parser into a commander one, so a bad value is a usage error naming the flag (exit 2). */
export function flag<T>(parse: (key: string, text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse('value', text);
    } catch (err) {
      throw new InvalidArgumentError(err instanceof SettingsError ? err.message.replace(/^value: /, '') : String(err));
    }
  };
}
