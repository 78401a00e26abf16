/**
 * A tempID, processor id or parameter name as one part of an OSC address. [PROTOCOL §18]
 *
 * OSC 1.0 allows only printable ASCII in an address and forbids space # * , / ? [ ] { } there; the same
 * part is also a URL path segment (GET /plugins/<part>), where " < > \ ^ ` | are rewritten by clients.
 * Each byte of the part's UTF-8 outside that safe set, and `%` itself, becomes `%XX` (uppercase hex),
 * so every escaped part is a valid OSC address part, survives a URL unchanged, and decodes back exactly.
 */
const ESCAPED_PRINTABLE = new Set(Array.from(' #*,/?[]{}%"<>\\^`|', (char) => char.charCodeAt(0)));

function isKept(byte: number): boolean {
  return byte > 0x20 && byte < 0x7f && !ESCAPED_PRINTABLE.has(byte);
}

export function escapeAddressPart(part: string): string {
  let escaped = '';
  for (const byte of Buffer.from(part, 'utf8')) {
    escaped += isKept(byte) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return escaped;
}

/** The inverse of `escapeAddressPart`; null for a part it could not have produced. */
export function unescapeAddressPart(escaped: string): string | null {
  const bytes: number[] = [];
  for (let index = 0; index < escaped.length; index++) {
    const code = escaped.charCodeAt(index);
    if (code === 0x25) {
      const hex = escaped.slice(index + 1, index + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) return null;
      bytes.push(parseInt(hex, 16));
      index += 2;
    } else if (isKept(code)) {
      bytes.push(code);
    } else {
      return null;
    }
  }
  const decoded = Buffer.from(bytes);
  const text = decoded.toString('utf8');
  return Buffer.from(text, 'utf8').equals(decoded) ? text : null;
}

/** An OSC 1.0 address: `/`-separated non-empty parts of printable ASCII, none of space # * , / ? [ ] { }. */
export function isValidOscAddress(address: string): boolean {
  return /^(\/[!"$%&'()+\-.0-9:;<=>@A-Z\\^_`a-z|~]+)+$/.test(address);
}
