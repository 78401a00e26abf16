import { describe, expect, it } from 'vitest';
import { createCounters } from '../../src/counters.js';
import type { Hub } from '../../src/handlers/hub.js';
import { receiveDatagram } from '../../src/handlers/index.js';
import type { LeaseView } from '../../src/leases/lease-view.js';
import { decodeDatagram, encodeMessage } from '../../src/osc/codec.js';

const view = (tempId: string, port: number | null): LeaseView => ({
  tempId,
  port,
  state: port === null ? 'requesting' : 'bound',
  trackId: null,
  ageMs: 0,
  lastSeenMs: 0,
  rttMs: null,
  endpoint: '127.0.0.1:50000',
});

/** `/coordinator/leases` against a table that the test changes between pages, as churn does. */
function coordinatorWith(table: LeaseView[]) {
  let reply: Record<string, unknown> | undefined;
  const hub = {
    leases: { views: () => [...table] },
    counters: createCounters(),
    log: () => {},
    send: (bytes: Uint8Array) => {
      const decoded = decodeDatagram(bytes);
      if (!decoded.ok) throw new Error('sent a malformed datagram');
      reply = JSON.parse(decoded.messages[0]!.args[1]!.value as string) as Record<string, unknown>;
    },
  } as unknown as Hub;
  /** One page: an admin reply is sent once its answer has settled. */
  const page = async (limit: number, after: string) => {
    reply = undefined;
    const request = encodeMessage({ address: '/coordinator/leases', args: [{ type: 's', value: 'id' }, { type: 'i', value: limit }, { type: 's', value: '' }, { type: 's', value: after }] });
    receiveDatagram(hub, Buffer.from(request), { address: '127.0.0.1', port: 40000 });
    while (reply === undefined) await new Promise((resolve) => setImmediate(resolve));
    return reply as { ok: boolean; total: number; leases: LeaseView[]; next: string; error?: string };
  };
  return { page };
}

describe('/coordinator/leases: pages with a stable cursor [PROTOCOL §10]', () => {
  it('a lease held throughout a walk is on exactly one page, however many come and go between pages', async () => {
    const stable = Array.from({ length: 200 }, (_, n) => view(`stay-${String(n).padStart(3, '0')}`, 9100 + n * 4));
    const table = [...stable, view('waiting-a', null), view('waiting-b', null)];
    const { page } = coordinatorWith(table);
    const seen: string[] = [];
    let churn = 0;
    for (let after = ''; ; ) {
      const reply = await page(20, after);
      seen.push(...reply.leases.map((lease) => lease.tempId));
      // Between pages: leases come on ports before and after the cursor, and go.
      for (let n = 0; n < 10; n++, churn++) table.push(view(`churn-${churn}`, 9100 + ((churn * 7) % 800) + 1));
      table.splice(table.findIndex((lease) => lease.tempId.startsWith('churn-')), 3);
      if (reply.next === '') break;
      after = reply.next;
    }
    const stays = seen.filter((tempId) => tempId.startsWith('stay-'));
    expect(stays).toEqual(stable.map((lease) => lease.tempId));
    expect(seen.slice(0, 2)).toEqual(['waiting-a', 'waiting-b']);
  });

  it('a cursor that no page gave is an error', async () => {
    const { page } = coordinatorWith([view('a', 9002)]);
    expect(await page(20, 'nonsense')).toMatchObject({ ok: false, error: '"nonsense" is not a page\'s next' });
    expect(await page(20, '9002/a')).toMatchObject({ ok: true, leases: [], next: '' });
  });
});
