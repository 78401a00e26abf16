import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by function
 * and by area of the coordinator (XState, journal, codec, UDP send, port
 * check, nonce, GC...), optionally only over given time windows (µs, on the
 * profile's clock, which is CLOCK_MONOTONIC like process.hrtime).
 *
 *   node dist/bench/cpuprofile.js FILE.cpuprofile [TOP]
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}
export type Window = [startUs: number, endUs: number];

export interface Row {
  name: string;
  ms: number;
  /** Of busy time, weighting each sample by the time to the next one. */
  share: number;
  /** Of busy samples, each counted once. */
  sampleShare: number;
}
export interface Summary {
  /** Sampled time counted (inside the windows, if any), idle excluded. */
  busyMs: number;
  idleMs: number;
  samples: number;
  windowed: boolean;
  functions: Row[];
  areas: Row[];
}

const IDLE = '(idle)';
const PORT_CHECK = 'OS port check (port-check.ts: socket, bind, close)';

/** Areas whose frames claim everything they call (a native send under doSend is UDP send), innermost first. */
function stickyArea(frame: CallFrame): string | undefined {
  const { url, functionName } = frame;
  if (url.includes('/src/port-check.js')) return PORT_CHECK;
  if (url.includes('/src/nonce.js')) return 'nonce (randomBytes)';
  if (/\/src\/(journal|journal-format|lease-keeper)\.js/.test(url)) return 'journal (journal*.ts, lease-keeper.ts)';
  if (url.includes('/node_modules/osc/') || url.includes('/src/core/codec.js')) return 'codec (codec.ts + osc.js)';
  if (url === 'node:dgram' && /^(send|doSend|afterDns|sliceBuffer|fixBufferList|enqueue)$/.test(functionName)) return 'UDP send (node:dgram send + sendmsg)';
  // The coordinator binds no socket but the port check's test sockets (bind's lookup callback is anonymous).
  if (url === 'node:dgram' && /^(bind|startListening|onListening|createSocket|Socket|close|_healthCheck|Socket\.(bind|close))$/.test(functionName))
    return PORT_CHECK;
  return undefined;
}

/** Where a frame's own code lives, for samples no sticky area claims. */
function codeArea(frame: CallFrame): string | undefined {
  const { url, functionName } = frame;
  if (functionName === '(garbage collector)') return 'GC';
  if (functionName === '(program)') return '(program): native, no JS on the stack (libuv poll + recvmsg, V8)';
  if (functionName === IDLE) return IDLE;
  if (functionName === '(root)') return '(root)';
  if (!url) return undefined; // a native function: its caller says whose it is
  if (url.includes('/node_modules/xstate/')) return 'XState (node_modules/xstate)';
  if (url.includes('/machines/')) return 'machine definition (guards, delays)';
  if (url.includes('/src/core/wire.js')) return 'wire.ts (parse, validate)';
  if (url.includes('/src/core/pool.js') || url.includes('/src/offers.js') || url.includes('/src/core/endpoint-queue.js'))
    return 'pool + offers';
  if (url.includes('/src/liveness.js') || url.includes('/src/deadlines.js')) return 'liveness + deadlines';
  if (url.includes('/src/handlers/') || url.includes('/src/coordinator.js')) return 'handlers + dispatch';
  if (url.includes('/src/')) return 'assignments + other src';
  if (url === 'node:dgram' || url.includes('internal/dgram')) return 'UDP receive (node:dgram onMessage)';
  if (url.includes('/bench/')) return 'bench harness';
  if (url.startsWith('node:')) return `node runtime (${url.replace(/^node:(internal\/)?/, '').split('/')[0]})`;
  if (url.includes('/node_modules/')) return `node_modules/${url.split('/node_modules/')[1]!.split('/')[0]}`;
  return 'other';
}

function shortUrl(url: string): string {
  if (!url) return '(native)';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) return url.slice(modules + '/node_modules/'.length);
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + '/dist/'.length);
  return url.replace(/^file:\/\//, '');
}

export function summarise(profile: CpuProfile, windows: Window[] = [], top = 15): Summary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  /** dgram's bind() goes on in an anonymous lookup callback, which starts listening. */
  const isBindCallback = (node: ProfileNode) =>
    node.callFrame.url === 'node:dgram' &&
    node.callFrame.functionName === '' &&
    (node.children ?? []).some((child) => byId.get(child)!.callFrame.functionName === 'startListening');
  // Each node's area: the innermost sticky frame on its stack, else its own code (a native frame's: its caller's).
  const areaOf = new Map<number, string>();
  const classify = (id: number): string => {
    const known = areaOf.get(id);
    if (known !== undefined) return known;
    let sticky: string | undefined;
    let code: string | undefined;
    for (let at: number | undefined = id; at !== undefined && sticky === undefined; at = parent.get(at)) {
      const node = byId.get(at)!;
      sticky = stickyArea(node.callFrame) ?? (isBindCallback(node) ? PORT_CHECK : undefined);
      code ??= codeArea(node.callFrame);
    }
    const area = sticky ?? code ?? 'other';
    areaOf.set(id, area);
    return area;
  };

  const times: number[] = new Array(profile.samples.length);
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) times[i] = t += profile.timeDeltas[i]!;
  const inWindow = (time: number) => windows.length === 0 || windows.some(([from, to]) => time >= from && time <= to);

  const functions = new Map<string, Tally>();
  const areas = new Map<string, Tally>();
  const add = (map: Map<string, Tally>, key: string, us: number) => {
    const tally = map.get(key);
    if (tally) {
      tally.us += us;
      tally.samples++;
    } else map.set(key, { us, samples: 1 });
  };
  let busy = 0;
  let busySamples = 0;
  let idle = 0;
  let counted = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const time = times[i]!;
    if (!inWindow(time)) continue;
    // A sample stands for the time until the next one (as DevTools counts it).
    const us = i + 1 < times.length ? times[i + 1]! - time : 0;
    const node = byId.get(profile.samples[i]!)!;
    counted++;
    if (node.callFrame.functionName === IDLE) {
      idle += us;
      continue;
    }
    busy += us;
    busySamples++;
    const { functionName, url, lineNumber } = node.callFrame;
    add(functions, `${functionName || '(anonymous)'}  ${shortUrl(url)}${url ? `:${lineNumber + 1}` : ''}`, us);
    add(areas, classify(node.id), us);
  }
  const rows = (map: Map<string, Tally>, limit: number): Row[] =>
    [...map]
      .sort((a, b) => b[1].us - a[1].us)
      .slice(0, limit)
      .map(([name, { us, samples }]) => ({
        name,
        ms: us / 1000,
        share: busy > 0 ? us / busy : 0,
        sampleShare: busySamples > 0 ? samples / busySamples : 0,
      }));
  return {
    busyMs: busy / 1000,
    idleMs: idle / 1000,
    samples: counted,
    windowed: windows.length > 0,
    functions: rows(functions, top),
    areas: rows(areas, Infinity),
  };
}

interface Tally {
  us: number;
  samples: number;
}

export function formatSummary(summary: Summary, top = summary.functions.length): string {
  const pct = (share: number) => `${(share * 100).toFixed(1)}%`.padStart(7);
  const row = ({ name, ms, share, sampleShare }: Row) => `${pct(share)} ${pct(sampleShare)} ${ms.toFixed(1).padStart(9)} ms  ${name}`;
  const header = '   time samples      self';
  return [
    `${summary.samples} samples${summary.windowed ? ' inside the measured spans' : ''}: ${summary.busyMs.toFixed(1)} ms busy, ` +
      `${summary.idleMs.toFixed(1)} ms idle. Shares are of busy time: by sampled time (DevTools' weighting) and by sample count.`,
    '',
    `top ${Math.min(top, summary.functions.length)} functions by self time:`,
    header,
    ...summary.functions.slice(0, top).map(row),
    '',
    'self time by area:',
    header,
    ...summary.areas.map(row),
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, topText] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node cpuprofile.js FILE.cpuprofile [TOP]\n');
    process.exit(2);
  }
  const top = Number(topText ?? 15);
  console.log(formatSummary(summarise(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, [], top), top));
}
