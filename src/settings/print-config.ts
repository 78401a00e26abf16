import { stringify } from 'yaml';
import type { Resolution } from './resolve.js';

/**
 * The effective settings as YAML that reads back as a config file, each value's line marked
 * with where it came from (`port: 9001  # config`); sections open nested mappings.
 */
export function formatConfig(resolution: Resolution<unknown>): string {
  const lines: Array<{ text: string; source?: string }> = [];
  let open: readonly string[] = [];
  for (const { placed, value, source } of resolution.resolved) {
    const { sections, setting } = placed;
    let depth = 0;
    while (depth < open.length && depth < sections.length && open[depth] === sections[depth]) depth++;
    for (; depth < sections.length; depth++) lines.push({ text: `${'  '.repeat(depth)}${sections[depth]}:` });
    open = sections;
    // Flow style and no folding: one line per setting, so each can carry its source.
    const yaml = stringify(setting.type.toConfig(value), { collectionStyle: 'flow', lineWidth: 0 }).trimEnd();
    lines.push({ text: `${'  '.repeat(sections.length)}${setting.key}: ${yaml}`, source });
  }
  const width = Math.max(0, ...lines.map(({ text, source }) => (source ? text.length : 0)));
  return lines.map(({ text, source }) => (source ? `${text.padEnd(width)}  # ${source}\n` : `${text}\n`)).join('');
}
