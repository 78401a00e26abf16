/** IPv4 address ranges as `a.b.c.d/n` (a bare address is /32): who may be a controller. [PROTOCOL §11] */

export interface Cidr {
  readonly text: string;
  readonly base: number;
  readonly mask: number;
}

/** The range, or a reason it is not one. */
export function parseCidr(text: string): Cidr | string {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(text.trim());
  if (!match) return `"${text}" is not an IPv4 address or range (a.b.c.d/n)`;
  const octets = match.slice(1, 5).map(Number);
  if (octets.some((octet) => octet > 255)) return `"${text}" has an octet above 255`;
  const bits = match[5] === undefined ? 32 : Number(match[5]);
  if (bits > 32) return `"${text}" has a prefix longer than 32 bits`;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return { text: text.trim(), base: (toNumber(octets) & mask) >>> 0, mask };
}

/** 127.0.0.0/8 and ::1, as a socket reports a datagram's source. */
export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}

/** Loopback, or an address inside one of the ranges. */
export function isAllowed(address: string, ranges: readonly Cidr[]): boolean {
  if (isLoopback(address)) return true;
  if (ranges.length === 0) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  const parts = v4.split('.');
  if (parts.length !== 4) return false;
  const value = toNumber(parts.map(Number));
  return ranges.some(({ base, mask }) => ((value & mask) >>> 0) === base);
}

function toNumber(octets: readonly number[]): number {
  return ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0;
}
