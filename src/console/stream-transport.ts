// What the byte-stream transports (TCP attach, raw console ports) share: the client a socket
// becomes, its wiring to the session, and listening.
import type net from 'node:net';
import type { Attachment } from './session.js';
import type { ConsoleClient } from './types.js';

/** Makes a listening server; `onConnection` gets each client once it can talk (after TLS when the daemon has certs). */
export type ServerFactory = (onConnection: (socket: net.Socket) => void) => net.Server;

/** The stream has no side channel, so Switchboard's notices travel inline, on a line of their own. */
export class SocketClient implements ConsoleClient {
  constructor(
    private readonly socket: net.Socket,
    readonly kind: string,
    readonly identity: string,
    readonly from: string,
  ) {}

  send(data: Buffer): void {
    // Not after end(): the session may still fan out output while the socket is closing.
    if (this.socket.writable) this.socket.write(data);
  }

  notice(_message: string, inline: Buffer): void {
    this.send(inline);
  }

  close(): void {
    this.socket.end();
  }

  bufferedBytes(): number {
    return this.socket.writableLength;
  }
}

/** Bytes from the socket go to the console; its drain and close reach the session. */
export function pipeSocket(socket: net.Socket, attachment: Attachment): void {
  socket.on('data', (chunk: Buffer) => attachment.input(chunk));
  socket.on('drain', () => attachment.drained());
  socket.on('close', () => attachment.detach());
}

/** Resolves once the server listens; rejects with the bind error (EADDRINUSE, EACCES, ...). */
export function listenOn(server: net.Server, host: string, port: number): Promise<net.AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve(server.address() as net.AddressInfo);
    });
  });
}
