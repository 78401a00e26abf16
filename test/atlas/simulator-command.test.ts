import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { buildAtlasSimCommand, DEFAULT_METERS_TEXT, parseParamRanges } from '../../src/atlas/simulator-command.js';
import { DEFAULT_METERS } from '../../src/atlas/simulator.js';
import { collectLogs } from '../helpers/logs.js';
import { lineClient, udpListener } from './helpers.js';

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
    const running = buildAtlasSimCommand({ logger, signals }).parseAsync(args, { from: 'user' });

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
