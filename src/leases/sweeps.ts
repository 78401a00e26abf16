import type { LeaseStateName } from '../../machines/lease.js';
import type { Clock } from '../clock.js';
import type { Counters } from '../counters.js';
import { isLoopback } from '../net/cidr.js';
import type { PortCheck } from '../net/port-check.js';
import type { SendBytes, Source } from '../net/udp.js';
import * as templates from '../osc/templates.js';
import type { ProbeAnswer } from '../osc/wire.js';
import type { ProbeAsker, ProbeBook, SentProbe } from '../probes.js';
import type { RateLimitedLog } from '../rate-limited-log.js';
import type { Lease } from './lease.js';
import type { LeaseRegistry } from './registry.js';

/** Deployed plugins listen on every address: loopback reaches them all, and nobody off the host. */
const LOOPBACK = '127.0.0.1';

export interface SweepsOptions {
  leases: LeaseRegistry;
  probes: ProbeBook;
  send: SendBytes;
  portCheck: PortCheck;
  clock: Clock;
  counters: Counters;
  log: RateLimitedLog;
  /** Where deployed plugins wait for their assignment: 50000, 50100, ... 59900. */
  responsePorts: readonly number[];
  /** Between sweeps of the response ports; 0 sweeps them at start only. */
  intervalMs: number;
  /** How long answers to the sweep of the pool are accepted: a plugin in a loading DAW answers late. */
  answerWindowMs: number;
}

/**
 * [PROTOCOL §16] Finds the instances the coordinator never heard from, with the one question the
 * deployed plugin answers on whatever port it holds: `/aiplayer/query_rms ,s NONCE`.
 * - The response ports, at start and every `intervalMs`: an instance that answers there waits for
 *   an assignment, and its lost request is taken from the answer (the rules say when).
 * - The pool's ports that no lease holds, once at start: an instance that answers there is bound
 *   there, and the port becomes its lease (a journal lost, or another port manager before us).
 * On Linux only the ports some socket holds are asked (one read of /proc/net/udp); elsewhere all.
 * Every question carries its own nonce, single-use, as a probe's does: a forged answer changes nothing.
 */
export class Sweeps {
  /** The asker of each response port: a new question there retires the nonces of the one before. */
  private readonly askers = new Map<number, ProbeAsker>();
  /** Instances taken from a sweep, and the response port they were found at, until they leave their offer for good. */
  private readonly foundAt = new Map<string, number>();
  private poolAsker: ProbeAsker | undefined;
  private timers: unknown[] = [];
  private closed = false;

  constructor(private readonly options: SweepsOptions) {}

  start(): void {
    this.options.leases.on('change', this.onChange);
    void this.sweepPool();
    void this.sweepResponsePorts();
  }

  close(): void {
    this.closed = true;
    this.options.leases.off('change', this.onChange);
    for (const timer of this.timers) this.options.clock.clearTimeout(timer);
    for (const asker of this.askers.values()) this.options.probes.cancel(asker);
    if (this.poolAsker) this.options.probes.cancel(this.poolAsker);
  }

  private async sweepResponsePorts(): Promise<void> {
    const ports = await this.boundAmong(this.options.responsePorts);
    if (this.closed) return;
    for (const port of ports) this.askResponsePort(port);
    if (this.options.intervalMs > 0) this.later(() => void this.sweepResponsePorts(), this.options.intervalMs);
  }

  private async sweepPool(): Promise<void> {
    const { leases, probes } = this.options;
    const { pool } = leases;
    const unheld = (port: number) => leases.holderOf(port) === undefined && ['free', 'quarantined'].includes(pool.stateOf(port));
    const candidates: number[] = [];
    for (let port = pool.low; port <= pool.high; port++) if (unheld(port)) candidates.push(port);
    const ports = (await this.boundAmong(candidates)).filter(unheld);
    if (this.closed || ports.length === 0) return;
    const asker: ProbeAsker = {
      nonces: [],
      answered: (answer: ProbeAnswer, probe: SentProbe, source: Source) => {
        if (this.fromHost(answer, source)) leases.bindingFound(answer, probe, source);
      },
    };
    this.poolAsker = asker;
    for (const port of ports) this.ask(asker, port);
    this.later(() => probes.cancel(asker), this.options.answerWindowMs);
  }

  private askResponsePort(port: number): void {
    let asker = this.askers.get(port);
    if (asker) this.options.probes.cancel(asker);
    else {
      asker = { nonces: [], answered: (answer, _probe, source) => this.foundWaiting(answer, port, source) };
      this.askers.set(port, asker);
    }
    this.ask(asker, port);
  }

  private foundWaiting(answer: ProbeAnswer, port: number, source: Source): void {
    if (!this.fromHost(answer, source)) return;
    if (this.options.leases.sweepAnswered(answer.tempId, port, source)) this.foundAt.set(answer.tempId, port);
  }

  /**
   * An instance taken from a sweep left its offer (confirmed it, failed it, or another took it): on
   * a shared response port the next instance receives there now, so it is asked at once, and N
   * instances converge at the plugin's own pace rather than one per sweep.
   */
  private readonly onChange = (lease: Lease, wasState: LeaseStateName): void => {
    const port = this.foundAt.get(lease.tempId);
    if (port === undefined) return;
    if (lease.state !== 'requesting' && lease.state !== 'assigned') this.foundAt.delete(lease.tempId);
    if (lease.state !== 'assigned' && (wasState === 'assigned' || wasState === 'requesting') && !this.closed) this.askResponsePort(port);
  };

  private ask(asker: ProbeAsker, port: number): void {
    this.options.counters.sweepsSent++;
    this.options.send(templates.queryRms(this.options.probes.ask(asker, LOOPBACK, port)), LOOPBACK, port);
  }

  /** Sweeps ask on loopback: an answer from anywhere else is nobody a lease can be taken for. */
  private fromHost(answer: ProbeAnswer, source: Source): boolean {
    if (isLoopback(source.address)) return true;
    this.options.log('sweep_answer_elsewhere', 'warn', { tempId: answer.tempId, from: source.address }, 'sweep answered from off the host: ignored');
    return false;
  }

  /** The ones some socket holds, where the host can tell; all of them where it cannot. */
  private async boundAmong(ports: readonly number[]): Promise<number[]> {
    const { bound } = this.options.portCheck;
    if (!bound || ports.length === 0) return [...ports];
    try {
      const held = await bound();
      return ports.filter((port) => held.has(port));
    } catch (err) {
      this.options.log('sweep_bound_unknown', 'warn', { err }, 'bound ports unreadable: sweeping every port');
      return [...ports];
    }
  }

  private later(fn: () => void, ms: number): void {
    const timer = this.options.clock.setTimeout(() => {
      this.timers = this.timers.filter((t) => t !== timer);
      fn();
    }, ms);
    this.timers.push(timer);
  }
}
