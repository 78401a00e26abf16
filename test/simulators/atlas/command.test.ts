import { spawn } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { buildAtlasSimCommand, DEFAULT_METERS_TEXT, parseParamRanges, parseSimCommand } from '../../../src/simulators/atlas/command.js';
import { CLI } from '../../helpers/cli.js';
import { KEEPALIVE_REQUEST } from '../../../src/atlas/protocol.js';
import { DEFAULT_METERS } from '../../../src/simulators/atlas/simulator.js';
import { collectLogs } from '../../helpers/logs.js';
import { lineClient, udpListener } from '../../atlas/helpers.js';

describe('parseParamRanges', () => {
  it('expands Name_A..B ranges and single names, in order, without duplicates', () => {
    expect(parseParamRanges('SourceMeter_0..2, ZoneMeter_7,MixMeter_1..1,SourceMeter_1')).toEqual([
      'SourceMeter_0',
      'SourceMeter_1',
      'SourceMeter_2',
      'ZoneMeter_7',
      'MixMeter_1',
    ]);
  });

  it('the default flag text is the simulator default', () => {
    expect(parseParamRanges(DEFAULT_METERS_TEXT)).toEqual(DEFAULT_METERS);
  });

  it.each([
    ['', 'is not Name_N'],
    ['SourceMeter', 'is not Name_N'],
    ['SourceMeter_', 'is not Name_N'],
    ['SourceMeter_3..1', 'runs backwards'],
    ['SourceMeter_0..x', 'is not Name_N'],
    ['Source Meter_1', 'is not Name_N'],
    ['SourceMeter_0..,ZoneMeter_1', 'is not Name_N'],
    ['SourceMeter_0..99999', 'more than 4096'],
  ])('rejects %j', (text, message) => {
    expect(() => parseParamRanges(text)).toThrow(message);
  });
});

describe('atlas-sim command', () => {
  it('runs a simulator with the flags given until SIGINT', async () => {
    const meters = await udpListener();
    const { lines, logger } = collectLogs();
    const signals = new EventEmitter();
    const args = ['--host', '127.0.0.2', '--tcp-port', '0', '--meter-port', String(meters.port), '--meters', 'ZoneMeter_0..1', '--rate', '100'];
    const running = buildAtlasSimCommand({ logger, signals, input: new PassThrough() }).parseAsync(args, { from: 'user' });

    await expect.poll(() => lines.find((line) => line.msg === 'atlas-sim: listening')).toBeDefined();
    const { tcpPort } = lines.find((line) => line.msg === 'atlas-sim: listening') as unknown as { tcpPort: number };
    const client = await lineClient('127.0.0.2', tcpPort);
    client.send('{"jsonrpc":"2.0","method":"sub","params":{"param":"ZoneMeter_1","fmt":"val"}}\n');
    await expect.poll(() => meters.received.length).toBeGreaterThan(0);
    expect(meters.received[0]).toMatchObject({ from: '127.0.0.2', text: expect.stringContaining('"ZoneMeter_1"') });

    signals.emit('SIGINT');
    await running;
    expect(lines.at(-1)?.msg).toBe('atlas-sim: stopped');
    expect(signals.listenerCount('SIGINT') + signals.listenerCount('SIGTERM')).toBe(0);
    client.close();
    await meters.close();
  });

  it('refuses a bad flag as a usage error', () => {
    const command = buildAtlasSimCommand().exitOverride().configureOutput({ writeErr: () => {} });
    expect(() => command.parse(['--rate', '0'], { from: 'user' })).toThrow('not a rate');
    expect(() => command.parse(['--tcp-port', '70000'], { from: 'user' })).toThrow('not a port');
  });
});

describe('parseSimCommand', () => {
  it('reads a command a line, in any case, and nothing from a blank line', () => {
    expect(['drop', ' Silent ', 'speak', 'GARBAGE', '   '].map(parseSimCommand)).toEqual(['drop', 'silent', 'speak', 'garbage', undefined]);
  });

  it('names the commands when the line is none of them', () => {
    expect(() => parseSimCommand('reboot')).toThrow('unknown command "reboot": try drop, silent, speak, garbage');
  });
});

/** A raw TCP client of the simulator: every byte it sends, as text, and when it closes. */
async function rawClient(host: string, port: number) {
  const socket = net.createConnection({ host, port });
  await once(socket, 'connect');
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  const closed = once(socket, 'close');
  return { socket, text: () => text, closed };
}

describe('atlas-sim commands on a piped stdin', () => {
  it('drop closes every connection; garbage sends malformed lines; silent leaves keep-alives unanswered until speak', async () => {
    const { lines, logger } = collectLogs();
    const signals = new EventEmitter();
    const input = new PassThrough();
    const running = buildAtlasSimCommand({ logger, signals, input }).parseAsync(['--host', '127.0.0.2', '--tcp-port', '0', '--rate', '1'], { from: 'user' });
    await expect.poll(() => lines.find((line) => line.msg === 'atlas-sim: listening')).toBeDefined();
    const { tcpPort } = lines.find((line) => line.msg === 'atlas-sim: listening') as unknown as { tcpPort: number };

    const first = await rawClient('127.0.0.2', tcpPort);
    input.write('drop\n');
    await first.closed;

    const second = await rawClient('127.0.0.2', tcpPort);
    input.write('garbage\n');
    await expect.poll(() => second.text()).toContain('this is not json');

    input.write('silent\n');
    await expect.poll(() => lines.some((line) => String(line.msg).startsWith('atlas-sim: silent'))).toBe(true);
    second.socket.write(KEEPALIVE_REQUEST);
    input.write('speak\n');
    await expect.poll(() => lines.some((line) => line.msg === 'atlas-sim: speaking again')).toBe(true);
    second.socket.write(KEEPALIVE_REQUEST);
    // TCP keeps order: once the second keep-alive is answered, an answer to the first would have come before it.
    await expect.poll(() => second.text().match(/KeepAlive/g)?.length ?? 0).toBe(1);

    input.write('reboot\n');
    await expect.poll(() => lines.find((line) => String(line.msg).includes('unknown command "reboot"'))).toBeDefined();

    signals.emit('SIGINT');
    await running;
    second.socket.destroy();
  });

  it('oscport atlas-sim takes them from a pipe, and still stops at SIGINT with the pipe open', async () => {
    const sim = spawn(process.execPath, [CLI, 'atlas-sim', '--host', '127.0.0.3', '--tcp-port', '0', '--rate', '1'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = once(sim, 'exit');
    try {
      const out = createInterface({ input: sim.stdout! });
      let tcpPort = 0;
      for await (const line of out) {
        const entry = JSON.parse(line) as { msg?: string; tcpPort?: number };
        if (entry.msg === 'atlas-sim: listening') {
          tcpPort = entry.tcpPort!;
          break;
        }
      }
      const client = await rawClient('127.0.0.3', tcpPort);
      sim.stdin!.write('drop\n');
      await client.closed;
      sim.kill('SIGINT');
      expect((await exited)[0]).toBe(0);
    } finally {
      if (sim.exitCode === null) sim.kill('SIGKILL');
    }
  });
});
