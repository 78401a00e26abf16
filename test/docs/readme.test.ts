import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { leaseMachine } from '../../machines/lease.js';
import { GENERATED_SECTIONS, upToDate, withSection } from '../../src/docs/readme.js';
import { stateChart } from '../../src/docs/state-chart.js';

const ROOT = new URL('../../', import.meta.url);

describe('the docs sections generated from the code', () => {
  for (const [file, sections] of Object.entries(GENERATED_SECTIONS)) {
    it(`${file}: ${Object.keys(sections).join(', ')} up to date (\`npm run readme\` rewrites them)`, () => {
      const text = readFileSync(new URL(file, ROOT), 'utf8');
      for (const name of Object.keys(sections)) {
        expect(text, `${file} has no ${name} markers`).toContain(`<!-- ${name}:start -->`);
        expect(text, `${file} has no ${name} markers`).toContain(`<!-- ${name}:end -->`);
      }
      expect(text, `${file} is out of date with the code: run \`npm run readme\``).toBe(upToDate(file, text));
    });
  }

  it('each section is generated into one file only, and the README holds none', () => {
    const names = Object.values(GENERATED_SECTIONS).flatMap((sections) => Object.keys(sections));
    expect(new Set(names).size).toBe(names.length);
    const readme = readFileSync(new URL('README.md', ROOT), 'utf8');
    for (const name of names) expect(readme).not.toContain(`<!-- ${name}:start -->`);
  });

  it('an out-of-date section is found, and a file without the markers is named', () => {
    const [file, sections] = Object.entries(GENERATED_SECTIONS)[0]!;
    const name = Object.keys(sections)[0]!;
    const stale = withSection(readFileSync(new URL(file, ROOT), 'utf8'), name, 'stale');
    expect(upToDate(file, stale)).not.toBe(stale);
    expect(() => upToDate(file, 'no markers here')).toThrow(`${file} has no <!-- ${name}:start -->`);
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
