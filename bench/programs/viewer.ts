import { request } from 'node:http';
import WebSocket from 'ws';

/**
 * A studio's viewers, for the relay and handshake benchmarks (OSCPORT_BENCH_VIEWERS=1): a page's event
 * stream (`/view/events`, read as it comes) and an OSCQuery WebSocket that LISTENs to as many plugins' levels
 * as one socket may (256, each `/plugins/<tempID>/rms`, and those of plugins added later), held
 * open for the whole run from their own process, as a browser and an OSC tool would be: what they cost
 * the coordinator is on its side of the socket, not in reading.
 *
 * Usage: node viewer.js PORT. IPC: `{ type: 'ready' }` once the first snapshot has arrived; `{ type: 'report' }`
 * is answered by `{ type: 'report', snapshots, levels, bytes, frames, websocket }`.
 */
const port = Number(process.argv[2]);
const host = `127.0.0.1:${port}`;
const seen = { snapshots: 0, levels: 0, bytes: 0, frames: 0, websocket: 'connecting' };

const stream = request({ host: '127.0.0.1', port, path: '/view/events', headers: { host } }, (res) => {
  if (res.statusCode !== 200) {
    process.stderr.write(`viewer: /view/events answered ${res.statusCode}\n`);
    process.exit(1);
  }
  res.setEncoding('utf8');
  let pending = '';
  res.on('data', (chunk: string) => {
    seen.bytes += chunk.length;
    pending += chunk;
    let end: number;
    while ((end = pending.indexOf('\n\n')) !== -1) {
      const block = pending.slice(0, end);
      pending = pending.slice(end + 2);
      if (block.startsWith('event: snapshot')) {
        if (seen.snapshots++ === 0) process.send!({ type: 'ready' });
      } else if (block.startsWith('event: levels')) seen.levels++;
    }
  });
  res.on('close', () => process.stderr.write('viewer: the event stream closed\n'));
});
stream.end();

// The WebSocket is OSCQuery's; where it is not served yet, the viewer goes on with the page alone.
const socket = new WebSocket(`ws://${host}/`);
const MAX_LISTENS = 256;
let listens = 0;
const listen = (plugin: string) => {
  if (listens++ < MAX_LISTENS) socket.send(JSON.stringify({ COMMAND: 'LISTEN', DATA: `${plugin}/rms` }));
};
socket.on('open', async () => {
  seen.websocket = 'open';
  const plugins = (await (await fetch(`http://${host}/plugins`)).json()) as { CONTENTS?: Record<string, { FULL_PATH: string }> };
  for (const node of Object.values(plugins.CONTENTS ?? {})) listen(node.FULL_PATH);
});
socket.on('message', (data, binary) => {
  if (binary) seen.frames++;
  else {
    const change = JSON.parse(String(data)) as { COMMAND?: string; DATA?: string };
    if (change.COMMAND === 'PATH_ADDED' && change.DATA?.startsWith('/plugins/')) listen(change.DATA);
  }
});
socket.on('error', (err) => (seen.websocket = `refused (${err.message})`));
socket.on('close', () => {
  if (seen.websocket === 'open') seen.websocket = 'closed';
});

process.on('message', (message) => {
  if ((message as { type?: string }).type === 'report') process.send!({ type: 'report', ...seen });
});
process.on('disconnect', () => process.exit(0));
