import { isEnded } from '../../machines/lease.js';
import type { LeaseDirectory } from './directory.js';

/**
 * The last rms each live lease reported (its telemetry or rms, clamped to 0..1), for the web view
 * and OSCQuery. Written on the hot path, so a write is one map set; forgotten when the lease ends.
 */
export class PluginLevels {
  private readonly rms = new Map<string, number>();

  constructor(leases: LeaseDirectory) {
    leases.on('change', (lease) => {
      if (isEnded(lease.state)) this.rms.delete(lease.tempId);
    });
  }

  record(tempId: string, rms: number): void {
    if (Number.isFinite(rms)) this.rms.set(tempId, rms < 0 ? 0 : rms > 1 ? 1 : rms);
  }

  get(tempId: string): number | undefined {
    return this.rms.get(tempId);
  }

  entries(): IterableIterator<[string, number]> {
    return this.rms.entries();
  }
}
