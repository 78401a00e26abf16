import dgram from 'node:dgram';

export type PortIsFree = (port: number) => Promise<boolean>;

/**
 * True when no other socket holds UDP `port` on any local IPv4 address. The test
 * binds the wildcard address without SO_REUSEADDR, which fails against any
 * holder, reusing or not. At most `concurrency` tests run at once, so a burst
 * of a thousand requests does not open a thousand sockets.
 */
export function createPortCheck(concurrency = 32): PortIsFree {
  let running = 0;
  const waiting: Array<() => void> = [];
  const release = () => {
    running--;
    waiting.shift()?.();
  };
  return async (port) => {
    if (running >= concurrency) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await bindTest(port);
    } finally {
      release();
    }
  };
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
