import { describe, expect, it } from 'vitest';
import type { LeaseStateName } from '../../machines/lease.js';
import {
  claimOf,
  judgeConfirmation,
  judgeProbeAnswer,
  judgeRequest,
  sweepAnswerIsRequest,
  type LeaseFacts,
  type PortStanding,
  type ProbeFacts,
  type RequestFacts,
} from '../../src/leases/rules.js';

const HOST = '127.0.0.1';
const AT_50000 = `${HOST}:50000`;

/** A lease as the rules see it: on loopback, asked from 50000, unless told otherwise. */
function lease(tempId: string, state: LeaseStateName, more: Partial<LeaseFacts> = {}): LeaseFacts {
  return { tempId, state, port: -1, restored: false, endpoint: { key: AT_50000 }, origin: HOST, ...more };
}

describe('requests', () => {
  const facts = (more: Partial<RequestFacts>): RequestFacts => ({ known: undefined, from: HOST, waiting: 0, maxWaiting: 512, room: 'free', instances: 3, ...more });
  it.each([
    ['a new instance is admitted', facts({}), { kind: 'admit', admission: { evict: false } }],
    ['into a full table, after the oldest never verified is evicted', facts({ room: 'evict' }), { kind: 'admit', admission: { evict: true } }],
    ['a full endpoint answers busy', facts({ waiting: 512 }), { kind: 'busy', detail: `512 instances already wait at ${AT_50000}` }],
    ['a table full of verified leases answers busy', facts({ room: 'none' }), { kind: 'busy', detail: 'coordinator already tracks 3 instances, all verified' }],
    ['a known instance asks again', facts({ known: lease('p1', 'bound') }), { kind: 'again', order: { to: 'p1', event: { type: 'REQUEST_AGAIN' } } }],
    ['even past the caps', facts({ known: lease('p1', 'requesting'), waiting: 600, room: 'none' }), { kind: 'again', order: { to: 'p1', event: { type: 'REQUEST_AGAIN' } } }],
    ['a known tempID from another host changes nothing', facts({ known: lease('p1', 'bound'), from: '192.168.1.9' }), { kind: 'elsewhere' }],
  ])('%s', (_, given, verdict) => {
    expect(judgeRequest('p1', AT_50000, given)).toEqual(verdict);
  });
});

describe('sweep answers [PROTOCOL §16]', () => {
  it.each([
    ['no lease: its request was lost', undefined, true],
    ['known only from a confirmation', lease('p1', 'adopted', { endpoint: undefined }), true],
    ['restored and not proved again: back at its response port', lease('p1', 'verifying', { restored: true, port: 9005 }), true],
    ['waiting in the queue', lease('p1', 'requesting'), false],
    ['with an offer out', lease('p1', 'assigned', { port: 9005 }), false],
    ['being verified', lease('p1', 'verifying', { port: 9005 }), false],
    ['bound: an assignment now would move it', lease('p1', 'bound', { port: 9005 }), false],
  ])('%s: taken as a request is %s', (_, known, request) => {
    expect(sweepAnswerIsRequest(known)).toBe(request);
  });
});

describe('confirmations [PROTOCOL §3, §4]', () => {
  const standing = (more: Partial<PortStanding>): PortStanding => ({ pool: 'free', holder: undefined, lastOfferKey: undefined, ...more });
  const offeredTo = (tempId: string, key = AT_50000) => standing({ pool: 'taken', holder: lease(tempId, 'assigned', { port: 9007, endpoint: { key } }) });

  it.each([
    ['its own offer', lease('p1', 'assigned', { port: 9007 }), standing({ pool: 'taken', holder: lease('p1', 'assigned', { port: 9007 }) }), 'none'],
    ['another offer at its endpoint (crossed)', lease('p1', 'assigned', { port: 9005 }), offeredTo('p2'), 'offer'],
    ['another offer elsewhere', lease('p1', 'assigned', { port: 9005 }), offeredTo('p2', `${HOST}:50100`), 'none'],
    ['a port another lease verifies or holds', lease('p1', 'assigned', { port: 9005 }), standing({ pool: 'taken', holder: lease('p2', 'bound', { port: 9007 }) }), 'held'],
    ['set aside after an offer at its endpoint (late)', lease('p1', 'requesting'), standing({ pool: 'quarantined', lastOfferKey: AT_50000 }), 'set-aside'],
    ['set aside after an offer elsewhere', lease('p1', 'requesting'), standing({ pool: 'quarantined', lastOfferKey: `${HOST}:50100` }), 'none'],
    ['free', lease('p1', 'requesting'), standing({}), 'free'],
    ['an unknown instance, an offer at an endpoint on its host', undefined, offeredTo('p2'), 'offer'],
  ])('claim on %s: %s', (_, confirmer, given, claim) => {
    expect(claimOf(given, confirmer, HOST)).toBe(claim);
  });

  const bound = { tempId: 'p1', port: 9007, status: 'bound' } as const;
  const failed = { ...bound, status: 'failed' } as const;
  it.each([
    ['outside the pool', bound, undefined, standing({ pool: 'outside' }), 'free', { kind: 'invalid' }],
    ['a reserved port', bound, lease('p1', 'assigned'), standing({ pool: 'reserved' }), 'free', { kind: 'invalid' }],
    [
      'a known tempID from another host',
      bound,
      lease('p1', 'assigned', { origin: '192.168.1.9' }),
      standing({}),
      'free',
      { kind: 'ignore', why: `from ${HOST}, not 192.168.1.9 where its request came from` },
    ],
    [
      'its own offer',
      bound,
      lease('p1', 'assigned', { port: 9007 }),
      standing({ pool: 'taken', holder: lease('p1', 'assigned', { port: 9007 }) }),
      'none',
      { kind: 'deliver', order: { to: 'p1', event: { type: 'CONFIRMED', port: 9007, claim: 'none' } }, admission: undefined },
    ],
    [
      'a failure of a crossed offer',
      failed,
      lease('p1', 'assigned', { port: 9005 }),
      offeredTo('p2'),
      'none',
      { kind: 'deliver', order: { to: 'p1', event: { type: 'BIND_FAILED', port: 9007, claim: 'offer' } }, admission: undefined },
    ],
    [
      'an unknown instance on a free port is adopted',
      bound,
      undefined,
      standing({}),
      'evict',
      { kind: 'deliver', order: { to: 'p1', event: { type: 'CONFIRMED', port: 9007, claim: 'free' } }, admission: { evict: true } },
    ],
    ['an unknown instance, when nobody can be evicted', bound, undefined, standing({}), 'none', { kind: 'ignore', why: 'too many instances to adopt an unknown one' }],
    ['an unknown instance that failed', failed, undefined, standing({}), 'free', { kind: 'ignore', why: 'unknown instance' }],
    ['an unknown instance naming a port it could not have been given', bound, undefined, offeredTo('p2', '10.0.0.5:50000'), 'free', { kind: 'ignore', why: 'unknown instance' }],
  ] as const)('%s', (_, confirmation, confirmer, given, room, verdict) => {
    expect(judgeConfirmation(confirmation, HOST, confirmer, given, room)).toEqual(verdict);
  });
});

describe('probe answers: only the port decides who holds it [PROTOCOL §5, §9, §16]', () => {
  const P = 9007;
  const facts = (more: Partial<ProbeFacts>): ProbeFacts => ({ port: P, prober: undefined, holder: undefined, answeredBy: 'a', answerer: undefined, room: 'free', ...more });
  const lost = (to: string, heldBy: string) => ({ to, event: { type: 'PORT_LOST', port: P, heldBy } });
  const proven = (to: string) => ({ to, event: { type: 'PORT_PROVEN', port: P } });
  const prober = lease('p', 'verifying', { port: P });
  const holderBound = lease('h', 'bound', { port: P });

  it.each([
    ['the prober answers on its port', facts({ prober, holder: prober, answeredBy: 'p', answerer: prober }), { kind: 'own', creditTo: 'p', orders: [{ to: 'p', event: { type: 'PROBE_ANSWERED' } }] }],
    [
      'a challenger answers on a port another held',
      facts({ prober, holder: holderBound, answeredBy: 'p', answerer: prober }),
      { kind: 'own', creditTo: 'p', orders: [lost('h', 'p'), { to: 'p', event: { type: 'PROBE_ANSWERED' } }] },
    ],
    [
      'another known instance answers on the prober’s port',
      facts({ prober, holder: prober, answerer: lease('a', 'bound', { port: 9001 }) }),
      { kind: 'taken', creditTo: 'a', orders: [lost('p', 'a'), proven('a')] },
    ],
    [
      'an unknown instance answers: it is adopted there',
      facts({ prober, holder: prober }),
      { kind: 'taken', admission: { evict: false }, creditTo: 'a', orders: [lost('p', 'a'), proven('a')] },
    ],
    [
      'an unknown instance, with no room for it: the port is set aside',
      facts({ prober, holder: prober, room: 'none' }),
      { kind: 'untracked', creditTo: undefined, setAside: true, orders: [lost('p', 'a')] },
    ],
    [
      'a third instance answers a challenge: holder and challenger both lose',
      facts({ prober, holder: holderBound, answerer: lease('a', 'requesting') }),
      { kind: 'taken', creditTo: 'a', orders: [lost('h', 'a'), lost('p', 'a'), proven('a')] },
    ],
    [
      'the holder answers a challenge: it keeps the port, the challenger loses',
      facts({ prober, holder: holderBound, answeredBy: 'h', answerer: holderBound }),
      { kind: 'taken', creditTo: 'h', orders: [lost('p', 'h'), proven('h')] },
    ],
    [
      'an untracked instance answers a challenge: nobody keeps the port',
      facts({ prober, holder: holderBound, room: 'none' }),
      { kind: 'untracked', setAside: true, orders: [lost('h', 'a'), lost('p', 'a')] },
    ],
    ['a sweep of the pool finds an unknown instance: its binding becomes its lease', facts({}), { kind: 'taken', admission: { evict: false }, creditTo: 'a', orders: [proven('a')] }],
    [
      'a sweep of the pool finds a known instance on another port: it moves there',
      facts({ answerer: lease('a', 'verifying', { restored: true, port: 9002 }) }),
      { kind: 'taken', admission: undefined, creditTo: 'a', orders: [proven('a')] },
    ],
    ['a sweep’s answer for a port credited since: its holder’s own probes decide', facts({ holder: lease('h', 'assigned', { port: P }) }), { kind: 'moot', orders: [] }],
  ])('%s', (_, given, verdict) => {
    expect(judgeProbeAnswer(given)).toMatchObject(verdict);
  });
});
