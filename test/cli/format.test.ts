import { describe, expect, it } from 'vitest';
import type { LeaseView } from '../../src/cli/coordinator-client.js';
import { float32Text, formatAtlas, formatDuration, formatHolders, formatLeaseTable, formatPortLease, formatRtt, formatStatus } from '../../src/cli/format.js';

describe('formatDuration', () => {
  it.each([
    [null, '-'],
    [0, '0s'],
    [999, '0s'],
    [3_000, '3s'],
    [59_999, '59s'],
    [60_000, '1m00s'],
    [125_000, '2m05s'],
    [3_599_000, '59m59s'],
    [3_720_000, '1h02m'],
    [86_399_000, '23h59m'],
    [90_000_000, '1d01h'],
    [-5, '0s'],
    [Number.NaN, '-'],
  ])('%s ms is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('formatRtt', () => {
  it.each([
    [null, '-'],
    [0.8, '0.8 ms'],
    [0.0512, '0.051 ms'],
    [1.25, '1.3 ms'],
    [9.94, '9.9 ms'],
    [12.4, '12 ms'],
    [153.6, '154 ms'],
  ])('%s ms is %s', (ms, text) => {
    expect(formatRtt(ms)).toBe(text);
  });
});

const lease = (overrides: Partial<LeaseView>): LeaseView => ({
  tempId: 'a',
  port: 9002,
  state: 'bound',
  trackId: null,
  ageMs: 0,
  lastSeenMs: null,
  rttMs: null,
  endpoint: null,
  ...overrides,
});

describe('formatLeaseTable', () => {
  const leases = [
    lease({ tempId: 'plugin-one', port: 9002, trackId: 'TR1', ageMs: 3_000, lastSeenMs: 125_000, rttMs: 0.8 }),
    lease({ tempId: 'p2', port: 19003, state: 'verifying', ageMs: 3_720_000 }),
    lease({ tempId: 'third\u001b[2J', port: 9004, state: 'requesting', trackId: 'a long track name', rttMs: 12.4 }),
  ];
  const text = formatLeaseTable(leases);
  const lines = text.split('\n');

  it('prints a header and one line per lease, in the order given, with no trailing spaces', () => {
    expect(lines).toHaveLength(4);
    expect(lines.every((line) => line === line.trimEnd())).toBe(true);
    expect(text).toBe(
      [
        'TEMPID       PORT  STATE       TRACK                AGE  LAST SEEN     RTT',
        'plugin-one   9002  bound       TR1                   3s      2m05s  0.8 ms',
        'p2          19003  verifying   -                  1h02m          -       -',
        'third?[2J    9004  requesting  a long track name     0s          -   12 ms',
      ].join('\n'),
    );
  });

  it('starts text columns and ends number columns at the header\'s edges', () => {
    const header = lines[0]!;
    for (const title of ['TEMPID', 'STATE', 'TRACK']) {
      const start = header.indexOf(title);
      for (const line of lines.slice(1)) {
        expect(line[start - 1] ?? ' ').toBe(' ');
        expect(line[start]).not.toBe(' ');
      }
    }
    for (const title of ['PORT', 'AGE', 'LAST SEEN', 'RTT']) {
      const end = header.indexOf(title) + title.length;
      for (const line of lines.slice(1)) {
        expect(line[end - 1]).not.toBe(' ');
        expect(line[end] ?? ' ').toBe(' ');
      }
    }
  });

  it('keeps control characters from plugins off the terminal', () => {
    expect(text).not.toContain('\u001b');
  });

  it('says so when there are no leases', () => {
    expect(formatLeaseTable([])).toBe('no leases');
  });
});

describe('formatStatus', () => {
  it('summarises uptime, pool, leases by state and every counter', () => {
    const text = formatStatus({
      uptimeMs: 125_000,
      ports: { listening: [9001], unavailable: [{ port: 8999, reason: 'in use by PID 4242 (ChattyChannels)' }] },
      pool: { size: 1000, free: 990, quarantined: 3 },
      leases: { requesting: 1, assigned: 2, verifying: 3, bound: 4 },
      counters: { assignments: 12, probeFailures: 1, malformed: 0, sweepsSent: 14, instancesAdopted: 12, bindingsAdopted: 2 },
      dataDir: null,
      controllers: ['127.0.0.1:40000'],
      atlas: null,
    });
    expect(text).toBe(
      [
        'uptime    2m05s',
        'ports     UDP 9001',
        '          8999 unavailable: in use by PID 4242 (ChattyChannels)',
        'pool      1000 ports: 990 free, 3 quarantined',
        'leases    10: 1 requesting, 2 assigned, 3 verifying, 4 bound',
        'data dir  none',
        'controllers 127.0.0.1:40000',
        'atlas     no processor',
        'sweeps    14 questions sent: 12 instances and 2 bindings found',
        'counters',
        '  assignments       12',
        '  probeFailures     1',
        '  malformed         0',
        '  sweepsSent        14',
        '  instancesAdopted  12',
        '  bindingsAdopted   2',
      ].join('\n'),
    );
  });
});

describe('formatAtlas', () => {
  it('shows the meter socket, the processors and their subscriptions, and the counters', () => {
    const text = formatAtlas({
      meterSocket: { host: '0.0.0.0', port: 3131, bound: true, error: undefined, holders: [] },
      processors: [
        {
          id: 'bar-main',
          host: '192.168.1.40',
          tcpPort: 5321,
          state: 'connected',
          connects: 2,
          lastDown: 'keep-alive unanswered',
          subscriptions: [{ param: 'ZoneMeter_0', consumers: 2, updatesPerSecond: 50, state: 'active' }],
        },
      ],
      counters: { datagrams: 10, unknownSources: 1, badLines: 0, updates: 9, unwantedUpdates: 0, outOfRange: 0, droppedLines: 0, droppedUpdates: 0 },
    });
    expect(text.split('\n')).toEqual([
      'meter socket  UDP 0.0.0.0:3131, bound',
      '',
      'PROCESSOR  HOST               STATE      CONNECTS  LAST DOWN',
      'bar-main   192.168.1.40:5321  connected         2  keep-alive unanswered',
      '',
      'PROCESSOR  METER        STATE   CONSUMERS  RATE',
      'bar-main   ZoneMeter_0  active          2  50/s',
      '',
      'counters  datagrams 10, unknownSources 1, badLines 0, updates 9, unwantedUpdates 0, outOfRange 0, droppedLines 0, droppedUpdates 0',
    ]);
  });

  it('says when the meter port is taken, and by whom; and when there is no processor', () => {
    const text = formatAtlas({
      meterSocket: { host: '0.0.0.0', port: 3131, bound: false, error: 'EADDRINUSE', holders: [{ pid: 42, command: 'node old-client.js' }] },
      processors: [],
      counters: { datagrams: 0, unknownSources: 0, badLines: 0, updates: 0, unwantedUpdates: 0, outOfRange: 0, droppedLines: 0, droppedUpdates: 0 },
    });
    expect(text.split('\n')[0]).toBe('meter socket  UDP 0.0.0.0:3131 is NOT bound: already in use by PID 42 (node old-client.js); retrying');
    expect(formatAtlas(null)).toMatch(/^no Atlas processor configured/);
  });
});

describe('formatHolders and formatPortLease', () => {
  it('lists each holder by PID and command', () => {
    expect(formatHolders(9002, [], false)).toBe('no local process holds UDP port 9002');
    expect(formatHolders(9002, [{ pid: 12, command: 'node server.js' }, { pid: 34, command: '' }], true)).toBe(
      'UDP port 9002 is held by:\n  PID 12  node server.js\n  PID 34  (unknown command)',
    );
  });

  it('says when a socket holds the port but its process cannot be seen', () => {
    expect(formatHolders(9002, [], true)).toBe('UDP port 9002 is held by a process this user cannot see (run as root to see which)');
  });

  it('names the lease on the port', () => {
    expect(formatPortLease(lease({ tempId: 'x1', port: 9010, state: 'verifying' }))).toBe('coordinator: port 9010 is leased to x1 (verifying)');
  });
});

describe('float32Text', () => {
  it('gives the shortest decimal that reads back as the same float32', () => {
    const f32 = (x: number) => Math.fround(x);
    expect([0.1, 0.2, 0.3, 0.4, 0.5, 440, -12, 0, 1e-7, 123456.7].map((x) => float32Text(f32(x)))).toEqual([
      '0.1', '0.2', '0.3', '0.4', '0.5', '440', '-12', '0', '1e-7', '123456.7',
    ]);
    for (const x of [Math.PI, -37.8, 3.4028234663852886e38, 1.401298464324817e-45]) expect(Math.fround(Number(float32Text(f32(x))))).toBe(f32(x));
  });

  it('says what is not a number as such', () => {
    expect([NaN, Infinity, -Infinity].map(float32Text)).toEqual(['NaN', 'Infinity', '-Infinity']);
  });
});
