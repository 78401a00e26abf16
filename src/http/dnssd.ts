import type { Logger } from '../log.js';

/**
 * Advertises OSCQuery (`_oscjson._tcp`) and the OSC port (`_osc._udp`) over DNS-SD [PROTOCOL §18].
 * A stub until the advertiser lands: advertises nothing.
 */
export async function advertise(_options: { name: string; httpPort: number; oscPort: number; logger: Logger }): Promise<{ close(): Promise<void> }> {
  return { close: async () => {} };
}
