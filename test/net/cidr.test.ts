import { describe, expect, it } from 'vitest';
import { isAllowed, parseCidr, type Cidr } from '../../src/net/cidr.js';

const ranges = (...texts: string[]) => texts.map((text) => parseCidr(text) as Cidr);

describe('controllers allowed by address [PROTOCOL §11]', () => {
  it('loopback is always allowed, nothing else by default', () => {
    for (const address of ['127.0.0.1', '127.9.9.9', '::1', '::ffff:127.0.0.1']) expect(isAllowed(address, [])).toBe(true);
    for (const address of ['192.168.1.40', '10.0.0.1', '::ffff:192.168.1.40', 'fe80::1']) expect(isAllowed(address, [])).toBe(false);
  });

  it('a range allows the addresses inside it, and only those', () => {
    const lan = ranges('192.168.1.0/24', '10.0.0.7');
    expect(isAllowed('192.168.1.40', lan)).toBe(true);
    expect(isAllowed('::ffff:192.168.1.200', lan)).toBe(true);
    expect(isAllowed('192.168.2.40', lan)).toBe(false);
    expect(isAllowed('10.0.0.7', lan)).toBe(true);
    expect(isAllowed('10.0.0.8', lan)).toBe(false);
    expect(isAllowed('0.0.0.0', ranges('0.0.0.0/0'))).toBe(true);
  });

  it.each([
    ['192.168.1', 'is not an IPv4 address or range'],
    ['300.1.1.1/8', 'has an octet above 255'],
    ['10.0.0.0/33', 'has a prefix longer than 32 bits'],
    ['lan', 'is not an IPv4 address or range'],
  ])('refuses %s: %s', (text, reason) => {
    expect(parseCidr(text)).toContain(reason);
  });
});
