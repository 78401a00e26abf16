import type { Clock } from '../clock.js';
import type { Counters } from '../counters.js';
import type { LeaseDirectory } from '../leases/directory.js';
import type { SendBytes } from '../net/udp.js';
import * as templates from '../osc/templates.js';
import type { ProbeAsker, ProbeBook } from '../probes.js';
import { rmsReply, type RmsAnswer } from './messages.js';

export interface GatherOptions {
  leases: LeaseDirectory & { keepAlive(id: string): string | undefined };
  probes: ProbeBook;
  send: SendBytes;
  clock: Clock;
  counters: Counters;
}

/** The longest a gather may wait for its answers. */
export const MAX_GATHER_MS = 10_000;

/**
 * [PROTOCOL §14] Calibration, fast: `/aiplayer/query_rms` to every bound plugin at once, each with a
 * nonce of the one probe book, and one answer to the controller as soon as every plugin answered
 * or the timeout passed, whichever comes first, naming the silent ones.
 */
export function gatherRms(options: GatherOptions, queryId: string, timeoutMs: number, replyTo: { address: string; port: number }, done: () => void): void {
  const { leases, probes, send, clock, counters } = options;
  const expected = new Map<number, { tempId: string; trackId: string | null; host: string }>();
  for (const lease of leases.bound()) expected.set(lease.port, { tempId: lease.tempId, trackId: lease.trackId, host: lease.host });
  const answers = new Map<number, RmsAnswer>();
  let timer: unknown;
  const finish = () => {
    clock.clearTimeout(timer);
    probes.cancel(asker);
    counters.gathers++;
    const silent = [...expected].filter(([port]) => !answers.has(port)).map(([port, { tempId, trackId }]) => ({ tempId, trackId, port }));
    const byPort = [...answers.values()].sort((a, b) => a.port - b.port);
    for (const part of rmsReply(queryId, byPort, silent)) send(part, replyTo.address, replyTo.port);
    done();
  };
  const asker: ProbeAsker = {
    nonces: [],
    answered: (answer, probe) => {
      // Counted once, under the lease the nonce was sent to, whoever answered with it.
      const lease = expected.get(probe.port)!;
      if (answers.has(probe.port)) return;
      leases.keepAlive(lease.tempId);
      answers.set(probe.port, { tempId: lease.tempId, trackId: lease.trackId, port: probe.port, rms: answer.rms });
      if (answers.size === expected.size) finish();
    },
  };
  if (expected.size === 0) {
    finish();
    return;
  }
  timer = clock.setTimeout(finish, Math.min(timeoutMs, MAX_GATHER_MS));
  for (const [port, { host }] of expected) send(templates.queryRms(probes.ask(asker, host, port)), host, port);
}
