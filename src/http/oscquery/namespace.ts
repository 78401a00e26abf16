import type { StudioSnapshot } from '../studio.js';
import { escapeAddressPart } from './escape.js';
import type { OscQueryNode } from './node.js';

/** The namespace at one moment: the contract's addresses (fixed) beside `/plugins` and `/meters` (live). [PROTOCOL §18] */
export function namespaceRoot(protocol: OscQueryNode, snapshot: StudioSnapshot): OscQueryNode {
  return {
    FULL_PATH: '/',
    DESCRIPTION: snapshot.name,
    CONTENTS: { ...protocol.CONTENTS, ...liveNodes(snapshot) },
  };
}

/** `/plugins/<tempID>/...` for every lease and `/meters/<processor>/<param>` for every subscribed meter. */
export function liveNodes(snapshot: StudioSnapshot): { plugins: OscQueryNode; meters: OscQueryNode } {
  const plugins: Record<string, OscQueryNode> = {};
  for (const lease of snapshot.leases) {
    const part = escapeAddressPart(lease.tempId);
    const path = `/plugins/${part}`;
    const contents: Record<string, OscQueryNode> = {
      port: readable(`${path}/port`, 'i', lease.port, 'The UDP port the coordinator leased it.'),
      state: readable(`${path}/state`, 's', lease.state, 'Its lease: requesting, assigned, verifying or bound.'),
    };
    if (lease.trackId !== null) contents.track = readable(`${path}/track`, 's', lease.trackId, 'Its trackID.');
    contents.rms = {
      ...readable(`${path}/rms`, 'f', lease.rms, 'Its last level, from its telemetry or rms messages (0..1).'),
      RANGE: [{ MIN: 0, MAX: 1 }],
    };
    plugins[part] = { FULL_PATH: path, DESCRIPTION: `Plugin instance ${lease.tempId}`, CONTENTS: contents };
  }
  const meters: Record<string, OscQueryNode> = {};
  for (const processor of snapshot.processors) {
    if (processor.meters.length === 0) continue;
    const part = escapeAddressPart(processor.id);
    const path = `/meters/${part}`;
    const contents: Record<string, OscQueryNode> = {};
    for (const meter of processor.meters) {
      const param = escapeAddressPart(meter.param);
      contents[param] = {
        ...readable(`${path}/${param}`, 'f', meter.value, `Atlas meter ${meter.param}: its last reading, in dB.`),
        RANGE: [{ MIN: -80, MAX: 0 }],
        UNIT: ['dB'],
      };
    }
    meters[part] = { FULL_PATH: path, DESCRIPTION: `Atlas processor ${processor.id} (${processor.host}:${processor.port})`, CONTENTS: contents };
  }
  return {
    plugins: { FULL_PATH: '/plugins', DESCRIPTION: 'Each lease, by its tempID (escaped as PROTOCOL §18 says).', CONTENTS: plugins },
    meters: { FULL_PATH: '/meters', DESCRIPTION: 'Each subscribed Atlas meter, by processor and parameter.', CONTENTS: meters },
  };
}

/** A read-only value; no VALUE before there is one. */
function readable(path: string, type: 'i' | 'f' | 's', value: number | string | null, description: string): OscQueryNode {
  return { FULL_PATH: path, TYPE: type, ACCESS: 1, ...(value === null ? {} : { VALUE: [value] }), DESCRIPTION: description };
}

/**
 * The node at a URL path, `/` the root, a trailing slash tolerated. Parts are matched as written (FULL_PATH
 * escapes are URL-safe), then percent-decoded, for a client that encoded the path once more.
 */
export function nodeAt(root: OscQueryNode, pathname: string): OscQueryNode | undefined {
  const parts = pathname.split('/').filter((part) => part !== '');
  let node: OscQueryNode | undefined = root;
  for (const part of parts) {
    const contents: Record<string, OscQueryNode> = node?.CONTENTS ?? {};
    node = Object.hasOwn(contents, part) ? contents[part] : Object.hasOwn(contents, decoded(part)) ? contents[decoded(part)] : undefined;
    if (!node) return undefined;
  }
  return node;
}

function decoded(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/** Every node below `node` (itself included), by FULL_PATH. */
export function flatten(node: OscQueryNode, into = new Map<string, OscQueryNode>()): Map<string, OscQueryNode> {
  into.set(node.FULL_PATH, node);
  for (const child of Object.values(node.CONTENTS ?? {})) flatten(child, into);
  return into;
}
