import dgram from 'node:dgram';
import { requestPort, type SdkLease } from '../../src/sdk/request-port.js';
import { startAtlasSimulator } from '../../src/simulators/atlas/simulator.js';
import { encodeMessage, type OscArg } from '../../src/osc/codec.js';

/**
 * A studio at work, for the routing and Atlas soak (bench/studio-soak.ts), in a process of its own
 * so that what the soak measures is the coordinator's:
 *
 *   node studio.js COORDINATOR_PORT METER_PORT PLUGINS
 *
 * An Atlas processor (the simulator, on 127.0.0.3) with 20 meters at 50 Hz; PLUGINS plugins, each
 * verified through the SDK, subscribed to one meter, sending telemetry and rms at 24 Hz; two
 * controllers, one running a calibration gather every second; and every 30 s a tenth of the
 * plugins leaving and new ones arriving. Reports `device` (the processor's TCP port), waits for
 * `go`, and on `stop` reports what it counted.
 */
const [coordinatorPort, meterPort, plugins] = process.argv.slice(2).map(Number) as [number, number, number];
const coordinator = { host: '127.0.0.1', port: coordinatorPort };
const PROCESSOR = 'studio';
const METERS = Array.from({ length: 20 }, (_, n) => `ZoneMeter_${n}`);
const s = (value: string): OscArg => ({ type: 's', value });
const f = (value: number): OscArg => ({ type: 'f', value });
const i = (value: number): OscArg => ({ type: 'i', value });
const send = (socket: dgram.Socket, address: string, ...args: OscArg[]) => socket.send(encodeMessage({ address, args }), coordinatorPort, coordinator.host);

const device = await startAtlasSimulator({ host: '127.0.0.3', tcpPort: 0, meterPort, meters: METERS, rateHz: 50 });
process.send!({ type: 'device', tcpPort: device.tcpPort });
await new Promise<void>((resolve) => process.once('message', () => resolve()));

const counted = { telemetrySent: 0, atController: [0, 0], gathersAnswered: 0, joined: 0, left: 0 };
const control = dgram.createSocket('udp4');
await new Promise<void>((resolve) => control.bind(0, '127.0.0.1', resolve));

let serial = 0;
const leases = new Set<SdkLease>();
async function join(): Promise<void> {
  const lease = await requestPort({ tempId: `studio-${process.pid}-${serial++}`, coordinator, keepaliveMs: 5000 });
  leases.add(lease);
  send(control, '/atlas/subscribe', s(lease.tempId), s(PROCESSOR), s(METERS[serial % METERS.length]!));
  counted.joined++;
}
for (let n = 0; n < plugins; n++) await join();

const controllers = await Promise.all(
  [0, 1].map(async (index) => {
    const socket = dgram.createSocket('udp4');
    socket.on('message', (data) => {
      counted.atController[index]!++;
      if (index === 0 && data.subarray(0, 16).toString() === '/coordinator/rms') counted.gathersAnswered++;
    });
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    send(socket, '/coordinator/subscribe');
    return socket;
  }),
);

const timers = [
  // 24 Hz, each plugin its telemetry and its rms.
  setInterval(() => {
    for (const lease of leases) {
      send(lease.socket, '/aiplayer/telemetry', s(lease.tempId), f(0.5), f(0.1), f(0.2), f(0.3), f(0.4));
      send(lease.socket, '/aiplayer/rms', s(lease.tempId), f(0.5));
      counted.telemetrySent += 2;
    }
  }, 1000 / 24),
  setInterval(() => controllers.forEach((socket) => send(socket, '/coordinator/subscribe')), 10_000),
  setInterval(() => send(controllers[0]!, '/coordinator/query_rms', s(`q${serial}-${Date.now()}`), i(500)), 1000),
  // Churn: a tenth leave (releasing their ports), as many new ones come.
  setInterval(() => {
    const leaving = [...leases].slice(0, Math.ceil(leases.size / 10));
    for (const lease of leaving) {
      leases.delete(lease);
      void lease.release();
      counted.left++;
    }
    for (const _ of leaving) void join();
  }, 30_000),
];

process.once('message', async () => {
  for (const timer of timers) clearInterval(timer);
  for (const socket of controllers) send(socket, '/coordinator/unsubscribe');
  await Promise.all([...leases].map((lease) => lease.release()));
  process.send!({ type: 'done', ...counted });
  await device.close();
  process.exit(0);
});
