import type { PortHolder } from '../net/port-holder.js';
import { LEASE_STATES, type CoordinatorStatus, type LeaseJson } from './coordinator-client.js';

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

const LEASE_COLUMNS: ReadonlyArray<TableColumn<LeaseJson>> = [
  { title: 'TEMPID', cell: (l) => printable(l.tempId) },
  { title: 'PORT', right: true, cell: (l) => (l.port === null ? '-' : String(l.port)) },
  { title: 'STATE', cell: (l) => l.state },
  { title: 'TRACK', cell: (l) => (l.trackId === null ? '-' : printable(l.trackId)) },
  { title: 'AGE', right: true, cell: (l) => formatDuration(l.ageMs) },
  { title: 'LAST SEEN', right: true, cell: (l) => formatDuration(l.lastSeenMs) },
  { title: 'RTT', right: true, cell: (l) => formatRtt(l.rttMs) },
];

/** One header line and one line per lease, columns two spaces apart, numbers right-aligned. */
export function formatLeaseTable(leases: readonly LeaseJson[]): string {
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
  return [
    `uptime    ${formatDuration(status.uptimeMs)}`,
    `pool      ${pool.size} ports: ${pool.free} free, ${pool.quarantined} quarantined`,
    `leases    ${leaseTotal}: ${LEASE_STATES.map((state) => `${leases[state]} ${state}`).join(', ')}`,
    `data dir  ${status.dataDir ?? 'none'}`,
    'counters',
    ...counterNames.map((name) => `  ${name.padEnd(nameWidth)}  ${counters[name]}`),
  ].join('\n');
}

/** The local answer to `who`: one line per process holding the port. */
export function formatHolders(port: number, holders: readonly PortHolder[]): string {
  if (holders.length === 0) return `no local process holds UDP port ${port}`;
  return [
    `UDP port ${port} is held by:`,
    ...holders.map(({ pid, command }) => `  PID ${pid}  ${command ? printable(command) : '(unknown command)'}`),
  ].join('\n');
}

/** The coordinator's answer to `who`: the lease on the port. */
export function formatPortLease(lease: LeaseJson): string {
  return `coordinator: port ${lease.port} is leased to ${printable(lease.tempId)} (${lease.state})`;
}

/** Names come from plugins and processes: keep control characters from reaching the terminal. */
export function printable(text: string): string {
  return text.replace(/\p{C}/gu, '?');
}
