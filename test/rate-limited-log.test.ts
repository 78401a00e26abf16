import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { createRateLimitedLog } from '../src/rate-limited-log.js';
import { collectLogs } from './helpers/logs.js';

function setup() {
  const { lines, logger } = collectLogs('debug');
  const clock = new SimulatedClock();
  return { lines, clock, log: createRateLimitedLog(logger, 1000, clock) };
}

describe('rate-limited log', () => {
  it('logs one line per kind per interval, and tells how many it kept quiet once the interval ends', () => {
    const { lines, clock, log } = setup();
    for (let n = 0; n < 500; n++) log('busy', 'warn', { n }, 'request refused: busy');
    log('malformed', 'warn', {}, 'malformed datagram dropped');
    expect(lines.map((line) => line.msg)).toEqual(['request refused: busy', 'malformed datagram dropped']);
    clock.increment(1000);
    expect(lines.slice(2)).toEqual([expect.objectContaining({ kind: 'busy', suppressed: 499, msg: 'request refused: busy (499 more kept quiet)' })]);
    log('busy', 'warn', { n: 500 }, 'request refused: busy');
    expect(lines).toHaveLength(4);
    expect(lines[3]).toMatchObject({ n: 500 });
  });

  it('keeps each line at its level, and close tells what is still held back', () => {
    const { lines, log } = setup();
    log('bound', 'info', {}, 'port verified');
    log('bound', 'info', {}, 'port verified');
    log.close();
    expect(lines.map((line) => [line.level, line.msg])).toEqual([
      [30, 'port verified'],
      [30, 'port verified (1 more kept quiet)'],
    ]);
  });
});
