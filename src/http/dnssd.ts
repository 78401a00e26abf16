import ciao, { type CiaoService, type Protocol } from '@homebridge/ciao';
import { hostname as hostname_ } from 'node:os';
import type { Logger } from '../log.js';

export interface DnssdOptions {
  /** The instance name browsers show (ciao appends " (2)" should another host already use it). */
  name: string;
  httpPort: number;
  oscPort: number;
  logger: Logger;
}

/**
 * Advertises the coordinator over mDNS: `_oscjson._tcp` on the HTTP port (OSCQuery clients look there) and
 * `_osc._udp` on its UDP port (VRChat wants both). [PROTOCOL §18] Discovery is a convenience: whatever ciao
 * says goes to the log, and the coordinator runs on without it.
 */
export async function advertise(options: DnssdOptions): Promise<{ close(): Promise<void> }> {
  const { name, httpPort, oscPort, logger } = options;
  let responder: ReturnType<typeof ciao.getResponder>;
  try {
    responder = ciao.getResponder();
  } catch (error) {
    logger.warn({ err: error }, 'DNS-SD unavailable: the coordinator is not advertised');
    return { close: async () => {} };
  }
  // One host name for both: left to ciao, each service derives its own from `name`, and the second's probe
  // then meets the first's address records and renames itself "name (2)".
  const hostname = hostname_().replace(/\.local\.?$/, '').replace(/[^A-Za-z0-9-]/g, '-');
  const services: CiaoService[] = [];
  const offer = (type: string, protocol: 'tcp' | 'udp', port: number) => {
    try {
      const service = responder.createService({ name, type, protocol: protocol as Protocol, port, hostname });
      services.push(service);
      // Probing and announcing take a few seconds: the coordinator does not wait for them.
      service.advertise().then(
        () => logger.debug({ type: `_${type}._${protocol}`, port, name: service.getFQDN() }, 'DNS-SD advertised'),
        (error: unknown) => logger.warn({ err: error, type: `_${type}._${protocol}` }, 'DNS-SD advertisement failed'),
      );
    } catch (error) {
      logger.warn({ err: error, type: `_${type}._${protocol}` }, 'DNS-SD advertisement failed');
    }
  };
  offer('oscjson', 'tcp', httpPort);
  offer('osc', 'udp', oscPort);
  let closing: Promise<void> | undefined;
  return {
    close: () =>
      (closing ??= (async () => {
        // Goodbye packets first, so browsers drop us now rather than when the records expire.
        const ended = await Promise.allSettled(services.map((service) => service.destroy()));
        for (const result of ended) if (result.status === 'rejected') logger.warn({ err: result.reason }, 'DNS-SD goodbye failed');
        await responder.shutdown().catch((error: unknown) => logger.warn({ err: error }, 'DNS-SD responder shutdown failed'));
      })()),
  };
}
