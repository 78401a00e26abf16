import dgram from 'node:dgram';
import { decodeDatagram, encodeMessage, type DecodedMessage, type OscArg } from '../../src/osc/codec.js';

export const s = (value: string): OscArg => ({ type: 's', value });
export const i = (value: number): OscArg => ({ type: 'i', value });
export const f = (value: number): OscArg => ({ type: 'f', value });

export interface Received {
  message: DecodedMessage;
  from: dgram.RemoteInfo;
}

/**
 * A raw OSC peer on one UDP socket, for driving the coordinator by hand.
 * Everything it receives is kept in order; `next` waits for the first message
 * (optionally with a given address) not yet taken.
 */
export class Peer {
  private readonly inbox: Received[] = [];
  private readonly waiters: Array<{ address: string | undefined; resolve: (r: Received) => void }> = [];

  private constructor(readonly socket: dgram.Socket) {
    socket.on('message', (data, from) => {
      const decoded = decodeDatagram(data);
      if (!decoded.ok) return;
      for (const message of decoded.messages) this.deliver({ message, from });
    });
  }

  static async bind(port = 0, options: { reuseAddr?: boolean; host?: string } = {}): Promise<Peer> {
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: options.reuseAddr ?? false });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, options.host ?? '127.0.0.1', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new Peer(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(toPort: number, address: string, ...args: OscArg[]): void {
    this.socket.send(encodeMessage({ address, args }), toPort, '127.0.0.1');
  }

  sendRaw(toPort: number, bytes: Uint8Array): Promise<void> {
    return new Promise((resolve) => this.socket.send(bytes, toPort, '127.0.0.1', () => resolve()));
  }

  next(address?: string, timeoutMs = 5000): Promise<Received> {
    const index = this.inbox.findIndex((r) => address === undefined || r.message.address === address);
    if (index >= 0) return Promise.resolve(this.inbox.splice(index, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter = {
        address,
        resolve: (r: Received) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no ${address ?? 'message'} within ${timeoutMs} ms on port ${this.port}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Messages received and not taken, for asserting that nothing else arrived. */
  pending(): Received[] {
    return [...this.inbox];
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private deliver(received: Received): void {
    const index = this.waiters.findIndex((w) => w.address === undefined || w.address === received.message.address);
    if (index >= 0) this.waiters.splice(index, 1)[0]!.resolve(received);
    else this.inbox.push(received);
  }
}

export function values(received: Received): unknown[] {
  return received.message.args.map((a) => a.value);
}

export function tags(received: Received): string {
  return received.message.args.map((a) => a.type).join('');
}
