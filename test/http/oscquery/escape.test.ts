import { describe, expect, it } from 'vitest';
import { escapeAddressPart, isValidOscAddress, unescapeAddressPart } from '../../../src/http/oscquery/escape.js';

describe('a tempID as an OSC address part [PROTOCOL §18]', () => {
  it.each([
    ['AIplayer_1a2b', 'AIplayer_1a2b'],
    ['AIplayer 1', 'AIplayer%201'],
    ['a/b', 'a%2Fb'],
    ['100%', '100%25'],
    ['#*,?[]{}', '%23%2A%2C%3F%5B%5D%7B%7D'],
    ['Kick "in"', 'Kick%20%22in%22'],
    ['é', '%C3%A9'],
    ['tab\there', 'tab%09here'],
    ['del\x7f', 'del%7F'],
    ['🎛', '%F0%9F%8E%9B'],
  ])('escapes %j as %j, and back', (part, escaped) => {
    expect(escapeAddressPart(part)).toBe(escaped);
    expect(unescapeAddressPart(escaped)).toBe(part);
    expect(isValidOscAddress(`/plugins/${escaped}`)).toBe(true);
  });

  it('round-trips every string, always into a valid address part that a URL leaves alone', () => {
    const alphabet = ['a', 'Z', '0', ' ', '#', '*', ',', '/', '?', '[', ']', '{', '}', '%', '"', '\\', '`', '|', '^', '<', '>', '~', '\0', '\n', '\x7f', 'é', 'ß', '漢', '🎛', '-', '.', '_'];
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 5000; round++) {
      const length = 1 + Math.floor(random() * 12);
      const part = Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]!).join('');
      const escaped = escapeAddressPart(part);
      expect(unescapeAddressPart(escaped)).toBe(part);
      expect(isValidOscAddress(`/plugins/${escaped}`), escaped).toBe(true);
      // URLs drop `.` and `..` segments (escaped or not): such a plugin is seen only in its parent's CONTENTS.
      if (part !== '.' && part !== '..') expect(new URL(`/plugins/${escaped}`, 'http://127.0.0.1:1').pathname).toBe(`/plugins/${escaped}`);
    }
  });

  it('refuses to unescape what escaping never produces', () => {
    expect(unescapeAddressPart('a b')).toBeNull();
    expect(unescapeAddressPart('%2')).toBeNull();
    expect(unescapeAddressPart('%2f')).toBeNull();
    expect(unescapeAddressPart('%FF')).toBeNull();
  });

  it('tells valid OSC addresses from invalid ones', () => {
    expect(isValidOscAddress('/aiplayer/request_port')).toBe(true);
    for (const bad of ['', '/', 'plugins', '/a//b', '/a b', '/a#', '/a*', '/a,b', '/a?', '/a[', '/a]', '/a{', '/a}', '/é', '/a\n']) {
      expect(isValidOscAddress(bad), bad).toBe(false);
    }
  });
});
