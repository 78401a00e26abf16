import type { AtlasBridgeStatus, AtlasSummary } from '../atlas/bridge.js';
import type { PortHolder } from '../net/port-holder.js';
import { inUserTerms } from '../system-errors.js';
import { LEASE_STATES, type CoordinatorStatus, type LeaseView } from './coordinator-client.js';

/** `850ms` is shown as `0s`; then `3s`, `2m05s`, `1h02m`, `3d04h`; `-` for null. */
export function formatDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '-';
  const seconds = Math.floor(Math.max(0, ms) / 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${pad(seconds % 60)}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h${pad(minutes % 60)}m`;
  return `${Math.floor(hours / 24)}d${pad(hours % 24)}h`;
}

/** Two significant digits below 10 ms (loopback round trips are fractions of one), whole ms above. */
export function formatRtt(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '-';
  const shown = ms >= 10 ? Math.round(ms) : Number(ms.toPrecision(2));
  return `${shown} ms`;
}

const LEASE_COLUMNS: ReadonlyArray<TableColumn<LeaseView>> = [
  { title: 'TEMPID', cell: (l) => printable(l.tempId) },
  { title: 'PORT', right: true, cell: (l) => (l.port === null ? '-' : String(l.port)) },
  { title: 'STATE', cell: (l) => l.state },
  { title: 'TRACK', cell: (l) => (l.trackId === null ? '-' : printable(l.trackId)) },
  { title: 'AGE', right: true, cell: (l) => formatDuration(l.ageMs) },
  { title: 'LAST SEEN', right: true, cell: (l) => formatDuration(l.lastSeenMs) },
  { title: 'RTT', right: true, cell: (l) => formatRtt(l.rttMs) },
];

/** One header line and one line per lease, columns two spaces apart, numbers right-aligned. */
export function formatLeaseTable(leases: readonly LeaseView[]): string {
  return leases.length === 0 ? 'no leases' : formatTable(LEASE_COLUMNS, leases);
}

export interface TableColumn<Row> {
  title: string;
  right?: boolean;
  cell: (row: Row) => string;
}

/** One header line and one line per row, columns two spaces apart; `right` columns right-aligned. */
export function formatTable<Row>(columns: ReadonlyArray<TableColumn<Row>>, rows: readonly Row[]): string {
  const lines = [columns.map((c) => c.title), ...rows.map((row) => columns.map((c) => c.cell(row)))];
  const widths = columns.map((_, i) => Math.max(...lines.map((line) => line[i]!.length)));
  return lines
    .map((line) =>
      line
        .map((text, i) => (columns[i]!.right ? text.padStart(widths[i]!) : text.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function formatStatus(status: CoordinatorStatus): string {
  const { pool, leases, counters } = status;
  const leaseTotal = LEASE_STATES.reduce((sum, state) => sum + leases[state], 0);
  const counterNames = Object.keys(counters);
  const nameWidth = Math.max(0, ...counterNames.map((name) => name.length));
  const { listening, unavailable } = status.ports;
  return [
    `uptime    ${formatDuration(status.uptimeMs)}`,
    `ports     UDP ${listening.join(', ')}`,
    ...unavailable.map(({ port, reason }) => `          ${port} unavailable: ${reason}`),
    `pool      ${pool.size} ports: ${pool.free} free, ${pool.quarantined} quarantined`,
    `leases    ${leaseTotal}: ${LEASE_STATES.map((state) => `${leases[state]} ${state}`).join(', ')}`,
    `data dir  ${status.dataDir ?? 'none'}`,
    `controllers ${status.controllers.length === 0 ? 'none' : status.controllers.join(', ')}`,
    `atlas     ${status.atlas === null ? 'no processor' : atlasSummary(status.atlas)}`,
    `sweeps    ${counters.sweepsSent ?? 0} questions sent: ${counters.instancesAdopted ?? 0} instances and ${counters.bindingsAdopted ?? 0} bindings found`,
    'counters',
    ...counterNames.map((name) => `  ${name.padEnd(nameWidth)}  ${counters[name]}`),
  ].join('\n');
}

/** The local answer to `who`: one line per process holding the port; `held` says whether any socket holds it. */
export function formatHolders(port: number, holders: readonly PortHolder[], held: boolean): string {
  if (holders.length === 0) {
    // Another user's process: its socket is listed, but only root can see whose it is.
    return held ? `UDP port ${port} is held by a process this user cannot see (run as root to see which)` : `no local process holds UDP port ${port}`;
  }
  return [
    `UDP port ${port} is held by:`,
    ...holders.map(({ pid, command }) => `  PID ${pid}  ${command ? printable(command) : '(unknown command)'}`),
  ].join('\n');
}

/** The coordinator's answer to `who`: the lease on the port. */
export function formatPortLease(lease: LeaseView): string {
  return `coordinator: port ${lease.port} is leased to ${printable(lease.tempId)} (${lease.state})`;
}

/** A bound lease on a port nothing holds. */
export function formatStaleLease(lease: LeaseView): string {
  return (
    `coordinator: port ${lease.port} is leased to ${printable(lease.tempId)}, but the lease is stale: its plugin is gone ` +
    'or never bound the port; it expires after its liveness checks'
  );
}

/** Names come from plugins and processes: keep control characters from reaching the terminal. */
export function printable(text: string): string {
  return text.replace(/\p{C}/gu, '?');
}

function atlasSummary({ meterSocket, processors, connected, subscriptions }: AtlasSummary): string {
  const socket = meterSocket.bound ? `meters on ${meterSocket.host}:${meterSocket.port}` : `meter port ${meterSocket.port} NOT bound`;
  return `${processors} processor(s), ${connected} connected, ${subscriptions} subscription(s), ${socket}`;
}

/** `oscport atlas`: the meter socket, each processor and its subscriptions, the counters. */
export function formatAtlas(atlas: AtlasBridgeStatus | null): string {
  if (atlas === null) return 'no Atlas processor configured (atlas.processors in the config file, or /coordinator/atlas/add)';
  const { meterSocket, processors, counters } = atlas;
  // The meter socket's own error names the holders when it knows them.
  const named = meterSocket.error?.includes('PID') ?? false;
  const holders = !named && meterSocket.holders.length > 0 ? ` by ${meterSocket.holders.map((h) => `PID ${h.pid} (${printable(h.command)})`).join(', ')}` : '';
  const lines = [
    meterSocket.bound
      ? `meter socket  UDP ${meterSocket.host}:${meterSocket.port}, bound`
      : `meter socket  UDP ${meterSocket.host}:${meterSocket.port} is NOT bound: ${inUserTerms(meterSocket.error ?? 'already in use')}${holders}; retrying`,
  ];
  if (processors.length > 0) {
    lines.push(
      '',
      formatTable<(typeof processors)[number]>(
        [
          { title: 'PROCESSOR', cell: (p) => printable(p.id) },
          { title: 'HOST', cell: (p) => `${p.host}:${p.tcpPort}` },
          { title: 'STATE', cell: (p) => p.state },
          { title: 'CONNECTS', right: true, cell: (p) => String(p.connects) },
          { title: 'LAST DOWN', cell: (p) => (p.lastDown === undefined ? '-' : printable(p.lastDown)) },
        ],
        processors,
      ),
    );
  }
  const subscriptions = processors.flatMap((p) => p.subscriptions.map((s) => ({ processor: p.id, ...s })));
  if (subscriptions.length > 0) {
    lines.push(
      '',
      formatTable<(typeof subscriptions)[number]>(
        [
          { title: 'PROCESSOR', cell: (s) => printable(s.processor) },
          { title: 'METER', cell: (s) => printable(s.param) },
          { title: 'STATE', cell: (s) => (s.state === 'failed' ? `failed: ${printable(s.error.message)}` : s.state) },
          { title: 'CONSUMERS', right: true, cell: (s) => String(s.consumers) },
          { title: 'RATE', right: true, cell: (s) => `${s.updatesPerSecond}/s` },
        ],
        subscriptions,
      ),
    );
  }
  lines.push('', `counters  ${Object.entries(counters).map(([name, n]) => `${name} ${n}`).join(', ')}`);
  return lines.join('\n');
}

/** A float32 as the shortest decimal that reads back as the same float32: 0.1, not 0.10000000149011612. */
export function float32Text(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const exact = Math.fround(value);
  for (let digits = 1; digits < 9; digits++) {
    const text = String(Number(exact.toPrecision(digits)));
    if (Math.fround(Number(text)) === exact) return text;
  }
  return String(Number(exact.toPrecision(9)));
}
