import { machineGraph, type MachineGraph } from '../../machines/graph.js';
import { leaseMachine } from '../../machines/lease.js';
import type { AtlasBridge } from '../atlas/bridge.js';
import type { Clock } from '../clock.js';
import type { PluginLevels } from '../leases/levels.js';
import type { LeaseRegistry } from '../leases/registry.js';
import type { Controllers } from '../routing/controllers.js';
import type { CoordinatorStats } from '../status.js';

/** Everything the studio's views show (the web view, OSCQuery, metrics), at one moment. [PROTOCOL §17] */
export interface StudioSnapshot {
  name: string;
  /** The coordinator's own UDP port. */
  oscPort: number;
  uptimeMs: number;
  pool: { size: number; free: number; held: number; quarantined: number };
  /** Live leases in each of the lease machine's states, every state named (zero included). */
  states: Record<string, number>;
  chart: MachineGraph;
  leases: StudioLease[];
  processors: StudioProcessor[];
  controllers: Array<{ address: string; standing: boolean }>;
  counters: CoordinatorStats['counters'];
  /** The Atlas bridge's counters; null before the first processor. */
  atlasCounters: Record<string, number> | null;
}

export interface StudioLease {
  tempId: string;
  trackId: string | null;
  port: number | null;
  /** As `oscport leases` shows it: requesting, assigned, verifying or bound. */
  state: string;
  ageMs: number;
  lastSeenMs: number | null;
  rttMs: number | null;
  /** The last level its telemetry or rms reported, 0..1; null before the first. */
  rms: number | null;
}

export interface StudioProcessor {
  id: string;
  host: string;
  port: number;
  /** Its TCP session: connecting, subscribing, connected, backoff or stopped. */
  state: string;
  connects: number;
  lastDown: string | null;
  meters: StudioMeter[];
}

export interface StudioMeter {
  param: string;
  /** The last reading sent on (dB for a meter); null before the first. */
  value: number | null;
  updatesPerSecond: number;
  consumers: number;
  device: 'pending' | 'active' | 'failed';
}

/** What moves between snapshots: each lease's level and each meter's reading (`processor/param`). */
export interface StudioLevels {
  rms: Record<string, number>;
  meters: Record<string, number>;
}

export interface StudioSources {
  name: string;
  clock: Clock;
  stats: () => CoordinatorStats;
  leases: LeaseRegistry;
  levels: PluginLevels;
  atlas: AtlasBridge;
  controllers: Controllers;
}

/** The coordinator as the studio's views read it: built on demand, never on the hot path. */
export class Studio {
  readonly chart = machineGraph(leaseMachine);

  constructor(private readonly sources: StudioSources) {}

  get name(): string {
    return this.sources.name;
  }

  snapshot(): StudioSnapshot {
    const { stats, leases, levels, atlas, controllers, name } = this.sources;
    const status = stats();
    const { size, free, quarantined } = status.pool;
    const states = Object.fromEntries(this.chart.states.map((state) => [state, 0]));
    for (const [state, count] of Object.entries(leases.countByMachineState())) states[state] = count ?? 0;
    return {
      name,
      oscPort: status.ports.listening[0]!,
      uptimeMs: status.uptimeMs,
      pool: { size, free, held: size - free - quarantined, quarantined },
      states,
      chart: this.chart,
      leases: leases.views().map(({ tempId, trackId, port, state, ageMs, lastSeenMs, rttMs }) => ({
        ...{ tempId, trackId, port, state, ageMs, lastSeenMs, rttMs },
        rms: levels.get(tempId) ?? null,
      })),
      processors: (atlas.status()?.processors ?? []).map((processor) => ({
        ...{ id: processor.id, host: processor.host, port: processor.tcpPort, state: processor.state, connects: processor.connects },
        lastDown: processor.lastDown ?? null,
        meters: processor.subscriptions.map((meter) => ({
          param: meter.param,
          value: atlas.lastReading(processor.id, meter.param),
          updatesPerSecond: meter.updatesPerSecond,
          consumers: meter.consumers,
          device: meter.state,
        })),
      })),
      controllers: controllers.list().map((controller) => ({ address: controller.key, standing: controllers.isStanding(controller.key) })),
      counters: status.counters,
      atlasCounters: status.atlas ? { ...status.atlas.counters } : null,
    };
  }

  /** Every live lease's level and every subscribed meter's reading, as they are now. */
  levels(): StudioLevels {
    const rms = Object.fromEntries(this.pluginLevels());
    const meters: Record<string, number> = {};
    for (const { processor, param, value } of this.meterReadings()) meters[`${processor}/${param}`] = value;
    return { rms, meters };
  }

  /** Each live lease's last level, by tempID. */
  pluginLevels(): IterableIterator<[string, number]> {
    return this.sources.levels.entries();
  }

  /** Each subscribed meter's last reading, its processor and parameter apart (either may hold a `/`). */
  meterReadings(): Array<{ processor: string; param: string; value: number }> {
    const { atlas } = this.sources;
    const readings: Array<{ processor: string; param: string; value: number }> = [];
    for (const { processor, param } of atlas.meterList()) {
      const value = atlas.lastReading(processor, param);
      if (value !== null) readings.push({ processor, param, value });
    }
    return readings;
  }
}
