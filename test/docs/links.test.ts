import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Every relative link in the manual resolves: the file exists, and an #anchor names a heading of
// the markdown file it points into (GitHub's slugs).

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The pages checked, from the root: the README, every page of docs/, and the other manuals. */
function pages(): string[] {
  const docs = readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`);
  return ['README.md', ...docs, 'bench/README.md', 'ARCHITECTURE.md', 'protocol/PROTOCOL.md'];
}

/** The markdown text outside fenced code blocks and inline code spans, line by line (numbers kept). */
export function proseLines(text: string): string[] {
  let fence: string | null = null;
  return text.split('\n').map((line) => {
    const marker = /^\s*(```|~~~)/.exec(line)?.[1];
    if (marker !== undefined && (fence === null || fence === marker)) {
      fence = fence === null ? marker : null;
      return '';
    }
    if (fence !== null) return '';
    return line.replace(/`[^`]*`/g, '``');
  });
}

/** Every link and image target of a markdown text: `[x](target)` and `![x](target)`, with its line. */
export function linkTargets(text: string): { target: string; line: number }[] {
  const found: { target: string; line: number }[] = [];
  proseLines(text).forEach((line, n) => {
    for (const match of line.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      found.push({ target: match[1]!, line: n + 1 });
    }
  });
  return found;
}

/** GitHub's anchor for a heading: lowercase, punctuation dropped except '-' and '_', each space a '-'. */
export function slug(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M} _-]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors of a markdown text's headings; a repeated heading gets -1, -2 ... as on GitHub. */
export function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  const raw = text.split('\n');
  proseLines(text).forEach((prose, n) => {
    if (prose === '') return; // blank, a fence, or inside one
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(raw[n]!)?.[1];
    if (heading === undefined) return;
    const base = slug(heading);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  });
  return result;
}

/** What is wrong with each relative link of `page` (a path from the root), as `page:line: target: why`. */
export function brokenLinks(page: string, read: (path: string) => string | null): string[] {
  const text = read(page);
  if (text === null) return [`${page}: missing`];
  const problems: string[] = [];
  for (const { target, line } of linkTargets(text)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) continue; // a URL, not a path
    const hash = target.indexOf('#');
    const path = decodeURI(hash === -1 ? target : target.slice(0, hash));
    const anchor = hash === -1 ? null : decodeURIComponent(target.slice(hash + 1));
    const file = path === '' ? page : relative(ROOT, join(ROOT, dirname(page), path)).split('\\').join('/');
    const where = `${page}:${line}: ${target}`;
    if (file.startsWith('..')) {
      problems.push(`${where}: points outside the repository`);
      continue;
    }
    const contents = read(file);
    if (contents === null) {
      problems.push(`${where}: no such file ${file}`);
      continue;
    }
    if (anchor !== null && file.endsWith('.md') && !anchors(contents).has(anchor)) {
      problems.push(`${where}: ${file} has no heading #${anchor}`);
    }
  }
  return problems;
}

/** A markdown file's text from the root, '' for any other file or a directory, null when nothing is there. */
function readFromRoot(path: string): string | null {
  const full = join(ROOT, path);
  if (!existsSync(full)) return null;
  return statSync(full).isFile() && path.endsWith('.md') ? readFileSync(full, 'utf8') : '';
}

describe('relative links in the manual', () => {
  it.each(pages())('%s: every link resolves, and every #anchor names a heading', (page) => {
    expect(brokenLinks(page, readFromRoot)).toEqual([]);
  });

  it('the README links every page of docs/, bench/README.md, PROTOCOL.md and ARCHITECTURE.md', () => {
    const linked = new Set(linkTargets(readFileSync(join(ROOT, 'README.md'), 'utf8')).map(({ target }) => target.split('#')[0]));
    for (const page of pages().filter((p) => p !== 'README.md')) expect(linked, page).toContain(page);
  });
});

describe('the link checker', () => {
  const files: Record<string, string> = {
    'README.md': [
      '# Title',
      'See [the guide](docs/guide.md#first-steps), [setup](docs/guide.md#set-it-up-now), ![shot](docs/images/shot.png).',
      '[top](#title) and [a site](https://example.com/x.md) and [mail](mailto:a@b.c)',
      '```',
      '[not a link](nowhere.md)',
      '```',
      'Inline `[nor this](nowhere.md)` either.',
    ].join('\n'),
    'docs/guide.md': ['# Guide', '## First steps', '## Set it up: `now`!', '```sh', '# not a heading', '```', '[back](../README.md#title)'].join('\n'),
    'docs/images/shot.png': '',
  };
  const read = (path: string) => files[path] ?? null;

  it('passes links to files and headings that exist, and ignores URLs and code', () => {
    expect(brokenLinks('README.md', read)).toEqual([]);
    expect(brokenLinks('docs/guide.md', read)).toEqual([]);
  });

  it('finds a missing file, a missing heading and a link out of the repository', () => {
    const broken: Record<string, string> = { ...files, 'README.md': '[a](docs/gone.md)\n[b](docs/guide.md#last-steps)\n[c](#nowhere)\n![d](docs/images/gone.png)\n[e](../../etc/passwd)' };
    expect(brokenLinks('README.md', (path) => broken[path] ?? null)).toEqual([
      'README.md:1: docs/gone.md: no such file docs/gone.md',
      'README.md:2: docs/guide.md#last-steps: docs/guide.md has no heading #last-steps',
      'README.md:3: #nowhere: README.md has no heading #nowhere',
      'README.md:4: docs/images/gone.png: no such file docs/images/gone.png',
      'README.md:5: ../../etc/passwd: points outside the repository',
    ]);
  });

  it("slugs headings as GitHub does", () => {
    expect(slug("§16 Today's builds: the extra port, and the sweeps")).toBe('16-todays-builds-the-extra-port-and-the-sweeps');
    expect(slug('§10 Admin queries: `/coordinator/...`')).toBe('10-admin-queries-coordinator');
    expect(slug('Simulating a DAW: `oscport simulate`')).toBe('simulating-a-daw-oscport-simulate');
    expect(slug('The `oscport` command')).toBe('the-oscport-command');
    expect(slug('snake_case and kebab-case')).toBe('snake_case-and-kebab-case');
    expect([...anchors('# A\n## A\n## A')]).toEqual(['a', 'a-1', 'a-2']);
  });
});
