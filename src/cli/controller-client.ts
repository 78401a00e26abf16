import type dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { closeSocket } from '../net/udp.js';
import { decodeDatagram, encodeMessage, type DecodedMessage, type OscArg } from '../osc/codec.js';
import { ADDRESS } from '../osc/contract.js';
import type { RmsAnswer, Silent } from '../routing/messages.js';
import { createNonce } from '../nonce.js';
import { AdminUnavailableError, connectedSocket, unreachable, type CoordinatorAddress } from './coordinator-client.js';

export interface ControllerEvents {
  /** A plugin's message, forwarded by the coordinator as it came. */
  traffic: [DecodedMessage];
  lease: [{ tempId: string; port: number; state: string }];
  track: [{ tempId: string; trackId: string }];
  /** A `/coordinator/error` about something this controller sent. */
  refused: [{ code: string; detail: string; requestAddress: string }];
  /** Renewals of the subscription went unanswered (the coordinator stopped, or cannot be reached). Renewing goes on. */
  lost: [];
  /** A renewal was answered again after `lost`: a coordinator that came back has registered this controller anew. */
  regained: [];
}

/** Renewals in a row left unanswered before the coordinator counts as lost. */
const UNANSWERED_RENEWALS = 2;

/** A controller of the coordinator (PROTOCOL §11-§14), as the CLI's send, tail and calibrate-rms use it. */
export class ControllerClient extends EventEmitter<ControllerEvents> {
  private subscribed: ((renewWithinMs: number) => void) | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private lastAnswerAt = 0;
  private lost = false;
  private readonly gathers = new Map<string, (message: DecodedMessage) => void>();
  /** How to fail each wait for an answer (subscribing, gathering) when the coordinator cannot be reached. */
  private readonly waiting = new Set<(err: Error) => void>();

  private constructor(
    readonly coordinator: CoordinatorAddress,
    private readonly socket: dgram.Socket,
  ) {
    super();
    socket.on('message', (data) => this.receive(data));
    // Connected: a send nobody receives comes back as ECONNREFUSED, which ends every wait at once.
    socket.on('error', (err) => {
      for (const fail of [...this.waiting]) fail(unreachable(coordinator, err));
      if (this.renewTimer !== undefined) this.markLost();
    });
  }

  /** Rejects with AdminUnavailableError when the coordinator's address cannot be reached. */
  static async open(coordinator: CoordinatorAddress): Promise<ControllerClient> {
    return new ControllerClient(coordinator, await connectedSocket(coordinator));
  }

  /**
   * Registers, and renews well within the interval the coordinator gives, until `close`. When renewals go
   * unanswered it says so (`lost`) and keeps renewing, which registers it again with a coordinator that restarts
   * (`regained`).
   */
  subscribe(timeoutMs = 2000): Promise<number> {
    return this.waitFor<number>(timeoutMs, `no answer to ${ADDRESS.subscribe} within ${timeoutMs} ms`, (settle) => {
      this.subscribed = settle;
      this.send(ADDRESS.subscribe);
    })
      .then((renewWithinMs) => {
        const renewMs = Math.max(500, renewWithinMs / 3);
        this.lastAnswerAt = Date.now();
        this.renewTimer = setInterval(() => {
          if (Date.now() - this.lastAnswerAt > UNANSWERED_RENEWALS * renewMs) this.markLost();
          this.send(ADDRESS.subscribe);
        }, renewMs);
        return renewWithinMs;
      })
      .finally(() => (this.subscribed = undefined));
  }

  /** `/coordinator/send target address args...` [PROTOCOL §13] */
  sendTo(target: string, address: string, args: readonly OscArg[]): void {
    this.send(ADDRESS.send, { type: 's', value: target }, { type: 's', value: address }, ...args);
  }

  /** `/atlas/subscribe` or `/atlas/unsubscribe ,sss who processorId param` [PROTOCOL §15]; refusals come as `refused`. */
  meterSubscription(change: 'subscribe' | 'unsubscribe', who: string, processorId: string, param: string): void {
    this.send(change === 'subscribe' ? ADDRESS.atlas_subscribe : ADDRESS.atlas_unsubscribe, { type: 's', value: who }, { type: 's', value: processorId }, { type: 's', value: param });
  }

  /** One calibration gather [PROTOCOL §14]: every part of the answer, once all have come. */
  gather(timeoutMs: number): Promise<{ answers: RmsAnswer[]; silent: Silent[] }> {
    const queryId = createNonce();
    const waitMs = timeoutMs + 2000;
    return this.waitFor<{ answers: RmsAnswer[]; silent: Silent[] }>(waitMs, `the gather did not come back within ${waitMs} ms`, (resolve) => {
      const answers: RmsAnswer[] = [];
      const silent: Silent[] = [];
      const seen = new Set<number>();
      this.gathers.set(queryId, (message) => {
        const [, part, parts, ...rest] = message.args.map((arg) => arg.value);
        seen.add(part as number);
        const width = message.address === ADDRESS.gather_answers ? 4 : 3;
        for (let n = 0; n + width <= rest.length; n += width) {
          const [tempId, trackId, port, rms] = rest.slice(n, n + width) as [string, string, number, number];
          const entry = { tempId, trackId: trackId === '' ? null : trackId, port };
          if (width === 4) answers.push({ ...entry, rms });
          else silent.push(entry);
        }
        if (seen.size < (parts as number)) return;
        resolve({ answers, silent });
      });
      this.send(ADDRESS.gather, { type: 's', value: queryId }, { type: 'i', value: timeoutMs });
    }).finally(() => this.gathers.delete(queryId));
  }

  /**
   * Starts something that `settle`s once its answer has come; rejects with AdminUnavailableError saying
   * `silence` after `timeoutMs`, or at once when the coordinator cannot be reached.
   */
  private waitFor<T>(timeoutMs: number, silence: string, start: (settle: (value: T) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const fail = (err: Error) => {
        clearTimeout(timer);
        this.waiting.delete(fail);
        reject(err);
      };
      const timer = setTimeout(() => fail(new AdminUnavailableError(this.coordinator, silence)), timeoutMs);
      this.waiting.add(fail);
      start((value) => {
        clearTimeout(timer);
        this.waiting.delete(fail);
        resolve(value);
      });
    });
  }

  /** Unsubscribes (when subscribed) and closes the socket. */
  async close(): Promise<void> {
    if (this.renewTimer !== undefined) {
      clearInterval(this.renewTimer);
      await new Promise<void>((resolve) => this.send(ADDRESS.unsubscribe, resolve));
    }
    await closeSocket(this.socket);
  }

  private markLost(): void {
    if (this.lost) return;
    this.lost = true;
    this.emit('lost');
  }

  private send(address: string, ...args: Array<OscArg | (() => void)>): void {
    const done = typeof args.at(-1) === 'function' ? (args.pop() as () => void) : undefined;
    const bytes = encodeMessage({ address, args: args as OscArg[] });
    this.socket.send(bytes, () => done?.());
  }

  private receive(data: Buffer): void {
    const decoded = decodeDatagram(data);
    if (!decoded.ok) return;
    for (const message of decoded.messages) {
      const values = message.args.map((arg) => arg.value);
      switch (message.address) {
        case ADDRESS.subscribed:
          this.lastAnswerAt = Date.now();
          this.subscribed?.(values[0] as number);
          if (this.lost) {
            this.lost = false;
            this.emit('regained');
          }
          break;
        case ADDRESS.lease_event:
          this.emit('lease', { tempId: values[0] as string, port: values[1] as number, state: values[2] as string });
          break;
        case ADDRESS.track_event:
          this.emit('track', { tempId: values[0] as string, trackId: values[1] as string });
          break;
        case ADDRESS.error:
          this.emit('refused', { code: values[0] as string, detail: values[1] as string, requestAddress: values[2] as string });
          break;
        case ADDRESS.gather_answers:
        case ADDRESS.gather_missing:
          this.gathers.get(values[0] as string)?.(message);
          break;
        case ADDRESS.unsubscribed:
          break;
        default:
          this.emit('traffic', message);
      }
    }
  }
}
