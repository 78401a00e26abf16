import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface HttpAsk {
  method?: string;
  /** Sent as given: node's fetch would not let a test choose the Host. */
  headers?: Record<string, string>;
}

/** One request to a server on loopback, read to its end. The path is sent exactly as written (no normalising). */
export function ask(port: number, path: string, { method = 'GET', headers = {} }: HttpAsk = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers: { host: `127.0.0.1:${port}`, ...headers }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export interface ServerSentEvent {
  event: string;
  data: string;
}

/** An open `/view/events` stream, read as it comes: its events in order, awaited one by one. */
export class EventStreamReader {
  readonly events: ServerSentEvent[] = [];
  private buffered = '';
  private waiters: Array<() => void> = [];
  private constructor(
    readonly response: IncomingMessage,
    private readonly close_: () => void,
  ) {
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      this.buffered += chunk;
      let end: number;
      while ((end = this.buffered.indexOf('\n\n')) !== -1) {
        const block = this.buffered.slice(0, end);
        this.buffered = this.buffered.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
        const data = block
          .split('\n')
          .filter((line) => line.startsWith('data: '))
          .map((line) => line.slice(6))
          .join('\n');
        this.events.push({ event, data });
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
    response.on('close', () => {
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  static open(port: number, path = '/view/events'): Promise<EventStreamReader> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, headers: { host: `127.0.0.1:${port}` }, agent: false }, (res) => {
        resolve(new EventStreamReader(res, () => req.destroy()));
      });
      req.on('error', reject);
      req.end();
    });
  }

  get status(): number {
    return this.response.statusCode ?? 0;
  }

  /** The first event named `name` past the `from`th event, its data parsed; waits for it. */
  async next<T = unknown>(name: string, matches: (data: T) => boolean = () => true, from = 0): Promise<T> {
    for (let index = from; ; index++) {
      while (index >= this.events.length) {
        if (this.response.destroyed || this.response.complete) throw new Error(`event stream closed before a "${name}" event`);
        await new Promise<void>((wake) => this.waiters.push(wake));
      }
      const event = this.events[index]!;
      if (event.event !== name) continue;
      const data = JSON.parse(event.data) as T;
      if (matches(data)) return data;
    }
  }

  close(): void {
    this.close_();
  }
}

/** A raw TCP connection that sends `text` and never reads what comes back: a reader too slow for anything. */
export function stalledClient(port: number, text: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.write(text);
      // Paused: nothing is read, so the kernel's buffers fill and the server's writes pile up.
      socket.pause();
      resolve(socket);
    });
    socket.on('error', reject);
  });
}

/** Resolves when `socket` is closed by the other end (or by anything). */
export function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
}
