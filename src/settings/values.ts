import { resolve } from 'node:path';
import { parseCidr } from '../net/cidr.js';
import { closestName } from './config-file.js';

/** A bad setting, named by where it was given: a flag, a variable, a config key or a CoordinatorSettings field. */
export class SettingsError extends Error {
  constructor(
    readonly key: string,
    readonly reason: string,
  ) {
    super(`${key}: ${reason}`);
    this.name = 'SettingsError';
  }
}

/**
 * A value a setting cannot take. `within` says where inside a list or record
 * ("[1].tcpPort"); whoever knows where the value came from adds the name.
 */
export class InvalidValue extends Error {
  constructor(
    readonly reason: string,
    readonly within = '',
  ) {
    super(`${within}${within ? ': ' : ''}${reason}`);
    this.name = 'InvalidValue';
  }

  /** The same problem seen from one level further out. */
  inside(segment: string): InvalidValue {
    return new InvalidValue(this.reason, `${segment}${this.within}`);
  }

  /** Names the problem: `key` is a flag, a variable or a config key. */
  named(key: string): SettingsError {
    return new SettingsError(`${key}${this.within}`, this.reason);
  }
}

/** Runs `parse`, placing any InvalidValue it throws at `segment`. */
function at<T>(segment: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw err instanceof InvalidValue ? err.inside(segment) : err;
  }
}

/** A value as an error message quotes it: JSON, but NaN and Infinity as themselves. */
const quoted = (value: unknown) => (typeof value === 'number' ? String(value) : JSON.stringify(value));

function notTaken(value: unknown): never {
  throw new InvalidValue(`${quoted(value)} is not a value this setting takes`);
}

/** What a setting holds, and how it reads, checks and writes it. Methods, so a ValueType<number> is a ValueType<unknown>. */
export interface ValueType<T> {
  /** The argument as --help and docs/configuration.md show it: N, MS, LOW-HIGH. */
  readonly argument: string;
  /** Takes a value as a JSON or YAML config file holds it. */
  parseConfig(value: unknown): T;
  /** Returns a value given in code (startCoordinator's options) if it is one this type holds. */
  check(value: unknown): T;
  /** The value as a config file holds it, for --print-config. */
  toConfig(value: T): unknown;
  /** The value as --help and docs/configuration.md show it. */
  show(value: T): string;
}

/** A value a flag or an environment variable can carry. */
export interface TextType<T> extends ValueType<T> {
  parseText(text: string): T;
}

export interface WholeNumberBounds {
  min: number;
  max?: number;
  /** MS for durations; N otherwise. */
  argument?: string;
}

export function wholeNumber({ min, max, argument = 'N' }: WholeNumberBounds): TextType<number> {
  const check = (value: unknown): number => {
    if (typeof value !== 'number' || !Number.isInteger(value)) throw new InvalidValue(`${quoted(value)} is not a whole number`);
    if (max === undefined && value < min) throw new InvalidValue(`${value} is less than ${min}`);
    if (max !== undefined && (value < min || value > max)) throw new InvalidValue(`${value} is outside ${min}-${max}`);
    return value;
  };
  const parseText = (text: string): number => {
    const trimmed = text.trim();
    if (!/^-?\d+$/.test(trimmed)) throw new InvalidValue(`"${text}" is not a whole number`);
    return check(Number(trimmed));
  };
  return {
    argument,
    parseText,
    parseConfig: (value) => (typeof value === 'string' ? parseText(value) : typeof value === 'number' ? check(value) : notTaken(value)),
    check,
    toConfig: (value) => value,
    show: String,
  };
}

export const port = wholeNumber({ min: 1, max: 65535 });

/**
 * A port, or `off` for none: a server that can be turned off. `off` is itself the value (commander
 * cannot carry null from a flag). In a config file `false` is off too.
 */
export const portOrOff: TextType<number | 'off'> = {
  argument: 'N|off',
  parseText: (text) => (text.trim().toLowerCase() === 'off' ? 'off' : port.parseText(text)),
  parseConfig: (value) => (value === false ? 'off' : typeof value === 'string' ? portOrOff.parseText(value) : typeof value === 'number' ? port.check(value) : notTaken(value)),
  check: (value) => (value === 'off' ? 'off' : port.check(value)),
  toConfig: (value) => value,
  show: String,
};

/** `on` or `off` (in a config file `true` or `false` too). */
export const onOff: TextType<boolean> = {
  argument: 'on|off',
  parseText: (text) => {
    const choice = text.trim().toLowerCase();
    if (choice === 'on') return true;
    if (choice === 'off') return false;
    throw new InvalidValue(`"${text}" is not one of on, off`);
  },
  parseConfig: (value) => (typeof value === 'boolean' ? value : typeof value === 'string' ? onOff.parseText(value) : notTaken(value)),
  check: (value) => {
    if (typeof value !== 'boolean') throw new InvalidValue(`${quoted(value)} is not true or false`);
    return value;
  },
  toConfig: (value) => (value ? 'on' : 'off'),
  show: (value) => (value ? 'on' : 'off'),
};

function stringType(argument: string, parseText: (text: string) => string): TextType<string> {
  return {
    argument,
    parseText,
    parseConfig: (value) => (typeof value === 'string' ? parseText(value) : notTaken(value)),
    check: (value) => {
      if (typeof value !== 'string') throw new InvalidValue(`${quoted(value)} is not text`);
      return value;
    },
    toConfig: (value) => value,
    show: (value) => value,
  };
}

export function text(argument: string): TextType<string> {
  return stringType(argument, (value) => value);
}

/** An IPv4 address or range (a.b.c.d/n), checked when it is read. */
export const cidr: TextType<string> = stringType('CIDR', (value) => {
  const parsed = parseCidr(value);
  if (typeof parsed === 'string') throw new InvalidValue(parsed);
  return parsed.text;
});

/** A file made absolute against the working directory, or "" for none (shown as `none`). */
export function optionalPath(argument: string): TextType<string> {
  const type = stringType(argument, (value) => (value === '' ? '' : resolve(value)));
  return { ...type, show: (value) => (value === '' ? 'none' : value) };
}

/** A directory or file, made absolute against the working directory. */
export function path(argument: string): TextType<string> {
  return stringType(argument, (value) => resolve(value));
}

export function oneOf<const Choice extends string>(choices: readonly Choice[], argument: string): TextType<Choice> {
  const isChoice = (value: unknown): value is Choice => (choices as readonly unknown[]).includes(value);
  const check = (value: unknown): Choice => {
    if (!isChoice(value)) throw new InvalidValue(`${quoted(value)} is not one of ${choices.join(', ')}`);
    return value;
  };
  const parseText = (text: string): Choice => {
    const choice = text.trim().toLowerCase();
    if (!isChoice(choice)) throw new InvalidValue(`"${text}" is not one of ${choices.join(', ')}`);
    return choice;
  };
  return {
    argument,
    parseText,
    parseConfig: (value) => (typeof value === 'string' ? parseText(value) : notTaken(value)),
    check,
    toConfig: (value) => value,
    show: (value) => value,
  };
}

type ValueOf<F> = F extends ValueType<infer T> ? T : never;
export type RecordValue<Fields extends Record<string, ValueType<unknown>>> = { [K in keyof Fields]: ValueOf<Fields[K]> };

/** A mapping with exactly these fields, each of its own type: only a config file can hold one. */
export function record<const Fields extends Record<string, ValueType<unknown>>>(fields: Fields): ValueType<RecordValue<Fields>> {
  const names = Object.keys(fields);
  const read = (value: unknown, take: (type: ValueType<unknown>, field: unknown) => unknown): RecordValue<Fields> => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new InvalidValue(`${quoted(value)} is not a mapping of ${names.join(', ')}`);
    }
    const given = value as Record<string, unknown>;
    for (const name of Object.keys(given)) {
      if (Object.hasOwn(fields, name)) continue;
      const suggestion = closestName(name, names);
      throw new InvalidValue(`unknown field "${name}"${suggestion ? ` (did you mean "${suggestion}"?)` : ''}`);
    }
    const result: Record<string, unknown> = {};
    for (const [name, type] of Object.entries(fields)) {
      if (!Object.hasOwn(given, name)) throw new InvalidValue(`missing "${name}"`);
      result[name] = at(`.${name}`, () => take(type, given[name]));
    }
    return result as RecordValue<Fields>;
  };
  return {
    argument: `{${names.join(', ')}}`,
    parseConfig: (value) => read(value, (type, field) => type.parseConfig(field)),
    check: (value) => read(value, (type, field) => type.check(field)),
    toConfig: (value) => Object.fromEntries(Object.entries(fields).map(([name, type]) => [name, type.toConfig(value[name])])),
    show: (value) => JSON.stringify(value),
  };
}

export interface PortRange {
  low: number;
  high: number;
}

const portRangeFields = record({ low: port, high: port });

function ordered<Range extends PortRange>(range: Range): Range {
  if (range.low > range.high) throw new InvalidValue(`${range.low} is above ${range.high}`);
  return range;
}

function parsePortRange(text: string): PortRange {
  const match = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(text);
  if (!match) throw new InvalidValue(`"${text}" is not a range LOW-HIGH`);
  return ordered({ low: port.parseText(match[1]!), high: port.parseText(match[2]!) });
}

/** "9000-9999", or in a config file {low: 9000, high: 9999} too. */
export const portRange: TextType<PortRange> = {
  argument: 'LOW-HIGH',
  parseText: parsePortRange,
  parseConfig: (value) => (typeof value === 'string' ? parsePortRange(value) : ordered(portRangeFields.parseConfig(value))),
  check: (value) => ordered(portRangeFields.check(value)),
  toConfig: (range) => `${range.low}-${range.high}`,
  show: (range) => `${range.low}-${range.high}`,
};

export interface PortSeries {
  low: number;
  high: number;
  step: number;
}

const portSeriesFields = record({ low: port, high: port, step: wholeNumber({ min: 1, max: 65534 }) });

function parsePortSeries(text: string): PortSeries {
  const match = /^\s*(\d+)\s*(?:-\s*(\d+)\s*(?:\/\s*(\d+)\s*)?)?$/.exec(text);
  if (!match) throw new InvalidValue(`"${text}" is not a port, LOW-HIGH or LOW-HIGH/STEP`);
  const low = port.parseText(match[1]!);
  const high = match[2] === undefined ? low : port.parseText(match[2]);
  const step = match[3] === undefined ? 1 : portSeriesFields.check({ low, high, step: Number(match[3]) }).step;
  return ordered({ low, high, step });
}

const showSeries = ({ low, high, step }: PortSeries) => (low === high ? String(low) : `${low}-${high}${step === 1 ? '' : `/${step}`}`);

/** "50000-59900/100" (every 100th port), "50000-50009", or "50000"; in a config file {low, high, step} too. */
export const portSeries: TextType<PortSeries> = {
  argument: 'LOW-HIGH/STEP',
  parseText: parsePortSeries,
  parseConfig: (value) => (typeof value === 'string' ? parsePortSeries(value) : typeof value === 'number' ? parsePortSeries(String(value)) : ordered(portSeriesFields.parseConfig(value))),
  check: (value) => ordered(portSeriesFields.check(value)),
  toConfig: showSeries,
  show: showSeries,
};

/** Every port of the series, in order. */
export function portsOf({ low, high, step }: PortSeries): number[] {
  const ports: number[] = [];
  for (let next = low; next <= high; next += step) ports.push(next);
  return ports;
}

/** A list: "a,b" ("" for none) on the command line, a list in a config file, each item checked by its own type. */
export function list<T>(item: TextType<T>): TextType<T[]>;
export function list<T>(item: ValueType<T>): ValueType<T[]>;
export function list<T>(item: ValueType<T> | TextType<T>): ValueType<T[]> | TextType<T[]> {
  const each = (value: unknown, take: (item: unknown) => T): T[] => {
    if (!Array.isArray(value)) throw new InvalidValue(`${quoted(value)} is not a list`);
    return value.map((entry, index) => at(`[${index}]`, () => take(entry)));
  };
  const parseText = 'parseText' in item ? (text: string) => (text.trim() === '' ? [] : text.split(',').map((part) => item.parseText(part))) : undefined;
  const type: ValueType<T[]> = {
    argument: `${item.argument},...`,
    parseConfig: (value) => (typeof value === 'string' && parseText ? parseText(value) : each(value, (entry) => item.parseConfig(entry))),
    check: (value) => each(value, (entry) => item.check(entry)),
    toConfig: (values) => values.map((value) => item.toConfig(value)),
    show: (values) => (values.length === 0 ? 'none' : values.map((value) => item.show(value)).join(',')),
  };
  return parseText ? { ...type, parseText } : type;
}

/** For commands outside the settings table (the admin commands, simulate): parsers whose errors name their flag. */
function keyed<T>(parse: (text: string) => T): (key: string, text: string) => T {
  return (key, text) => {
    try {
      return parse(text);
    } catch (err) {
      throw err instanceof InvalidValue ? err.named(key) : err;
    }
  };
}

export const parsePort = keyed(port.parseText);

/** "127.0.0.1:9001" */
export const parseHostPort = keyed((text): { host: string; port: number } => {
  const match = /^(.+):(\d+)$/.exec(text.trim());
  if (!match) throw new InvalidValue(`"${text}" is not HOST:PORT`);
  return { host: match[1]!, port: port.parseText(match[2]!) };
});
