import type { Clock } from '../clock.js';
import type { Counters } from '../counters.js';
import type { PluginLevels } from '../leases/levels.js';
import type { LeaseRegistry } from '../leases/registry.js';
import type { CoordinatorStats } from '../status.js';
import type { SendBytes, Source } from '../net/udp.js';
import type { DecodedMessage } from '../osc/codec.js';
import type { ProbeBook } from '../probes.js';
import type { RateLimitedLog } from '../rate-limited-log.js';
import type { SenderBudgets } from '../routing/budgets.js';
import type { Controllers } from '../routing/controllers.js';
import type { AtlasBridge } from '../atlas/bridge.js';
import type { CoordinatorSettings } from '../settings/index.js';

/** What a handler may touch. */
export interface Hub {
  leases: LeaseRegistry;
  /** Each lease's last rms, as its telemetry and rms report it. */
  levels: PluginLevels;
  probes: ProbeBook;
  controllers: Controllers;
  /** What each controller may still cost the plugins. */
  budgets: SenderBudgets;
  atlas: AtlasBridge;
  counters: Counters;
  /** Every line a datagram can cause goes through it. */
  log: RateLimitedLog;
  /** Bytes as they are: templates, encoded replies, forwarded datagrams. */
  send: SendBytes;
  clock: Clock;
  settings: Readonly<CoordinatorSettings>;
  /** The coordinator's status, as `oscport status` shows it. */
  status: () => CoordinatorStats;
}

/**
 * One OSC address's handler: the decoded message, and the datagram it came in, whose bytes from
 * `message.start` to `message.end` are the message itself (all of it, or one element of a bundle).
 */
export type Handler = (hub: Hub, message: DecodedMessage, datagram: Uint8Array, source: Source) => void;

/** Counts a well-formed message with the wrong arguments for its address, and logs it at a bounded rate. */
export function rejectInvalid(hub: Hub, address: string, source: Source, detail: string): void {
  hub.counters.invalid++;
  hub.log(`invalid ${address}`, 'warn', { source: `${source.address}:${source.port}`, detail }, `invalid ${address} dropped`);
}
