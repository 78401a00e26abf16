import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { requestPort } from '../../src/sdk/request-port.js';

/**
 * The client side of the handshake benchmark, in its own process so that it
 * never shares an event loop with the coordinator or the echo server.
 * Usage: node clients.js echo|handshake PORT COUNT
 * Prints one JSON line: { ms } from the first send to the last completion.
 */
const [mode, portText, countText] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);
const EXCHANGES = 3;

async function echo(): Promise<number> {
  const sockets = await Promise.all(
    Array.from({ length: count }, () => {
      const socket = dgram.createSocket('udp4');
      return new Promise<dgram.Socket>((resolve) => socket.bind(0, '127.0.0.1', () => resolve(socket)));
    }),
  );
  const payload = Buffer.alloc(48);
  let done = 0;
  const started = performance.now();
  await new Promise<void>((resolve) => {
    for (const socket of sockets) {
      let exchanges = 0;
      socket.on('message', () => {
        if (++exchanges < EXCHANGES) socket.send(payload, port, '127.0.0.1');
        else if (++done === count) resolve();
      });
      socket.send(payload, port, '127.0.0.1');
    }
  });
  const ms = performance.now() - started;
  for (const socket of sockets) socket.close();
  return ms;
}

async function handshake(): Promise<number> {
  const started = performance.now();
  const leases = await Promise.all(
    Array.from({ length: count }, (_, n) =>
      requestPort({ tempId: `bench-${process.pid}-${n}`, coordinator: { host: '127.0.0.1', port }, timeoutMs: 60_000 }),
    ),
  );
  const ms = performance.now() - started;
  await Promise.all(leases.map((lease) => lease.release()));
  return ms;
}

const ms = mode === 'echo' ? await echo() : await handshake();
process.stdout.write(`${JSON.stringify({ ms })}\n`);
