#!/usr/bin/env node
// Gets a verified UDP port from a running oscport coordinator and prints every OSC message that
// arrives on it, until Ctrl-C (or SIGTERM), or after --count messages; then releases the port.
//
//   node examples/sdk-hello.mjs [--coordinator HOST:PORT] [--count N] [--temp-id ID] [--timeout MS]
//
// It imports the package by its name, as a program that depends on oscport does. Inside the
// checkout that works too, once it is built (`npm install` builds it): Node resolves a package's
// own name from within it, through the "exports" of its package.json.
import { parseArgs } from 'node:util';
import { requestPort } from 'oscport';

const { values: flags } = parseArgs({
  options: {
    coordinator: { type: 'string', default: '127.0.0.1:9001' },
    count: { type: 'string' },
    'temp-id': { type: 'string', default: `sdk-hello-${process.pid}` },
    timeout: { type: 'string', default: '15000' },
  },
});

const [host, portText] = flags.coordinator.split(':');
const limit = flags.count === undefined ? Infinity : Number(flags.count);

let lease;
let received = 0;
let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  if (lease === undefined) {
    console.error('sdk-hello: stopped before a port was verified');
    process.exit(1);
  }
  await lease.release(); // tells the coordinator, closes the sockets: nothing keeps the process alive after it
  console.log(`released port ${lease.port} after ${received} message${received === 1 ? '' : 's'}`);
}
// Before anything is printed: whoever reads "verified port" may press Ctrl-C at once.
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

try {
  lease = await requestPort({
    tempId: flags['temp-id'],
    coordinator: { host: host || '127.0.0.1', port: Number(portText ?? 9001) },
    timeoutMs: Number(flags.timeout),
  });
} catch (err) {
  // A PortRequestError: its code is timeout (no coordinator answered), pool_exhausted, retries_exhausted, ...
  console.error(`sdk-hello: no port: ${err.message}`);
  process.exit(1);
}

// The SDK answers the coordinator's probes itself; everything else sent to the port arrives here.
lease.on('message', (message, from) => {
  const types = message.args.map((arg) => arg.type).join('');
  const values = message.args.map((arg) => JSON.stringify(arg.value instanceof Uint8Array ? `<${arg.value.length} bytes>` : arg.value));
  console.log(`${[message.address, `,${types}`, ...values].join(' ')}  (from ${from.address}:${from.port})`);
  received++;
  if (received >= limit) void stop();
});
lease.on('moved', (port) => console.log(`moved to port ${port}`));

console.log(`verified port ${lease.port} (tempID ${lease.tempId})`);
