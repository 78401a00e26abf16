import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { leaseMachine } from '../../machines/lease.js';
import { upToDate } from '../../src/docs/readme.js';
import { stateChart } from '../../src/docs/state-chart.js';

describe('README.md sections generated from the code', () => {
  it('are up to date (`npm run readme` rewrites them)', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme, 'README.md is out of date with the code: run `npm run readme`').toBe(upToDate(readme));
  });

  it('the lease chart shows every state and the transitions of the handshake, with guards', () => {
    const chart = stateChart(leaseMachine);
    for (const state of ['requesting', 'assigned', 'verifying', 'bound', 'alive', 'checking', 'failed', 'lapsed', 'expired', 'stolen', 'released']) {
      expect(chart).toMatch(new RegExp(`\\b${state}\\b`));
    }
    expect(chart).toContain('requesting --> assigned: OFFER');
    expect(chart).toContain('assigned --> verifying: CONFIRMED [isOwnPort]');
    expect(chart).toContain('verifying --> bound: PROBE_ANSWERED');
    expect(chart).toContain('assigned --> requesting: TIMEOUT [canResend]');
    expect(chart).toContain('state bound {');
    expect(chart).toContain('from any live state, RELEASE to released; PORT_PROVEN to bound');
  });
});
