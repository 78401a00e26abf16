import type { Clock } from './leases/lease.js';
import type { OscMessage } from './osc/codec.js';
import * as wire from './osc/wire.js';

export type ProbeResult =
  | { port: number; answered: true; tempId: string; rttMs: number }
  | { port: number; answered: false; timeoutMs: number };

/**
 * Probes asked for from the CLI (`oscport probe <port>`): the same query_rms,
 * with a nonce of its own, answered to whoever asked. They only report; the
 * leases' own probes decide who holds a port.
 */
export class AdminProbes {
  private readonly pending = new Map<string, { port: number; sentAt: number; done: (result: ProbeResult) => void }>();

  constructor(
    private readonly clock: Clock,
    private readonly send: (message: OscMessage, host: string, port: number) => void,
    private readonly createNonce: () => string,
    private readonly timeoutMs: number,
  ) {}

  probe(host: string, port: number): Promise<ProbeResult> {
    const nonce = this.createNonce();
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => {
        this.pending.delete(nonce);
        resolve({ port, answered: false, timeoutMs: this.timeoutMs });
      }, this.timeoutMs);
      this.pending.set(nonce, {
        port,
        sentAt: this.clock.now(),
        done: (result) => {
          this.clock.clearTimeout(timer);
          resolve(result);
        },
      });
      this.send(wire.queryRms(nonce), host, port);
    });
  }

  /** True when the answer was to one of these probes, and so is consumed. */
  answer(nonce: string, tempId: string): boolean {
    const probe = this.pending.get(nonce);
    if (!probe) return false;
    this.pending.delete(nonce);
    const rttMs = Math.round((this.clock.now() - probe.sentAt) * 100) / 100;
    probe.done({ port: probe.port, answered: true, tempId, rttMs });
    return true;
  }
}
