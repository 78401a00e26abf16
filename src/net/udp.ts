import dgram from 'node:dgram';

/** Where a datagram came from. */
export interface Source {
  address: string;
  port: number;
}

/** Sends bytes as they are: encoded once, or forwarded unchanged. */
export type SendBytes = (bytes: Uint8Array, host: string, port: number) => void;

export class BindError extends Error {
  constructor(
    readonly host: string,
    readonly port: number,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'BindError';
  }
}

/**
 * Binds a UDP socket without SO_REUSEADDR: if anything holds the port, even a
 * socket that set SO_REUSEADDR itself, the bind fails instead of silently
 * sharing the port (the JUCE bug this project exists to defeat).
 */
export function bindExclusive(host: string, port: number): Promise<dgram.Socket> {
  const socket = dgram.createSocket({ type: 'udp4', reuseAddr: false });
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      socket.close();
      reject(new BindError(host, port, err.code, `cannot bind UDP ${host}:${port}: ${err.code ?? err.message}`));
    };
    socket.once('error', onError);
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

/** Asks for a receive buffer and returns what the OS granted (Linux reports double, capped by rmem_max). */
export function growReceiveBuffer(socket: dgram.Socket, bytes: number): { asked: number; granted: number } {
  try {
    socket.setRecvBufferSize(bytes);
  } catch {
    // The OS refused the size; what it kept is reported below.
  }
  return { asked: bytes, granted: socket.getRecvBufferSize() };
}

export function closeSocket(socket: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve();
    }
  });
}
