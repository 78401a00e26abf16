import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COORDINATOR_SETTINGS, DEFAULT_SETTINGS, readmeTable, validateSettings } from '../../src/settings/index.js';
import { withSection } from '../../src/docs/readme.js';

describe("the coordinator's settings", () => {
  it('default as they always have', () => {
    expect(DEFAULT_SETTINGS).toEqual({
      host: '127.0.0.1',
      port: 9001,
      extraPorts: [8999],
      poolLow: 9000,
      poolHigh: 9999,
      reserved: [9000],
      quarantineMs: 60_000,
      receiveBufferBytes: 8 * 1024 * 1024,
      maxInstances: 4096,
      maxWaitingPerEndpoint: 512,
      sweepPorts: [{ low: 50000, high: 59900, step: 100 }],
      sweepIntervalMs: 5000,
      logLevel: 'info',
      logFile: '',
      assignTimeoutMs: 1000,
      assignTimeoutMaxMs: 16_000,
      assignResends: 5,
      probeTimeoutMs: 1000,
      probeAttempts: 4,
      maxTries: 5,
      livenessIntervalMs: 10_000,
      reverifyIntervalMs: 60_000,
      livenessProbes: 3,
      dataDir: null,
      controllersAllow: [],
      maxControllers: 16,
      controllerTtlMs: 30_000,
      sendBudget: 20_000,
      maxGathers: 4,
      sendBudgetTotal: 50_000,
      maxGathersTotal: 16,
      controllers: [],
      // In code, no HTTP server unless asked; `oscport start` serves on 8900 (the row's default).
      httpPort: 'off',
      httpHost: '127.0.0.1',
      dnssd: true,
      atlas: {
        meterPort: 3131,
        meterHost: '0.0.0.0',
        meterRebindMs: 10_000,
        connectTimeoutMs: 5000,
        keepaliveMs: 60_000,
        keepaliveTimeoutMs: 5000,
        reconnectMs: 1000,
        reconnectMaxMs: 60_000,
        linkStableMs: 30_000,
        maxUnansweredBytes: 65_536,
        processors: [],
        meters: [],
      },
    });
    expect(Object.isFrozen(DEFAULT_SETTINGS)).toBe(true);
  });

  it('check the Atlas section across its rows: unique ids and IPv4 hosts, mappings naming a processor', () => {
    const atlas = (more: object) => ({ ...DEFAULT_SETTINGS, atlas: { ...DEFAULT_SETTINGS.atlas, ...more } });
    const bar = { id: 'bar', host: '192.168.1.40', tcpPort: 5321 };
    expect(() => validateSettings(atlas({ processors: [bar], meters: [{ processor: 'bar', param: 'ZoneMeter_0', to: 'TR1' }] }))).not.toThrow();
    expect(() => validateSettings(atlas({ processors: [bar, { ...bar, host: '192.168.1.41' }] }))).toThrow('atlas.processors[1].id: "bar" is the id of an earlier processor');
    expect(() => validateSettings(atlas({ processors: [bar, { ...bar, id: 'patio' }] }))).toThrow('atlas.processors[1].host: 192.168.1.40 is the host of an earlier processor');
    expect(() => validateSettings(atlas({ processors: [{ ...bar, host: 'azm8.local' }] }))).toThrow('atlas.processors[0].host: "azm8.local" is not an IPv4 address');
    expect(() => validateSettings(atlas({ processors: [bar], meters: [{ processor: 'patio', param: 'ZoneMeter_0', to: 'TR1' }] }))).toThrow(
      'atlas.meters[0].processor: no processor "patio" in atlas.processors',
    );
  });

  it('given in code, are checked by their rows (port 0 and no data directory allowed), then across fields', () => {
    const valid = { ...DEFAULT_SETTINGS, port: 0, dataDir: null };
    expect(validateSettings(valid)).toBe(valid);
    expect(() => validateSettings({ ...DEFAULT_SETTINGS, maxTries: 0 })).toThrow('maxTries: 0 is less than 1');
    expect(() => validateSettings({ ...DEFAULT_SETTINGS, quarantineMs: Number.NaN })).toThrow('quarantineMs: NaN is not a whole number');
    expect(() => validateSettings({ ...DEFAULT_SETTINGS, poolLow: 9999, poolHigh: 9000 })).toThrow('pool: 9999 is above 9000');
    expect(() => validateSettings({ ...DEFAULT_SETTINGS, reserved: [9000, 70000] })).toThrow('reserved[1]: 70000 is outside 1-65535');
    expect(() => validateSettings({ ...DEFAULT_SETTINGS, receiveBufferBytes: -1 })).toThrow('receiveBufferBytes: -1 must be a number of 0 or more');
    expect(() => validateSettings({ ...DEFAULT_SETTINGS, poolLow: 9000, poolHigh: 9001, reserved: [9000] })).toThrow(
      'pool: no port left to offer after the reserved ones',
    );
  });

  it('keep the ports the coordinator owns or sweeps out of the pool, and standing controllers within bounds', () => {
    expect(() => validateSettings({ ...DEFAULT_SETTINGS, extraPorts: [9500] })).toThrow('extraPorts[0]: 9500 is inside the pool 9000-9999');
    expect(() => validateSettings({ ...DEFAULT_SETTINGS, sweepPorts: [{ low: 9900, high: 10100, step: 100 }] })).toThrow(
      'sweepPorts[0]: 9900 is inside the pool 9000-9999: only response ports are swept',
    );
    expect(() => validateSettings({ ...DEFAULT_SETTINGS, sweepPorts: [{ low: 50000, high: 50100, step: 0 }] })).toThrow('sweepPorts[0].step: 0 is outside 1-65534');
    expect(() => validateSettings({ ...DEFAULT_SETTINGS, controllers: [{ host: 'localhost', port: 8998 }] })).toThrow(
      'controllers[0].host: "localhost" is not an IPv4 address',
    );
    const many = Array.from({ length: 3 }, (_, n) => ({ host: '127.0.0.1', port: 8990 + n }));
    expect(() => validateSettings({ ...DEFAULT_SETTINGS, controllers: many, maxControllers: 2 })).toThrow('controllers: 3 standing controllers, more than maxControllers (2)');
    expect(validateSettings({ ...DEFAULT_SETTINGS, controllers: [{ host: '127.0.0.1', port: 8998 }] }).controllers).toHaveLength(1);
  });

  it('are the table in docs/configuration.md (`npm run readme` rewrites it)', () => {
    const page = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    const expected = withSection(page, 'settings', readmeTable(COORDINATOR_SETTINGS), 'docs/configuration.md');
    expect(page, 'docs/configuration.md is out of date with src/settings: run `npm run readme`').toBe(expected);
  });
});
