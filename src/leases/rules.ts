import type { Claim, LeaseEvent, LeaseSettings, LeaseStateName } from '../../machines/lease.js';
import type { PortConfirmation } from '../osc/wire.js';
import type { PortState } from './pool.js';

/**
 * The lease rules, in one place: plain functions from facts to verdicts, unit-tested from tables
 * of cases without a coordinator. The lease machine decides what an event means for one lease;
 * these decide which lease an arrival concerns and which event it gets: who may ask, whose
 * confirmation counts, who may claim a port, and who wins when two instances answer for one.
 * The registry gathers the facts, carries out the verdict, and reads no lease state of its own.
 */

/** What the rules read of a lease: the registry's mirror of its machine's state. */
export interface LeaseFacts {
  readonly tempId: string;
  readonly state: LeaseStateName;
  /** The port it holds (offered, being verified, or bound); -1 when none. */
  readonly port: number;
  /** Restored from the journal and not verified again yet. */
  readonly restored: boolean;
  readonly endpoint: { readonly key: string } | undefined;
  /** The address its request came from: only that host may ask, confirm or release for it. */
  readonly origin: string;
}

/** An event for the lease of the named tempID. */
export interface Order {
  to: string;
  event: LeaseEvent;
}

/** Room for one more lease in the instance table: free, after the oldest never-verified lease is evicted, or none. */
export type Room = 'free' | 'evict' | 'none';

/** A new lease to make; `evict` first makes room by evicting the oldest lease never verified. */
export interface Admission {
  evict: boolean;
}

const admission = (room: Room): Admission | undefined => (room === 'none' ? undefined : { evict: room === 'evict' });

// ---- requests [PROTOCOL §1, §3] ----

export interface RequestFacts {
  /** The lease of the tempID that asks, if it has one. */
  known: LeaseFacts | undefined;
  /** The address the request came from. */
  from: string;
  /** Instances waiting at the request's response endpoint, the one whose offer is out included. */
  waiting: number;
  maxWaiting: number;
  room: Room;
  instances: number;
}

export type RequestVerdict =
  /** A known tempID asking from another host than its request: nothing changes. */
  | { kind: 'elsewhere' }
  /** A known instance asking again, from the request's endpoint (which may be new). */
  | { kind: 'again'; order: Order }
  | { kind: 'busy'; detail: string }
  | { kind: 'admit'; admission: Admission };

export function judgeRequest(tempId: string, endpointKey: string, facts: RequestFacts): RequestVerdict {
  const { known, from } = facts;
  if (known && known.origin !== from) return { kind: 'elsewhere' };
  if (known) return { kind: 'again', order: { to: tempId, event: { type: 'REQUEST_AGAIN' } } };
  // [PROTOCOL §2] `busy`: a flood at one endpoint must not lock out plugins at others.
  if (facts.waiting >= facts.maxWaiting) return { kind: 'busy', detail: `${facts.waiting} instances already wait at ${endpointKey}` };
  const admitted = admission(facts.room);
  if (!admitted) return { kind: 'busy', detail: `coordinator already tracks ${facts.instances} instances, all verified` };
  return { kind: 'admit', admission: admitted };
}

// ---- sweep answers [PROTOCOL §16] ----

/**
 * An instance that answered a sweep of a response port waits there for an assignment: its one
 * request was lost (or sent before the coordinator ran). It counts as that request when nothing
 * is under way for it: no lease, a lease known only from a confirmation, or one restored and not
 * proved again. Anything else (an offer out, a queue place, a verification, a bound port) is
 * already its request's path, and an assignment sent now could only cross it.
 */
export function sweepAnswerIsRequest(known: LeaseFacts | undefined): boolean {
  return known === undefined || known.state === 'adopted' || (known.state === 'verifying' && known.restored);
}

// ---- confirmations [PROTOCOL §3, §4] ----

/** Where a port stands in the books. */
export interface PortStanding {
  pool: PortState;
  /** The lease credited with it. */
  holder: LeaseFacts | undefined;
  /** The endpoint it was last offered at. */
  lastOfferKey: string | undefined;
}

export type ConfirmVerdict =
  /** A port outside the pool: invalid. */
  | { kind: 'invalid' }
  | { kind: 'ignore'; why: string }
  /** The event for the confirming lease, made first (`admission`) for an instance never seen. */
  | { kind: 'deliver'; order: Order; admission: Admission | undefined };

export function judgeConfirmation(confirmation: PortConfirmation, from: string, confirmer: LeaseFacts | undefined, standing: PortStanding, room: Room): ConfirmVerdict {
  const { tempId, port, status } = confirmation;
  if (standing.pool === 'outside' || standing.pool === 'reserved') return { kind: 'invalid' };
  if (confirmer && confirmer.origin !== from) return { kind: 'ignore', why: `from ${from}, not ${confirmer.origin} where its request came from` };
  const claim = confirmer?.port === port ? 'none' : claimOf(standing, confirmer, from);
  const event: LeaseEvent = status === 'bound' ? { type: 'CONFIRMED', port, claim } : { type: 'BIND_FAILED', port, claim };
  if (confirmer) return { kind: 'deliver', order: { to: tempId, event }, admission: undefined };
  // An instance never seen is adopted only on its word that it bound a port someone could give it.
  if (status === 'failed' || claim === 'none') return { kind: 'ignore', why: 'unknown instance' };
  const admitted = admission(room);
  if (!admitted) return { kind: 'ignore', why: 'too many instances to adopt an unknown one' };
  return { kind: 'deliver', order: { to: tempId, event }, admission: admitted };
}

/**
 * Where a port named in a confirmation stands for the lease that names it, when it is not that
 * lease's own port. `confirmer` is undefined for an instance never seen, whose endpoint is only
 * known to be on the host it speaks from. [PROTOCOL §3, §4]
 */
export function claimOf(standing: PortStanding, confirmer: LeaseFacts | undefined, from: string): Claim {
  const atItsEndpoint = (key: string | undefined) =>
    key !== undefined && (confirmer ? confirmer.endpoint?.key === key : key.slice(0, key.lastIndexOf(':')) === from);
  const { holder } = standing;
  if (holder !== undefined) {
    if (holder.tempId === confirmer?.tempId) return 'none';
    return holder.state === 'assigned' ? (atItsEndpoint(holder.endpoint?.key) ? 'offer' : 'none') : 'held';
  }
  if (standing.pool === 'quarantined') return atItsEndpoint(standing.lastOfferKey) ? 'set-aside' : 'none';
  return standing.pool === 'free' ? 'free' : 'none';
}

// ---- probe answers [PROTOCOL §5, §9, §16] ----

export interface ProbeFacts {
  port: number;
  /** The lease that probed its port; undefined when a sweep of the pool probed it. */
  prober: LeaseFacts | undefined;
  /** The lease credited with the port when the answer came. */
  holder: LeaseFacts | undefined;
  /** Who answered, and their lease if they have one. */
  answeredBy: string;
  answerer: LeaseFacts | undefined;
  room: Room;
}

export interface ProbeVerdict {
  /**
   * own: the prober answered; taken: another instance receives there; untracked: one the table has
   * no room for; moot: a sweep's answer for a port credited since (its holder's own probes decide).
   */
  kind: 'own' | 'taken' | 'untracked' | 'moot';
  /** A lease to make first for the answerer, an instance never seen. */
  admission: Admission | undefined;
  /** The port is credited to this tempID. */
  creditTo: string | undefined;
  /** Nobody is credited, and the port is kept out of circulation for a while. */
  setAside: boolean;
  /** In order, after the books are changed. */
  orders: Order[];
}

/**
 * Only the port decides who holds it: the instance that answers a probe sent there receives there
 * now (the newest SO_REUSEADDR socket gets every datagram). It is credited with the port; whoever
 * held it loses it, and so does the prober if it was only challenging for it.
 */
export function judgeProbeAnswer(facts: ProbeFacts): ProbeVerdict {
  const { port, prober, holder, answeredBy, answerer } = facts;
  const lost = (lease: LeaseFacts): Order => ({ to: lease.tempId, event: { type: 'PORT_LOST', port, heldBy: answeredBy } });
  const loser = holder && holder.tempId !== answeredBy ? [lost(holder)] : [];
  if (prober && prober.tempId === answeredBy) {
    return { kind: 'own', admission: undefined, creditTo: answeredBy, setAside: false, orders: [...loser, { to: answeredBy, event: { type: 'PROBE_ANSWERED' } }] };
  }
  if (!prober && holder) return { kind: 'moot', admission: undefined, creditTo: undefined, setAside: false, orders: [] };
  const challenger = prober && prober.tempId !== holder?.tempId ? [lost(prober)] : [];
  const admitted = answerer ? undefined : admission(facts.room);
  if (!answerer && !admitted) {
    // Someone the coordinator cannot track receives there: nobody keeps the port, which stays out of circulation a while.
    return { kind: 'untracked', admission: undefined, creditTo: undefined, setAside: true, orders: [...loser, ...challenger] };
  }
  return {
    kind: 'taken',
    admission: admitted,
    creditTo: answeredBy,
    setAside: false,
    orders: [...loser, ...challenger, { to: answeredBy, event: { type: 'PORT_PROVEN', port } }],
  };
}

// ---- arithmetic on settings and times ----

/** One liveness check of a bound lease: `livenessProbes` probes, each wait doubling. [PROTOCOL §9] */
export function checkDurationMs(settings: Pick<LeaseSettings, 'probeTimeoutMs' | 'livenessProbes'>): number {
  return settings.probeTimeoutMs * (2 ** settings.livenessProbes - 1);
}

/**
 * [PROTOCOL §8] How long a restored lease may stay unanswered: until a liveness window after its
 * last sign of life before the restart (so restarting often never extends it), but never less
 * than one liveness check.
 */
export function restoredLifetimeMs(
  settings: Pick<LeaseSettings, 'probeTimeoutMs' | 'livenessProbes'> & { livenessIntervalMs: number },
  lastSeenWall: number,
  nowWall: number,
): number {
  const check = checkDurationMs(settings);
  return Math.max(lastSeenWall + settings.livenessIntervalMs + check - nowWall, check);
}

/** [PROTOCOL §1, §8] The port an instance asks for, else the one it held last (affinity), else none (-1). */
export function preferredPort(requested: number, remembered: number | undefined): number {
  return requested > 0 ? requested : (remembered ?? -1);
}
