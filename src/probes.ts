import type { Clock } from './clock.js';
import type { Source } from './net/udp.js';
import type { ProbeAnswer } from './osc/wire.js';
import { createNonce } from './nonce.js';

export interface SentProbe {
  host: string;
  port: number;
  /** Clock time it was sent. */
  sentAt: number;
}

/** Whoever asked for a probe: a lease verifying its port, the CLI's `oscport probe`, a calibration gather. */
export interface ProbeAsker {
  /** Its nonces still accepted; `cancel` empties it. */
  readonly nonces: string[];
  answered(answer: ProbeAnswer, probe: SentProbe, source: Source): void;
}

/**
 * One book of probe nonces for every asker. A probe is `/aiplayer/query_rms ,s NONCE`; its answer
 * comes from the plugin's send-only socket, so it is matched by nonce alone, and each nonce is
 * single-use. [PROTOCOL §5]
 */
/** Nonces remembered once answered or cancelled, the most recent: a second answer with one is ours, not news. */
const SPENT_REMEMBERED = 8192;

export class ProbeBook {
  private readonly pending = new Map<string, SentProbe & { asker: ProbeAsker }>();
  private readonly spent = new Set<string>();

  constructor(
    private readonly clock: Clock,
    private readonly nextNonce: () => string = createNonce,
  ) {}

  /** Records a probe of host:port for `asker` and returns the nonce to send. */
  ask(asker: ProbeAsker, host: string, port: number): string {
    const nonce = this.nextNonce();
    this.pending.set(nonce, { asker, host, port, sentAt: this.clock.now() });
    asker.nonces.push(nonce);
    return nonce;
  }

  /** Hands the answer to whoever asked; false when it answers no probe of ours (ChattyChannels' own queries). */
  answer(answer: ProbeAnswer, source: Source): boolean {
    const probe = this.pending.get(answer.nonce);
    if (!probe) return false;
    this.pending.delete(answer.nonce);
    this.retire(answer.nonce);
    probe.asker.answered(answer, probe, source);
    return true;
  }

  /** A nonce of ours no longer accepted (answered already, or its wait over): an answer with it is late, or twice. */
  isSpent(nonce: string): boolean {
    return this.spent.has(nonce);
  }

  /** The asker's nonces are no longer accepted. */
  cancel(asker: ProbeAsker): void {
    for (const nonce of asker.nonces) if (this.pending.delete(nonce)) this.retire(nonce);
    asker.nonces.length = 0;
  }

  private retire(nonce: string): void {
    this.spent.add(nonce);
    if (this.spent.size > SPENT_REMEMBERED) this.spent.delete(this.spent.values().next().value!);
  }

  get size(): number {
    return this.pending.size;
  }
}
