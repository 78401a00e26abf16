import dgram from 'node:dgram';
import { expect } from 'vitest';
import { decodeDatagram } from '../../src/osc/codec.js';
import { ADDRESS } from '../../src/osc/contract.js';
import { f, i, Peer, s, values } from './peer.js';

const QUERY_RMS = Buffer.from(ADDRESS.query_rms);

/**
 * A plugin instance driven by hand: it asks, binds its port the JUCE way
 * (SO_REUSEADDR) and answers probes under `answerAs` (its own tempID unless
 * told otherwise) while `answering` is true. It can go silent, send telemetry,
 * or be a thief that co-binds someone else's port.
 */
export class ManualPlugin {
  answering = true;
  probes = 0;
  port = -1;
  /** Called with each probe's nonce after the plugin's own answer, for tests that answer again. */
  onProbe: ((nonce: string) => void) | undefined;
  private receiver: dgram.Socket | undefined;

  private constructor(
    readonly tempId: string,
    private readonly coordinatorPort: number,
    readonly sender: Peer,
    public answerAs: string,
  ) {}

  static async create(tempId: string, coordinatorPort: number): Promise<ManualPlugin> {
    return new ManualPlugin(tempId, coordinatorPort, await Peer.bind(), tempId);
  }

  /** One that has asked, bound and answered its first probe: `close` it when done. */
  static async verified(tempId: string, coordinatorPort: number): Promise<ManualPlugin> {
    const plugin = await ManualPlugin.create(tempId, coordinatorPort);
    await plugin.handshake();
    await expect.poll(() => plugin.probes).toBeGreaterThan(0);
    return plugin;
  }

  /** Request, bind the assigned port, confirm: resolves with the port once the coordinator has verified it. */
  async handshake(preferredPort = -1): Promise<number> {
    this.sender.send(this.coordinatorPort, ADDRESS.request_port, s(this.tempId), i(preferredPort));
    const port = values(await this.sender.next(ADDRESS.port_assignment))[1] as number;
    await this.bind(port);
    this.sender.send(this.coordinatorPort, ADDRESS.port_confirmed, s(this.tempId), i(port), s('bound'));
    return port;
  }

  /** Binds `port` with SO_REUSEADDR, as JUCE does: on a port someone holds that way, this socket now receives. */
  async bind(port: number): Promise<void> {
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((resolve) => socket.bind(port, '0.0.0.0', resolve));
    socket.on('message', (data) => {
      const decoded = decodeDatagram(data);
      if (!decoded.ok) return;
      for (const message of decoded.messages) {
        if (message.address !== ADDRESS.query_rms) continue;
        this.probes++;
        const nonce = message.args[0]!.value as string;
        if (this.answering) this.sender.send(this.coordinatorPort, ADDRESS.rms_response, s(nonce), s(this.answerAs), f(0.1));
        this.onProbe?.(nonce);
      }
    });
    this.receiver = socket;
    this.port = port;
  }

  /** Raw datagrams that arrive on its port from now on, the coordinator's probes left out. */
  arrivals(): Buffer[] {
    const raw: Buffer[] = [];
    this.receiver?.on('message', (data) => {
      if (!data.subarray(0, QUERY_RMS.length).equals(QUERY_RMS)) raw.push(data);
    });
    return raw;
  }

  telemetry(): void {
    this.sender.send(this.coordinatorPort, '/aiplayer/telemetry', s(this.tempId), f(0.1), f(0), f(0), f(0), f(0));
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.receiver ? this.receiver.close(() => resolve()) : resolve()));
    await this.sender.close();
  }
}
