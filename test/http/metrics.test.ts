import { afterEach, describe, expect, it } from 'vitest';
import { createCounters } from '../../src/counters.js';
import { createAtlasCounters } from '../../src/atlas/counters.js';
import { ATLAS_COUNTER_METRICS, COUNTER_METRICS, renderMetrics } from '../../src/http/metrics.js';
import type { StudioSnapshot } from '../../src/http/studio.js';
import type { CoordinatorStats } from '../../src/status.js';
import { oscport } from '../helpers/cli.js';
import { RANGES, testCoordinator } from '../helpers/coordinator.js';
import { ask } from '../helpers/http.js';
import { ManualPlugin } from '../helpers/manual-plugin.js';

// The first 50 ports of the HTTP files' range (server.test.ts and start-http.test.ts take the rest).
const POOL = [RANGES.http[0], RANGES.http[0] + 49] as const;
const plugins: ManualPlugin[] = [];
afterEach(async () => {
  await Promise.all(plugins.splice(0).map((plugin) => plugin.close()));
});

interface Family {
  type: string;
  help: string;
  samples: Array<{ labels: Record<string, string>; value: number }>;
}

const METRIC_NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\\\\n]|\\\\[\\\\"n])*)"';
const VALUE = '(NaN|[+-]Inf|[+-]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][+-]?\\d+)?)';
const LABEL_PAIR = LABEL.replace(/\((?!\?)/g, '(?:');
const SAMPLE = new RegExp(`^(${METRIC_NAME})(?:\\{((?:${LABEL_PAIR},?)*)\\})? ${VALUE}(?: -?\\d+)?$`);

/**
 * A strict reader of the text exposition format 0.0.4, stricter than Prometheus itself: every line is
 * HELP, TYPE or a sample; each family has one HELP and one TYPE before its samples, which are contiguous;
 * no sample is repeated; counters end in `_total`; the text ends with a newline.
 */
function parseExposition(text: string): Map<string, Family> {
  expect(text.endsWith('\n'), 'ends with a newline').toBe(true);
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  let current: string | null = null;
  for (const line of text.slice(0, -1).split('\n')) {
    const help = new RegExp(`^# HELP (${METRIC_NAME}) (.*)$`).exec(line);
    const type = new RegExp(`^# TYPE (${METRIC_NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line);
    if (help) {
      expect(families.has(help[1]!), `one HELP for ${help[1]}`).toBe(false);
      expect(help[2], `HELP of ${help[1]} escapes only \\\\ and \\n`).not.toMatch(/\\[^\\n]/);
      families.set(help[1]!, { type: '', help: help[2]!, samples: [] });
      current = help[1]!;
      continue;
    }
    if (type) {
      expect(current, `TYPE ${type[1]} right after its HELP`).toBe(type[1]);
      const family = families.get(type[1]!)!;
      expect(family.type, `one TYPE for ${type[1]}`).toBe('');
      expect(family.samples, `TYPE of ${type[1]} before its samples`).toEqual([]);
      family.type = type[2]!;
      continue;
    }
    const sample = SAMPLE.exec(line);
    expect(sample, `a sample line: ${JSON.stringify(line)}`).not.toBeNull();
    const [, name, labelText = '', value] = sample!;
    expect(name, `samples of one family together, after its TYPE: ${line}`).toBe(current);
    const labels: Record<string, string> = {};
    for (const [, label, labelValue] of labelText.matchAll(new RegExp(LABEL, 'g'))) labels[label!] = labelValue!;
    const key = `${name}${JSON.stringify(labels)}`;
    expect(seen.has(key), `one sample for ${key}`).toBe(false);
    seen.add(key);
    families.get(name!)!.samples.push({ labels, value: Number(value!.replace('Inf', 'Infinity')) });
  }
  for (const [name, family] of families) {
    expect(family.type, `${name} has a TYPE`).not.toBe('');
    if (family.type === 'counter') expect(name, 'a counter ends in _total').toMatch(/_total$/);
    else expect(name, 'only counters end in _total').not.toMatch(/_total$/);
    if (name.startsWith('oscport_')) expect(name, 'base units, snake case').toMatch(/^oscport_[a-z0-9_]+$/);
  }
  return families;
}

const one = (families: Map<string, Family>, name: string, labels: Record<string, string> = {}) => {
  const sample = families.get(name)?.samples.find((candidate) => JSON.stringify(candidate.labels) === JSON.stringify(labels));
  expect(sample, `${name}${JSON.stringify(labels)}`).toBeDefined();
  return sample!.value;
};

describe('/metrics [PROTOCOL §17]', () => {
  it('is Prometheus text 0.0.4 with every required family', async () => {
    const coordinator = await testCoordinator(POOL, { httpPort: 0 });
    const answer = await ask(coordinator.http!.port, '/metrics');
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const families = parseExposition(answer.body);
    for (const name of ['oscport_datagrams_total', 'oscport_malformed_total', 'oscport_forwarded_total', 'oscport_atlas_meter_updates_total',
      'oscport_handshake_requests_received_total', 'oscport_handshake_assignments_sent_total', 'oscport_probes_sent_total', 'oscport_probes_answered_total']) {
      expect(families.get(name)?.type, name).toBe('counter');
    }
    for (const name of ['oscport_pool_ports', 'oscport_leases', 'oscport_controllers', 'oscport_atlas_links', 'process_resident_memory_bytes', 'process_start_time_seconds']) {
      expect(families.get(name)?.type, name).toBe('gauge');
    }
    expect(families.get('oscport_pool_ports')!.samples.map(({ labels }) => labels.state)).toEqual(['free', 'held', 'quarantined']);
    expect(families.get('oscport_atlas_links')!.samples.map(({ labels }) => labels.state)).toEqual(['up', 'down']);
    // Every state of the lease machine, zero included.
    expect(families.get('oscport_leases')!.samples.map(({ labels }) => labels.state)).toEqual(coordinator.studio.chart.states);
    expect(one(families, 'process_start_time_seconds')).toBeCloseTo(Date.now() / 1000 - process.uptime(), -1);
    expect(one(families, 'process_resident_memory_bytes')).toBeGreaterThan(1e6);
    const head = await ask(coordinator.http!.port, '/metrics', { method: 'HEAD' });
    expect(head).toMatchObject({ status: 200, body: '' });
  });

  it('names every counter of the coordinator and of the Atlas bridge, each once', () => {
    expect(Object.keys(COUNTER_METRICS).sort()).toEqual(Object.keys(createCounters()).sort());
    expect(Object.keys(ATLAS_COUNTER_METRICS).sort()).toEqual(Object.keys(createAtlasCounters()).sort());
    const names = [...Object.values(COUNTER_METRICS), ...Object.values(ATLAS_COUNTER_METRICS)].map(({ name }) => name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('escapes label values and writes NaN and infinities as the format spells them', () => {
    const snapshot = {
      pool: { size: 1, free: 1, held: 0, quarantined: 0 },
      states: { 'a"b\\c\nd': 1 },
      counters: createCounters(),
      atlasCounters: null,
      processors: [],
      controllers: [],
      uptimeMs: Number.NaN,
    } as unknown as StudioSnapshot;
    const text = renderMetrics(snapshot, { eventStreams: 0, slowReadersDropped: 0 }, { residentMemoryBytes: Infinity, startTimeSeconds: -Infinity, cpuSeconds: 0 });
    const families = parseExposition(text);
    expect(text).toContain('oscport_leases{state="a\\"b\\\\c\\nd"} 1');
    expect(one(families, 'oscport_uptime_seconds')).toBeNaN();
    expect(text).toContain('process_resident_memory_bytes +Inf');
    expect(text).toContain('process_start_time_seconds -Inf');
  });

  it('agrees with `oscport status --json` and stats() at one settled moment: the same figures', async () => {
    const coordinator = await testCoordinator(POOL, { httpPort: 0 });
    for (const name of ['AIplayer_m1', 'AIplayer_m2']) plugins.push(await ManualPlugin.verified(name, coordinator.port));
    plugins[0]!.telemetry();
    await expect.poll(() => coordinator.stats().counters.pluginTraffic).toBe(1);
    // The status query is itself a datagram: read /metrics after it, with nothing else arriving between.
    const status = await oscport(['status', '--json', '-c', `127.0.0.1:${coordinator.port}`]);
    expect(status.code, status.stderr).toBe(0);
    const fromCli = JSON.parse(status.stdout) as CoordinatorStats;
    const families = parseExposition((await ask(coordinator.http!.port, '/metrics')).body);
    const stats = coordinator.stats();

    for (const figures of [fromCli, stats]) {
      for (const [key, { name }] of Object.entries(COUNTER_METRICS)) {
        expect(one(families, name), `${name} = counters.${key}`).toBe(figures.counters[key as keyof CoordinatorStats['counters']]);
      }
      const { size, free, quarantined } = figures.pool;
      expect(one(families, 'oscport_pool_ports', { state: 'free' })).toBe(free);
      expect(one(families, 'oscport_pool_ports', { state: 'quarantined' })).toBe(quarantined);
      expect(one(families, 'oscport_pool_ports', { state: 'held' })).toBe(size - free - quarantined);
      const leases = families.get('oscport_leases')!.samples.reduce((sum, { value }) => sum + value, 0);
      expect(leases).toBe(Object.values(figures.leases).reduce((sum, count) => sum + count, 0));
      expect(one(families, 'oscport_leases', { state: 'bound' })).toBe(figures.leases.bound);
      expect(one(families, 'oscport_controllers')).toBe(figures.controllers.length);
      expect(one(families, 'oscport_atlas_links', { state: 'up' })).toBe(figures.atlas?.connected ?? 0);
      expect(one(families, 'oscport_atlas_links', { state: 'down' })).toBe((figures.atlas?.processors ?? 0) - (figures.atlas?.connected ?? 0));
      expect(one(families, 'oscport_atlas_meter_updates_total')).toBe(figures.atlas?.counters.updates ?? 0);
    }
    expect(one(families, 'oscport_datagrams_total')).toBeGreaterThan(0);
    expect(one(families, 'oscport_leases', { state: 'bound' })).toBe(2);
    expect(one(families, 'oscport_handshake_requests_received_total')).toBe(2);
    expect(one(families, 'oscport_probes_answered_total')).toBeGreaterThanOrEqual(2);
  });
});
