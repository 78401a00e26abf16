import { leaseMachine } from '../../machines/lease.js';
import { COORDINATOR_SETTINGS, readmeTable } from '../settings/index.js';
import { stateChart } from './state-chart.js';

/**
 * The parts of README.md written from the code, each between `<!-- NAME:start -->` and
 * `<!-- NAME:end -->`, so the README cannot drift from it: `npm run readme` rewrites them, and a
 * test fails when one is out of date.
 */
export const README_SECTIONS: Record<string, () => string> = {
  settings: () => readmeTable(COORDINATOR_SETTINGS),
  'lease-machine': () => ['```mermaid', stateChart(leaseMachine), '```'].join('\n'),
};

/** The README with `body` between the markers of section `name`. */
export function withSection(readme: string, name: string, body: string): string {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const from = readme.indexOf(start);
  const to = readme.indexOf(end);
  if (from === -1 || to < from) throw new Error(`README.md has no ${start} ... ${end} markers`);
  return `${readme.slice(0, from + start.length)}\n${body}\n${readme.slice(to)}`;
}

/** The README with every generated section as the code has it now. */
export function upToDate(readme: string): string {
  return Object.entries(README_SECTIONS).reduce((text, [name, body]) => withSection(text, name, body()), readme);
}
