import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Layer {
  rank: number;
  name: string;
  /** Files (`src/main.ts`) and folders (`src/leases/`), relative to the root. */
  paths: string[];
}

/** The layers table of ARCHITECTURE.md: `| 3 | core | \`src/probes.ts\` \`src/leases/\` |`. */
export function readLayers(markdown: string): Layer[] {
  const layers: Layer[] = [];
  for (const match of markdown.matchAll(/^\| (\d+) \| (\w+) \| (.+) \|$/gm)) {
    const paths = [...match[3]!.matchAll(/`([^`]+)`/g)].map((path) => path[1]!);
    layers.push({ rank: Number(match[1]), name: match[2]!, paths });
  }
  return layers;
}

/** Every module's relative imports of other modules, by path from the root. */
export function importGraph(files: ReadonlyMap<string, string>): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const [file, text] of files) {
    const targets = new Set<string>();
    for (const match of text.matchAll(/(?:\bfrom|\bimport|\bimport\()\s*'(\.{1,2}\/[^']+)'/g)) {
      const target = relative(ROOT, resolve(ROOT, dirname(file), match[1]!)).replace(/\.js$/, '.ts');
      if (target.endsWith('.ts')) targets.add(target);
    }
    graph.set(file, targets);
  }
  return graph;
}

export function layerOf(file: string, layers: readonly Layer[]): Layer | undefined {
  return layers.find((layer) => layer.paths.some((path) => (path.endsWith('/') ? file.startsWith(path) : file === path)));
}

/** Imports that point to a higher layer, and modules no layer places. */
export function wrongWay(graph: ReadonlyMap<string, Set<string>>, layers: readonly Layer[]): string[] {
  const problems: string[] = [];
  for (const [file, targets] of graph) {
    const from = layerOf(file, layers);
    if (!from) {
      problems.push(`${file} is in no layer of ARCHITECTURE.md`);
      continue;
    }
    for (const target of targets) {
      const to = layerOf(target, layers);
      if (to && to.rank > from.rank) problems.push(`${file} (${from.name}) imports ${target} (${to.name})`);
    }
  }
  return problems;
}

/** Every import circle, as the modules in it (Tarjan's strongly connected components). */
export function circles(graph: ReadonlyMap<string, Set<string>>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (module: string) => {
    index.set(module, next);
    low.set(module, next++);
    stack.push(module);
    onStack.add(module);
    for (const target of graph.get(module) ?? []) {
      if (!graph.has(target)) continue;
      if (!index.has(target)) {
        visit(target);
        low.set(module, Math.min(low.get(module)!, low.get(target)!));
      } else if (onStack.has(target)) low.set(module, Math.min(low.get(module)!, index.get(target)!));
    }
    if (low.get(module) !== index.get(module)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== module);
    if (component.length > 1 || graph.get(module)!.has(module)) found.push(component.sort());
  };
  for (const module of graph.keys()) if (!index.has(module)) visit(module);
  return found;
}

function sources(): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (path.endsWith('.ts') && !path.endsWith('.d.ts')) files.set(path, readFileSync(join(ROOT, path), 'utf8'));
    }
  };
  walk('machines');
  walk('src');
  return files;
}

describe('the architecture of ARCHITECTURE.md', () => {
  const layers = readLayers(readFileSync(join(ROOT, 'ARCHITECTURE.md'), 'utf8'));
  const graph = importGraph(sources());

  it('places every module in a layer, and every import points to its own layer or a lower one', () => {
    expect(layers.map((layer) => layer.name)).toEqual(['machines', 'base', 'core', 'features', 'edge', 'programs']);
    expect(wrongWay(graph, layers)).toEqual([]);
  });

  it('has no import circle', () => {
    expect(circles(graph)).toEqual([]);
  });

  it('catches what it is there to catch: an import up the layers, an unplaced module, a circle', () => {
    const modules = new Map([
      ['src/leases/a.ts', "import { b } from '../routing/b.js';\nimport type { c } from './c.js';"],
      ['src/leases/c.ts', "export { a } from './a.js';"],
      ['src/routing/b.ts', "import x from '../leases/a.js';"],
      ['src/stray.ts', ''],
    ]);
    const sample = importGraph(modules);
    expect(wrongWay(sample, layers)).toEqual(['src/leases/a.ts (core) imports src/routing/b.ts (features)', 'src/stray.ts is in no layer of ARCHITECTURE.md']);
    expect(circles(sample)).toEqual([['src/leases/a.ts', 'src/leases/c.ts', 'src/routing/b.ts']]);
  });
});
