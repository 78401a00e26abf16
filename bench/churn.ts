import type dgram from 'node:dgram';
import { decodeDatagram, encodeMessage, type DecodedMessage, type OscMessage } from '../src/osc/codec.js';
import * as wire from '../src/osc/wire.js';
import { ADDRESS } from '../src/osc/contract.js';
import { bindExclusive, closeSocket } from '../src/net/udp.js';

export interface ChurnOptions {
  /** The coordinator's port on 127.0.0.1. */
  port: number;
  cycles: number;
  /** Instances cycling at once, each on its own control socket (so they never queue behind each other). */
  concurrency?: number;
  /** tempIDs are `${prefix}-${n}`: every cycle is a tempID never seen before. */
  prefix?: string;
  onCycle?: (done: number) => void;
}

const WAIT_MS = 2000;

/**
 * Plugins that come and go: each cycle asks for a port as a new tempID, binds it
 * exclusively, confirms, answers the probe, then releases it and closes the socket.
 * Resolves once `cycles` leases have been verified and released.
 */
export async function churn(options: ChurnOptions): Promise<{ cycles: number; ms: number }> {
  const { port, cycles, concurrency = 16, prefix = `churn-${process.pid}`, onCycle } = options;
  let next = 0;
  let done = 0;
  const started = performance.now();
  const worker = async () => {
    const control = await bindExclusive('127.0.0.1', 0);
    const inbox = new Inbox(control);
    try {
      for (let n = next++; n < cycles; n = next++) {
        await cycle(`${prefix}-${n}`, port, control, inbox);
        done++;
        onCycle?.(done);
      }
    } finally {
      await closeSocket(control);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, cycles) }, worker));
  return { cycles: done, ms: performance.now() - started };
}

async function cycle(tempId: string, coordinatorPort: number, control: dgram.Socket, inbox: Inbox): Promise<void> {
  const send = (message: OscMessage) => control.send(encodeMessage(message), coordinatorPort, '127.0.0.1');
  const request = () => send(wire.requestPort(tempId, -1, control.address().port));
  request();
  let assignment = await inbox.next(ADDRESS.port_assignment, tempId, request);
  while (assignment.args[2]?.value !== 'assigned') {
    // busy or pool_exhausted: ask again a little later.
    await new Promise((resolve) => setTimeout(resolve, 50));
    request();
    assignment = await inbox.next(ADDRESS.port_assignment, tempId, request);
  }
  const leased = assignment.args[1]!.value as number;
  const socket = await bindExclusive('127.0.0.1', leased);
  const probes = new Inbox(socket);
  try {
    const confirm = () => send(wire.portConfirmed(tempId, leased, 'bound'));
    confirm();
    const probe = await probes.next(ADDRESS.query_rms, undefined, confirm);
    send(wire.rmsResponse(probe.args[0]!.value as string, tempId, 0));
    send(wire.release(tempId));
  } finally {
    await closeSocket(socket);
  }
}

/** The next message with an address (and first argument), re-sending through `retry` when none comes in time. */
class Inbox {
  private waiter: { address: string; first: string | undefined; resolve: (message: DecodedMessage) => void } | undefined;

  constructor(socket: dgram.Socket) {
    socket.on('message', (data) => {
      const decoded = decodeDatagram(data);
      if (!decoded.ok || !this.waiter) return;
      for (const message of decoded.messages) {
        const { address, first, resolve } = this.waiter;
        if (message.address !== address || (first !== undefined && message.args[0]?.value !== first)) continue;
        this.waiter = undefined;
        resolve(message);
        return;
      }
    });
  }

  next(address: string, first: string | undefined, retry: () => void): Promise<DecodedMessage> {
    return new Promise((resolve) => {
      const timer = setInterval(retry, WAIT_MS);
      this.waiter = {
        address,
        first,
        resolve: (message) => {
          clearInterval(timer);
          resolve(message);
        },
      };
    });
  }
}
