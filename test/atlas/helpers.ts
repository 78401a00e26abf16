import dgram from 'node:dgram';
import net from 'node:net';
import { LineSplitter } from '../../src/atlas/protocol.js';

/** A UDP socket on loopback that keeps what it receives, as text with its source address. */
export async function udpListener(host = '127.0.0.1'): Promise<{ port: number; received: { from: string; text: string }[]; close(): Promise<void> }> {
  const socket = dgram.createSocket('udp4');
  const received: { from: string; text: string }[] = [];
  socket.on('message', (data, from) => received.push({ from: from.address, text: data.toString('utf8') }));
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  return {
    port: socket.address().port,
    received,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/** A raw TCP client speaking JSON lines: what a bridge would send, and every line it got back, parsed. */
export async function lineClient(host: string, port: number): Promise<{ send(line: string): void; lines: unknown[]; close(): void }> {
  const socket = net.createConnection({ host, port });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const splitter = new LineSplitter();
  const lines: unknown[] = [];
  socket.on('data', (chunk: Buffer) => lines.push(...splitter.push(chunk).map((line) => JSON.parse(line) as unknown)));
  return { send: (line) => socket.write(line), lines, close: () => socket.destroy() };
}
