import type { AtlasSummary } from './atlas/bridge.js';
import type { Counters } from './counters.js';

/** The coordinator's status, as `Coordinator.stats()` and `/coordinator/status` give it. [PROTOCOL §10] */

/** A port the coordinator was to own and could not: why, in the user's terms. */
export interface UnavailablePort {
  port: number;
  reason: string;
}

export interface CoordinatorStats {
  uptimeMs: number;
  /** The UDP ports it listens on (its own first), and the extra ones it could not get. [PROTOCOL §16] */
  ports: { listening: number[]; unavailable: UnavailablePort[] };
  dataDir: string | null;
  pool: { size: number; free: number; quarantined: number };
  leases: Record<string, number>;
  counters: Counters;
  receiveBuffer: { asked: number; granted: number };
  /** Background compactions of the lease journal, and the longest any of their steps held the event loop. */
  journal: { compactions: number; longestCompactionBlockMs: number } | null;
  /** The controllers registered now, `host:port`. [PROTOCOL §11] */
  controllers: string[];
  /** The Atlas bridge in counts (its lists are paged); null before the first processor. [PROTOCOL §10, §15] */
  atlas: AtlasSummary | null;
}
