import dgram from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { boundUdpPorts } from './port-holder.js';

/** Which of these UDP ports another socket holds on this host, checked in one batch. */
export interface PortCheck {
  (ports: readonly number[]): Promise<Set<number>>;
  /** How many ports are worth checking in one batch: all of them when one read answers for any number. */
  readonly batch?: number;
  /** Every UDP port some socket holds on this host, where one read tells (Linux); absent where it cannot. */
  readonly bound?: () => Promise<Set<number>>;
}

/**
 * [PROTOCOL §4] The ports some socket holds on any local address, so that none is offered. On
 * Linux one read of /proc/net/udp and udp6 answers for the whole batch (a few hundred
 * microseconds, against a bind and a close per port); elsewhere each port gets an exclusive bind
 * test on the wildcard address, which fails against any holder, reusing or not.
 */
export function createPortCheck(options: { procRoot?: string; concurrency?: number } = {}): PortCheck {
  const { procRoot = '/proc', concurrency = 32 } = options;
  const useProc = options.procRoot !== undefined || process.platform === 'linux';
  const check = async (ports: readonly number[]) => {
    if (useProc) {
      const held = await heldFromProc(procRoot).catch(() => undefined);
      if (held) return new Set(ports.filter((port) => held.has(port)));
    }
    return heldByBindTest(ports, concurrency);
  };
  return Object.assign(check, useProc ? { batch: Infinity, bound: () => heldFromProc(procRoot) } : { batch: 256 });
}

async function heldFromProc(procRoot: string): Promise<Set<number>> {
  const tables = await Promise.all(['udp', 'udp6'].map((name) => readFile(`${procRoot}/net/${name}`, 'latin1')));
  const held = boundUdpPorts(tables[0]!);
  for (const port of boundUdpPorts(tables[1]!)) held.add(port);
  return held;
}

async function heldByBindTest(ports: readonly number[], concurrency: number): Promise<Set<number>> {
  const held = new Set<number>();
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < ports.length; i = next++) if (!(await bindTest(ports[i]!))) held.add(ports[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, ports.length) }, worker));
  return held;
}

function bindTest(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind({ address: '0.0.0.0', port, exclusive: true }, () => socket.close(() => resolve(true)));
  });
}
