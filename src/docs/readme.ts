import { leaseMachine } from '../../machines/lease.js';
import { COORDINATOR_SETTINGS, readmeTable } from '../settings/index.js';
import { stateChart } from './state-chart.js';

/**
 * The parts of the docs written from the code, each between `<!-- NAME:start -->` and
 * `<!-- NAME:end -->` in the file that holds it, so the docs cannot drift from the code:
 * `npm run readme` rewrites them, and a test fails when one is out of date.
 * Paths are from the repository's root.
 */
export const GENERATED_SECTIONS: Record<string, Record<string, () => string>> = {
  'docs/configuration.md': {
    settings: () => readmeTable(COORDINATOR_SETTINGS),
  },
  'docs/how-it-works.md': {
    'lease-machine': () => ['```mermaid', stateChart(leaseMachine), '```'].join('\n'),
  },
};

/** `text` with `body` between the markers of section `name`; `file` names it in the error. */
export function withSection(text: string, name: string, body: string, file = 'the file'): string {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from === -1 || to < from) throw new Error(`${file} has no ${start} ... ${end} markers`);
  return `${text.slice(0, from + start.length)}\n${body}\n${text.slice(to)}`;
}

/** `text`, the contents of `file`, with every section generated into that file as the code has it now. */
export function upToDate(file: string, text: string): string {
  const sections = GENERATED_SECTIONS[file];
  if (sections === undefined) throw new Error(`${file} holds no generated section`);
  return Object.entries(sections).reduce((doc, [name, body]) => withSection(doc, name, body(), file), text);
}
