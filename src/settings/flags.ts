import { InvalidArgumentError } from 'commander';
import { InvalidValue, SettingsError, type TextType } from './values.js';

/** Turns a settings parser into a commander one, so a bad value is a usage error naming the flag (exit 2). */
export function flag<T>(parse: (key: string, text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse('value', text);
    } catch (err) {
      throw new InvalidArgumentError(err instanceof SettingsError ? err.reason : String(err));
    }
  };
}

/** The same for a value type of the settings table. */
export function flagOf<T>(type: TextType<T>): (text: string) => T {
  return (text) => {
    try {
      return type.parseText(text);
    } catch (err) {
      throw new InvalidArgumentError(err instanceof InvalidValue ? err.message : String(err));
    }
  };
}
