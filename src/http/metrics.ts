import type { AtlasCounters } from '../atlas/counters.js';
import type { Counters } from '../counters.js';
import type { StudioSnapshot } from './studio.js';

/** The Prometheus text exposition format, version 0.0.4. [PROTOCOL §17] */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

interface CounterMetric {
  name: string;
  help: string;
}

/**
 * Every coordinator counter with its metric name. A Record over the counters' keys: a counter added
 * to `createCounters` does not compile until it is named here. Handshake and probe counters are named
 * as Kea names its own (what was received, what was sent); names end in `_total` as Prometheus advises.
 */
export const COUNTER_METRICS: Readonly<Record<keyof Counters, CounterMetric>> = {
  datagrams: { name: 'oscport_datagrams_total', help: 'UDP datagrams received on the coordinator\'s ports.' },
  malformed: { name: 'oscport_malformed_total', help: 'Datagrams that were not OSC, or OSC past a limit: dropped.' },
  invalid: { name: 'oscport_invalid_total', help: 'OSC messages with a known address but wrong arguments: dropped.' },
  unknownAddress: { name: 'oscport_unknown_address_total', help: 'Well-formed OSC messages to an address the coordinator has no use for: ignored.' },
  requests: { name: 'oscport_handshake_requests_received_total', help: 'Port requests received (/aiplayer/request_port).' },
  repeatedRequests: { name: 'oscport_handshake_repeated_requests_received_total', help: 'Port requests repeated by an instance already known.' },
  assignments: { name: 'oscport_handshake_assignments_sent_total', help: 'Port assignments sent, re-sends included.' },
  assignmentTimeouts: { name: 'oscport_handshake_assignment_timeouts_total', help: 'Assignments whose confirmation did not come in time.' },
  confirmations: { name: 'oscport_handshake_confirmations_received_total', help: 'Port confirmations received.' },
  confirmationsIgnored: { name: 'oscport_handshake_confirmations_ignored_total', help: 'Confirmations naming a port not the instance\'s to claim, or from another host: changed nothing.' },
  crossed: { name: 'oscport_handshake_crossed_total', help: 'Offers taken by another instance\'s confirmation: the first waits for another turn.' },
  busy: { name: 'oscport_handshake_busy_sent_total', help: 'Requests refused with busy.' },
  probesSent: { name: 'oscport_probes_sent_total', help: 'Probes (query_rms) sent to verify or keep a binding.' },
  probeAnswers: { name: 'oscport_probes_answered_total', help: 'Probes answered by their instance.' },
  probeWrongOwner: { name: 'oscport_probes_wrong_owner_total', help: 'Probes answered by another instance than the lease\'s.' },
  probeFailures: { name: 'oscport_probes_unanswered_total', help: 'Probes unanswered within their wait.' },
  unmatchedAnswers: { name: 'oscport_probes_unmatched_answers_total', help: 'rms_response messages answering no probe: plugin traffic.' },
  lateAnswers: { name: 'oscport_probes_late_answers_total', help: 'Answers to a probe already answered or over: dropped.' },
  sweepsSent: { name: 'oscport_sweep_probes_sent_total', help: 'Probes sent by sweeps of the response ports and of the pool.' },
  instancesAdopted: { name: 'oscport_sweep_instances_adopted_total', help: 'Instances found waiting at a response port with no request heard.' },
  bindingsAdopted: { name: 'oscport_sweep_bindings_adopted_total', help: 'Instances found receiving on a pool port no lease held.' },
  bound: { name: 'oscport_leases_bound_total', help: 'Leases verified and bound.' },
  failed: { name: 'oscport_leases_failed_total', help: 'Leases that failed (retries exhausted).' },
  lapsed: { name: 'oscport_leases_lapsed_total', help: 'Leases whose offer lapsed unconfirmed.' },
  released: { name: 'oscport_leases_released_total', help: 'Leases released by their instance.' },
  expiries: { name: 'oscport_leases_expired_total', help: 'Bound leases that stopped answering probes.' },
  steals: { name: 'oscport_leases_stolen_total', help: 'Bound leases whose port another process took.' },
  evicted: { name: 'oscport_leases_evicted_total', help: 'Instances never verified dropped to make room in a full table.' },
  quarantined: { name: 'oscport_ports_quarantined_total', help: 'Ports put in quarantine after a failed binding.' },
  portsHeldElsewhere: { name: 'oscport_ports_held_elsewhere_total', help: 'Pool ports found held by another process.' },
  releasesRefused: { name: 'oscport_releases_refused_total', help: 'Releases from another host than the instance\'s request.' },
  pluginTraffic: { name: 'oscport_plugin_messages_total', help: 'Messages from plugins that kept a lease alive.' },
  adminRefused: { name: 'oscport_admin_refused_total', help: 'Admin queries refused because they did not come from loopback.' },
  forwarded: { name: 'oscport_forwarded_total', help: 'Datagrams sent to controllers: plugin traffic (one per controller) and lease events.' },
  sentToPlugins: { name: 'oscport_sent_to_plugins_total', help: 'Messages delivered to plugins by /coordinator/send (one per target).' },
  routingErrors: { name: 'oscport_routing_errors_total', help: 'Sends and subscriptions refused with /coordinator/error.' },
  gathers: { name: 'oscport_gathers_total', help: 'Calibration gathers answered.' },
  challengesRefused: { name: 'oscport_challenges_refused_total', help: 'Subscriptions dropped: their listen port was sent a token under a second before.' },
  journalFailures: { name: 'oscport_journal_failures_total', help: 'Records the lease journal refused.' },
  effectFailures: { name: 'oscport_effect_failures_total', help: 'Lease machine effects that threw.' },
  machineFailures: { name: 'oscport_machine_failures_total', help: 'Lease machines that failed (a bug): their lease ended as failed.' },
};

/** The Atlas bridge's counters, zero before the first processor. */
export const ATLAS_COUNTER_METRICS: Readonly<Record<keyof AtlasCounters, CounterMetric>> = {
  datagrams: { name: 'oscport_atlas_datagrams_total', help: 'UDP datagrams received on the Atlas meter socket.' },
  unknownSources: { name: 'oscport_atlas_unknown_sources_total', help: 'Meter datagrams from an address no processor is configured at.' },
  badLines: { name: 'oscport_atlas_bad_lines_total', help: 'Atlas lines that were not a message: dropped.' },
  updates: { name: 'oscport_atlas_meter_updates_total', help: 'Meter values delivered to consumers.' },
  unwantedUpdates: { name: 'oscport_atlas_unwanted_updates_total', help: 'Meter values nobody subscribes to: dropped.' },
  outOfRange: { name: 'oscport_atlas_out_of_range_total', help: 'Meter readings outside -80..0 dB (clamped) or not a float32 (dropped).' },
  droppedLines: { name: 'oscport_atlas_dropped_lines_total', help: 'Lines past the most read from one meter datagram.' },
  droppedUpdates: { name: 'oscport_atlas_dropped_updates_total', help: 'Meter values past a processor\'s most per second.' },
};

/** What the process reports about itself, as Prometheus' client libraries name it. */
export interface ProcessFigures {
  residentMemoryBytes: number;
  startTimeSeconds: number;
  cpuSeconds: number;
}

const startTimeSeconds = Date.now() / 1000 - process.uptime();

export function processFigures(): ProcessFigures {
  const { user, system } = process.cpuUsage();
  return { residentMemoryBytes: process.memoryUsage.rss(), startTimeSeconds, cpuSeconds: (user + system) / 1e6 };
}

/** The HTTP server's own figures. */
export interface HttpFigures {
  eventStreams: number;
  slowReadersDropped: number;
}

type Sample = readonly [labels: Readonly<Record<string, string>> | null, value: number];

/** One metric family: its HELP, its TYPE and its samples. */
function family(name: string, type: 'counter' | 'gauge', help: string, samples: readonly Sample[]): string {
  const lines = [`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`];
  for (const [labels, value] of samples) lines.push(`${name}${labelSet(labels)} ${formatValue(value)}`);
  return lines.join('\n');
}

/**
 * The coordinator's metrics from one snapshot: the same figures `oscport status --json` shows (the
 * snapshot reads `stats()` once), so the two never disagree. Built on demand, off the hot path.
 */
export function renderMetrics(snapshot: StudioSnapshot, http: HttpFigures, own: ProcessFigures = processFigures()): string {
  const { pool, states, counters, atlasCounters, processors } = snapshot;
  const up = processors.filter((processor) => processor.state === 'connected').length;
  const families = [
    family('oscport_pool_ports', 'gauge', 'Ports of the pool: free to offer, held by a lease, or quarantined.', [
      [{ state: 'free' }, pool.free],
      [{ state: 'held' }, pool.held],
      [{ state: 'quarantined' }, pool.quarantined],
    ]),
    family('oscport_leases', 'gauge', 'Live leases in each state of the lease machine.', Object.entries(states).map(([state, count]): Sample => [{ state }, count])),
    family('oscport_controllers', 'gauge', 'Controllers registered now.', [[null, snapshot.controllers.length]]),
    family('oscport_atlas_links', 'gauge', 'Atlas processors whose TCP link is up (connected) or down (any other state).', [
      [{ state: 'up' }, up],
      [{ state: 'down' }, processors.length - up],
    ]),
    family('oscport_atlas_meters', 'gauge', 'Atlas meter subscriptions.', [[null, processors.reduce((sum, processor) => sum + processor.meters.length, 0)]]),
    ...Object.entries(COUNTER_METRICS).map(([key, { name, help }]) => family(name, 'counter', help, [[null, counters[key as keyof Counters]]])),
    ...Object.entries(ATLAS_COUNTER_METRICS).map(([key, { name, help }]) => family(name, 'counter', help, [[null, atlasCounters?.[key] ?? 0]])),
    family('oscport_http_event_streams', 'gauge', 'Web view event streams open now.', [[null, http.eventStreams]]),
    family('oscport_http_slow_readers_dropped_total', 'counter', 'Event streams dropped because their reader let more than 1 MiB wait unsent.', [[null, http.slowReadersDropped]]),
    family('oscport_uptime_seconds', 'gauge', 'Seconds since the coordinator started.', [[null, snapshot.uptimeMs / 1000]]),
    family('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', [[null, own.residentMemoryBytes]]),
    family('process_start_time_seconds', 'gauge', 'Start time of the process since the Unix epoch in seconds.', [[null, own.startTimeSeconds]]),
    family('process_cpu_seconds_total', 'counter', 'Total user and system CPU time spent in seconds.', [[null, own.cpuSeconds]]),
  ];
  return `${families.join('\n')}\n`;
}

function labelSet(labels: Readonly<Record<string, string>> | null): string {
  if (labels === null) return '';
  const pairs = Object.entries(labels).map(([name, value]) => `${name}="${escapeLabelValue(value)}"`);
  return `{${pairs.join(',')}}`;
}

// [Prometheus exposition 0.0.4] HELP escapes \ and newline; label values also escape ".
const escapeHelp = (text: string) => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const escapeLabelValue = (text: string) => escapeHelp(text).replace(/"/g, '\\"');

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}
