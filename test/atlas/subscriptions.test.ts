import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { createAtlasCounters } from '../../src/atlas/counters.js';
import { UpdateRate } from '../../src/atlas/rate.js';
import { controller, plugin, SubscriptionTable } from '../../src/atlas/subscriptions.js';
import type { LeaseDirectory } from '../../src/leases/directory.js';
import type { Lease } from '../../src/leases/lease.js';
import type { Controllers } from '../../src/routing/controllers.js';

/** A table whose plugins are the bound leases given (by tempID or trackID), and whose sends and forwards are recorded. */
function tableWith(bound: Record<string, { tempId: string; port: number }> = {}) {
  const sent: Array<{ bytes: Buffer; to: string }> = [];
  const forwarded: Buffer[] = [];
  const leases = { resolve: (id: string) => (bound[id] ? ({ ...bound[id], host: '127.0.0.1' } as Lease) : undefined) } as unknown as LeaseDirectory;
  const controllers = { forward: (bytes: Buffer) => forwarded.push(bytes) } as unknown as Controllers;
  const counters = createAtlasCounters();
  const table = new SubscriptionTable({
    leases,
    controllers,
    send: (bytes, host, port) => sent.push({ bytes: Buffer.from(bytes), to: `${host}:${port}` }),
    clock: new SimulatedClock(),
    counters,
    warn: () => {},
  });
  return { table, sent, forwarded, counters };
}

describe('SubscriptionTable: one device subscription per (processor, param), counted over consumers', () => {
  it('the first consumer subscribes, later ones share, the last one leaving unsubscribes', () => {
    const { table } = tableWith();
    expect(table.add('c1', 'p1', 'SourceMeter_0')).toBe(true);
    expect(table.add('c2', 'p1', 'SourceMeter_0')).toBe(false);
    expect(table.add('c2', 'p1', 'SourceMeter_0')).toBe(false);
    expect(table.get('p1', 'SourceMeter_0')?.consumers.size).toBe(2);
    expect(table.remove('c1', 'p1', 'SourceMeter_0')).toBe(false);
    expect(table.remove('c1', 'p1', 'SourceMeter_0')).toBe(false);
    expect(table.remove('c2', 'p1', 'SourceMeter_0')).toBe(true);
    expect(table.get('p1', 'SourceMeter_0')).toBeUndefined();
    expect(table.of('p1')).toEqual([]);
  });

  it('the same param on two processors is two subscriptions', () => {
    const { table } = tableWith();
    expect(table.add('c1', 'p1', 'SourceMeter_0')).toBe(true);
    expect(table.add('c1', 'p2', 'SourceMeter_0')).toBe(true);
    expect(table.remove('c1', 'p1', 'SourceMeter_0')).toBe(true);
    expect(table.get('p2', 'SourceMeter_0')?.consumers).toEqual(new Set(['c1']));
  });

  it('dropping a consumer ends only the subscriptions nobody else holds', () => {
    const { table } = tableWith();
    table.add('c1', 'p1', 'A_0');
    table.add('c1', 'p1', 'A_1');
    table.add('c1', 'p2', 'A_0');
    table.add('c2', 'p1', 'A_1');
    expect(table.dropConsumer('c1')).toEqual([
      { processorId: 'p1', param: 'A_0' },
      { processorId: 'p2', param: 'A_0' },
    ]);
    expect(table.of('p1').map((s) => [s.param, [...s.consumers]])).toEqual([['A_1', ['c2']]]);
    expect(table.dropConsumer('c1')).toEqual([]);
  });

  it('dropping a processor takes its subscriptions from every consumer', () => {
    const { table } = tableWith();
    table.add('c1', 'p1', 'A_0');
    table.add('c1', 'p2', 'A_0');
    table.dropProcessor('p1');
    expect(table.of('p1')).toEqual([]);
    expect(table.dropConsumer('c1')).toEqual([{ processorId: 'p2', param: 'A_0' }]);
  });
});

describe('SubscriptionTable: an update goes to the consumers', () => {
  it('to each subscribed plugin once, however it is named, and to every controller, as the same bytes', () => {
    const { table, sent, forwarded, counters } = tableWith({ 'AIplayer_1': { tempId: 'AIplayer_1', port: 9002 }, TR1: { tempId: 'AIplayer_1', port: 9002 }, 'AIplayer_2': { tempId: 'AIplayer_2', port: 9003 } });
    table.add(plugin('AIplayer_1'), 'bar', 'ZoneMeter_0');
    table.add(plugin('TR1'), 'bar', 'ZoneMeter_0');
    table.add(plugin('AIplayer_2'), 'bar', 'ZoneMeter_0');
    table.add(plugin('gone'), 'bar', 'ZoneMeter_0');
    table.add(controller('127.0.0.1:40000'), 'bar', 'ZoneMeter_0');
    table.deliver('bar', 'ZoneMeter_0', -42.5);
    expect(sent.map((s) => s.to)).toEqual(['127.0.0.1:9002', '127.0.0.1:9003']);
    expect(forwarded).toHaveLength(1);
    expect(sent[0]!.bytes).toEqual(forwarded[0]);
    expect(forwarded[0]!.readFloatBE(forwarded[0]!.length - 4)).toBe(-42.5);
    expect(counters).toMatchObject({ updates: 1, unwantedUpdates: 0 });
  });

  it('a value nobody wants, or that is no reading, is counted and goes nowhere', () => {
    const { table, sent, forwarded, counters } = tableWith();
    table.add(controller('127.0.0.1:40000'), 'bar', 'ZoneMeter_0');
    table.deliver('bar', 'ZoneMeter_1', -10);
    table.deliver('bar', 'ZoneMeter_0', 'OK');
    expect([sent, forwarded]).toEqual([[], []]);
    expect(counters).toMatchObject({ updates: 0, unwantedUpdates: 2 });
  });

  it('keeps what the device says of each subscription: pending, acknowledged or proved by a value, refused, forgotten with the link', () => {
    const { table } = tableWith();
    const device = table.deviceOf('bar');
    table.add('c1', 'bar', 'A_0');
    table.add('c1', 'bar', 'A_1');
    table.add('c1', 'bar', 'A_2');
    const states = () => table.of('bar').map((s) => s.device.state);
    expect(states()).toEqual(['pending', 'pending', 'pending']);
    device.acknowledged(['A_0']);
    table.deliver('bar', 'A_1', -3);
    expect(device.refused(['A_2', 'NotWanted_0'], { code: -32604, message: 'nope' })).toBe(1);
    expect(states()).toEqual(['active', 'active', 'failed']);
    expect(device.wanted('A_2')).toBe(true);
    expect(device.wanted('NotWanted_0')).toBe(false);
    device.forgotten();
    expect(states()).toEqual(['pending', 'pending', 'pending']);
  });
});

describe('UpdateRate', () => {
  it('reports the count of the last whole second', () => {
    const rate = new UpdateRate();
    for (let t = 10_000; t < 11_000; t += 50) rate.tick(t);
    expect(rate.perSecond(10_999)).toBe(0);
    expect(rate.perSecond(11_000)).toBe(20);
    rate.tick(11_500);
    expect(rate.perSecond(11_999)).toBe(20);
    expect(rate.perSecond(12_000)).toBe(1);
  });

  it('falls to zero when updates stop', () => {
    const rate = new UpdateRate();
    for (let t = 0; t < 1000; t += 100) rate.tick(5000 + t);
    expect(rate.perSecond(6000)).toBe(10);
    expect(rate.perSecond(7000)).toBe(0);
    expect(rate.perSecond(60_000)).toBe(0);
  });
});
