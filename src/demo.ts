// `npm run demo [-- SECONDS]`: the whole system in one command. A coordinator, an Atlas processor
// simulator and a DAW of 16 deployed-style plugins, each named TR1..TR16 and mapped to one meter;
// the live lease table with each plugin's meter level, redrawn until Ctrl-C (or SECONDS).
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAtlasSimulator } from './simulators/atlas/simulator.js';
import { formatTable } from './cli/format.js';
import { untilStopped } from './cli/stop.js';
import { startCoordinator } from './main.js';
import { decodeDatagram, encodeMessage } from './osc/codec.js';
import { ADDRESS, floatAt, textAt } from './osc/contract.js';
import { runSimulation } from './simulators/daw/run.js';

const PLUGINS = 16;
const METERS = [...Array.from({ length: 8 }, (_, n) => `ZoneMeter_${n}`), ...Array.from({ length: 8 }, (_, n) => `SourceMeter_${n}`)];
const seconds = Number(process.argv[2] ?? Infinity);
const tty = process.stdout.isTTY === true;

const freePort = async () => {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(resolve));
  return port;
};

const dataDir = mkdtempSync(join(tmpdir(), 'oscport-demo-'));
const meterPort = await freePort();
const device = await startAtlasSimulator({ host: '127.0.0.1', tcpPort: 0, meterPort, meters: METERS, rateHz: 20 });
const coordinator = await startCoordinator({
  port: 0,
  poolLow: 29000,
  poolHigh: 29099,
  reserved: [],
  // A demo of its own: it neither takes 8999 nor sweeps for the user's real plugins.
  extraPorts: [],
  sweepPorts: [],
  dataDir,
  // Any free port: a coordinator the user runs may hold 8900. Not advertised: the demo is not a real studio.
  httpPort: 0,
  dnssd: false,
  atlas: {
    meterHost: '127.0.0.1',
    meterPort,
    processors: [{ id: 'bar-main', host: '127.0.0.1', tcpPort: device.tcpPort }],
    meters: METERS.map((param, n) => ({ processor: 'bar-main', param, to: `TR${n + 1}` })),
  },
});
// Part of every redraw: on a terminal the first one would wipe it.
const header = [
  `coordinator on 127.0.0.1:${coordinator.port}, Atlas simulator on 127.0.0.1:${device.tcpPort}, meters on UDP ${meterPort}`,
  `web view ${coordinator.http!.url}/view`,
].join('\n');
process.stdout.write(`${header}\n`);

// A controller, as ChattyChannels would be: names the tracks, and hears every meter update.
const controller = dgram.createSocket('udp4');
await new Promise<void>((resolve) => controller.bind(0, '127.0.0.1', resolve));
const send = (address: string, ...args: Array<{ type: 's'; value: string }>) =>
  controller.send(encodeMessage({ address, args }), coordinator.port, '127.0.0.1');
const levels = new Map<string, number>();
controller.on('message', (data) => {
  const decoded = decodeDatagram(data);
  if (!decoded.ok) return;
  for (const { address, args } of decoded.messages) {
    const [param, level] = [textAt(args, 1), floatAt(args, 2)];
    if (address === ADDRESS.atlas_meter && param !== undefined && level !== undefined) levels.set(param, level);
  }
});
send(ADDRESS.subscribe);

const stop = untilStopped();
const endsAt = Number.isFinite(seconds) ? Date.now() + seconds * 1000 : undefined;
const timeLimit = new AbortController();
if (endsAt !== undefined) setTimeout(() => timeLimit.abort(), seconds * 1000).unref();
const stopped = AbortSignal.any([stop.signal, timeLimit.signal]);
const footer = () => (endsAt === undefined ? 'Ctrl-C to stop' : `stops in ${Math.max(0, Math.ceil((endsAt - Date.now()) / 1000))} s (Ctrl-C to stop sooner)`);

const bar = (db: number | undefined) => (db === undefined ? '' : `${'#'.repeat(Math.round((Math.max(-60, db) + 60) / 3)).padEnd(20, '.')} ${db.toFixed(1)} dB`);
const draw = () => {
  const meterOf = new Map(METERS.map((param, n) => [`TR${n + 1}`, param]));
  const rows = coordinator.leases.views().sort((a, b) => (a.trackId ?? '').localeCompare(b.trackId ?? '', undefined, { numeric: true }));
  const table = formatTable<(typeof rows)[number]>(
    [
      { title: 'TEMPID', cell: (l) => l.tempId },
      { title: 'TRACK', cell: (l) => l.trackId ?? '-' },
      { title: 'PORT', right: true, cell: (l) => String(l.port ?? '-') },
      { title: 'STATE', cell: (l) => l.state },
      { title: 'METER', cell: (l) => meterOf.get(l.trackId ?? '') ?? '-' },
      { title: 'LEVEL', cell: (l) => bar(levels.get(meterOf.get(l.trackId ?? '') ?? '')) },
    ],
    rows,
  );
  // On a terminal the table is redrawn in place; elsewhere (a pipe, a log) snapshots follow one another, a blank line apart.
  process.stdout.write(tty ? `\x1b[H\x1b[2J${header}\n\n${table}\n\n${footer()}\n` : `\n${table}\n`);
};

await runSimulation({
  plugins: PLUGINS,
  coordinator: { host: '127.0.0.1', port: coordinator.port },
  juceBugRate: 1,
  responsePort: await freePort(),
  signal: stopped,
  hold: async () => {
    // ChattyChannels names each track: the coordinator learns the trackIDs, and the meter mappings follow them.
    coordinator.leases.views().forEach((lease, n) => send(ADDRESS.send, { type: 's', value: lease.tempId }, { type: 's', value: ADDRESS.track_uuid_assignment }, { type: 's', value: lease.tempId }, { type: 's', value: `TR${n + 1}` }));
    const timer = setInterval(draw, tty ? 250 : 1000);
    await new Promise((resolve) => stopped.addEventListener('abort', resolve, { once: true }));
    clearInterval(timer);
    draw();
  },
});

controller.send(encodeMessage({ address: ADDRESS.unsubscribe, args: [] }), coordinator.port, '127.0.0.1');
await coordinator.close();
await device.close();
controller.close();
rmSync(dataDir, { recursive: true, force: true });
stop.dispose();
