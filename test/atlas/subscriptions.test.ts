import { describe, expect, it } from 'vitest';
import { UpdateRate } from '../../src/atlas/rate.js';
import { SubscriptionTable } from '../../src/atlas/subscriptions.js';

describe('SubscriptionTable: one device subscription per (processor, param), counted over consumers', () => {
  it('the first consumer subscribes, later ones share, the last one leaving unsubscribes', () => {
    const table = new SubscriptionTable();
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
    const table = new SubscriptionTable();
    expect(table.add('c1', 'p1', 'SourceMeter_0')).toBe(true);
    expect(table.add('c1', 'p2', 'SourceMeter_0')).toBe(true);
    expect(table.remove('c1', 'p1', 'SourceMeter_0')).toBe(true);
    expect(table.get('p2', 'SourceMeter_0')?.consumers).toEqual(new Set(['c1']));
  });

  it('dropping a consumer ends only the subscriptions nobody else holds', () => {
    const table = new SubscriptionTable();
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
    const table = new SubscriptionTable();
    table.add('c1', 'p1', 'A_0');
    table.add('c1', 'p2', 'A_0');
    table.dropProcessor('p1');
    expect(table.of('p1')).toEqual([]);
    expect(table.dropConsumer('c1')).toEqual([{ processorId: 'p2', param: 'A_0' }]);
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
