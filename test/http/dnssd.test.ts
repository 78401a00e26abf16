import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { Bonjour, type Service } from 'bonjour-service';
import { OSCQueryDiscovery, type DiscoveredService } from 'oscquery';
import { afterEach, describe, expect, it } from 'vitest';
import { testCoordinator } from '../helpers/coordinator.js';

/** Ports 27100-27149 of RANGES.http (the HTTP helper's tests take 27050-27099). */
const POOL = [27100, 27149] as const;

/**
 * An interface mDNS can use: up, not loopback (lo carries no MULTICAST flag on Linux), with an IPv4 address.
 * Linux says so in /sys/class/net/NAME/flags (IFF_MULTICAST = 0x1000); elsewhere an external interface is trusted.
 */
function multicastInterface(): { name: string; address: string } | undefined {
  for (const [name, addresses] of Object.entries(networkInterfaces())) {
    const ipv4 = addresses?.find((address) => address.family === 'IPv4' && !address.internal);
    if (!ipv4) continue;
    try {
      if ((parseInt(readFileSync(`/sys/class/net/${name}/flags`, 'utf8'), 16) & 0x1000) === 0) continue;
    } catch {
      // Not Linux: no flags to read.
    }
    return { name, address: ipv4.address };
  }
  return undefined;
}

const multicast = multicastInterface();
const title = multicast
  ? `DNS-SD over mDNS on ${multicast.name} [PROTOCOL §18]`
  : 'DNS-SD [PROTOCOL §18]: SKIPPED, no network interface here carries multicast (loopback does not), so nothing can browse mDNS';

const browsers: Bonjour[] = [];
const discoveries: OSCQueryDiscovery[] = [];
afterEach(() => {
  for (const browser of browsers.splice(0)) browser.destroy();
  for (const discovery of discoveries.splice(0)) discovery.stop();
});

describe.skipIf(!multicast)(title, () => {
  it('advertises _oscjson._tcp on the HTTP port and _osc._udp on the UDP port, under one name', async () => {
    const coordinator = await testCoordinator(POOL, { httpPort: 0, dnssd: true });
    const browser = new Bonjour();
    browsers.push(browser);
    const seen: Record<string, Service[]> = { oscjson: [], osc: [] };
    for (const [type, protocol] of [['oscjson', 'tcp'], ['osc', 'udp']] as const) {
      const found = browser.find({ type, protocol });
      found.on('up', (service) => seen[type]!.push(service));
    }
    await expect.poll(() => seen.oscjson!.map((service) => service.port), { timeout: 10_000 }).toContain(coordinator.http!.port);
    await expect.poll(() => seen.osc!.map((service) => service.port), { timeout: 10_000 }).toContain(coordinator.port);
    const oscjson = seen.oscjson!.find((service) => service.port === coordinator.http!.port)!;
    expect(oscjson.name).toMatch(/^oscport on /);
    expect(oscjson.host).toMatch(/\.local$/);
    expect(seen.osc!.find((service) => service.port === coordinator.port)!.name).toBe(oscjson.name);
  });

  it('is found and browsed by an independent OSCQuery client (npm oscquery\'s discovery)', async () => {
    // The answer to a query from this host names its loopback addresses, where the server listens by default.
    const coordinator = await testCoordinator(POOL, { httpPort: 0, dnssd: true });
    const discovery = new OSCQueryDiscovery();
    discoveries.push(discovery);
    const found: DiscoveredService[] = [];
    discovery.on('up', (service: DiscoveredService) => found.push(service));
    discovery.start();
    await expect.poll(() => found.find((service) => service.port === coordinator.http!.port), { timeout: 10_000 }).toBeDefined();
    const service = found.find((each) => each.port === coordinator.http!.port)!;
    expect(service.hostInfo).toMatchObject({ name: coordinator.studio.name, oscPort: coordinator.port, oscTransport: 'UDP' });
    expect(service.resolvePath('/aiplayer/request_port')).not.toBeNull();
  });
});
