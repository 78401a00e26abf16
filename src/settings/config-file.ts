import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { describeSystemError } from '../system-errors.js';

export class ConfigFileError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`config file ${path}: ${message}`);
    this.name = 'ConfigFileError';
  }
}

/** Reads a JSON or YAML config file into its settings, by name; the format follows the extension. */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigFileError(path, `cannot read it: ${describeSystemError(err)}`);
  }
  const data = extname(path).toLowerCase() === '.json' ? parseJson(path, text) : parseYamlFile(path, text);
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) throw new ConfigFileError(path, 'must be a mapping of setting names to values');
  return data as Record<string, unknown>;
}

function parseJson(path: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    // JSON.parse gives a position for some mistakes only (not for a comment, or a value left out): find it.
    const found = firstJsonError(text);
    if (found === undefined) throw new ConfigFileError(path, `not valid JSON: ${(err as Error).message}`);
    const { line, column } = lineAndColumn(text, found.offset);
    throw new ConfigFileError(path, `not valid JSON at line ${line}, column ${column}: ${found.reason}`);
  }
}

function parseYamlFile(path: string, text: string): unknown {
  try {
    return parseYaml(text);
  } catch (err) {
    const firstLine = (err as Error).message.split('\n')[0]!;
    if (!(err instanceof YAMLParseError) || err.linePos === undefined) throw new ConfigFileError(path, `not valid YAML: ${firstLine}`);
    const [{ line, col }] = err.linePos;
    // The parser ends its message with "at line L, column C:" and an excerpt: the position goes first instead, as for JSON.
    throw new ConfigFileError(path, `not valid YAML at line ${line}, column ${col}: ${firstLine.replace(/ at line \d+, column \d+:?$/, '')}`);
  }
}

/** 1-based line and column (in characters) of `offset` in `text`. */
function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  return { line: before.split('\n').length, column: offset - (before.lastIndexOf('\n') + 1) + 1 };
}

class JsonStop extends Error {
  constructor(
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`${reason} at offset ${offset}`);
  }
}

/**
 * Where a text first breaks the JSON grammar (RFC 8259), and why; undefined if it does not. A
 * recursive descent that stops at the first character it cannot take.
 */
function firstJsonError(text: string): { offset: number; reason: string } | undefined {
  let at = 0;
  const stop = (reason: string): never => {
    throw new JsonStop(at, reason);
  };
  const space = () => {
    while (at < text.length && ' \t\n\r'.includes(text[at]!)) at++;
  };
  const take = (pattern: RegExp): boolean => {
    pattern.lastIndex = at;
    if (!pattern.test(text)) return false;
    at = pattern.lastIndex;
    return true;
  };
  const string = () => {
    for (at++; ; ) {
      if (at >= text.length) stop('the string has no closing "');
      const char = text[at]!;
      if (char.charCodeAt(0) < 0x20) stop('a control character inside a string (a line break is written \\n)');
      at++;
      if (char === '"') return;
      if (char === '\\' && !take(/["\\/bfnrt]|u[0-9a-fA-F]{4}/y)) stop('a bad escape: a string takes \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX');
    }
  };
  const members = (close: string, member: () => void, what: string) => {
    at++;
    space();
    if (text[at] === close) {
      at++;
      return;
    }
    for (;;) {
      member();
      space();
      if (text[at] === close) {
        at++;
        return;
      }
      if (text[at] !== ',') stop(`expected ',' or '${close}' after ${what}`);
      at++;
      space();
    }
  };
  const value = (): void => {
    space();
    if (text[at] === '{') {
      members('}', () => {
        if (text[at] !== '"') stop('expected a property name in double quotes');
        string();
        space();
        if (text[at] !== ':') stop("expected ':' after the property name");
        at++;
        value();
      }, 'a property');
    } else if (text[at] === '[') members(']', value, 'an element');
    else if (text[at] === '"') string();
    else if (!take(/-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y)) {
      stop(at >= text.length ? 'the file ends where a value should be' : 'expected a value: a string in double quotes, a number, true, false, null, an object or an array');
    }
  };
  try {
    value();
    space();
    if (at < text.length) stop('more after the end of the value');
  } catch (err) {
    if (err instanceof JsonStop) return { offset: err.offset, reason: err.reason };
    throw err;
  }
  return undefined;
}

/** The closest known name, for "did you mean". */
export function closestName(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
