// `tcp`: raw bytes to host:port — ser2net in raw mode, socat, QEMU `-serial tcp:`, the raw port
// of a terminal server. The telnet driver is this plus the telnet protocol.
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import { Type, type Static } from '@sinclair/typebox';
import { CLOSED_BY_PEER, connectTcp, connectTimeoutParam, DEFAULT_CONNECT_TIMEOUT_MS, describeSocketError, hostParam, hostPort, portParam } from './net.js';
import type { ConsoleDriver, ConsoleDriverDefinition } from './types.js';

const TcpParams = Type.Object(
  {
    host: hostParam,
    port: portParam(),
    connectTimeoutMs: Type.Optional(connectTimeoutParam),
  },
  { additionalProperties: false },
);
type TcpParams = Static<typeof TcpParams>;

/** Idle time before the first keepalive probe: a dead link is noticed without console traffic. */
const KEEPALIVE_DELAY_MS = 15_000;
/** How long close() waits for the peer to finish the TCP close before dropping the socket. */
const CLOSE_GRACE_MS = 1_000;

export interface TcpTarget {
  host: string;
  port: number;
  connectTimeoutMs?: number;
}

/** One TCP connection as a console; subclasses see the bytes through received() and send(). */
export class TcpConsole extends EventEmitter implements ConsoleDriver {
  private socket?: net.Socket;
  private closed?: Promise<void>;
  private closing = false;
  private readonly cancel = new AbortController();

  constructor(protected readonly target: TcpTarget) {
    super();
  }

  async open(): Promise<void> {
    const { host, port } = this.target;
    const socket = await connectTcp(host, port, this.target.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, this.cancel.signal);
    if (this.closing) {
      // close() came as the connect completed, too late to cancel it
      socket.destroy();
      throw new Error('connect cancelled');
    }
    this.socket = socket;
    socket.setKeepAlive(true, KEEPALIVE_DELAY_MS);
    socket.setNoDelay(true); // keystrokes go out as typed
    let failure: string | undefined;
    socket.on('error', (err) => (failure ??= describeSocketError(err, host, port)));
    socket.on('data', (chunk: Buffer) => {
      if (!this.closing) this.received(chunk);
    });
    this.closed = new Promise<void>((resolve) => {
      socket.once('close', () => {
        this.socket = undefined;
        this.emit('close', this.closing ? 'closed' : (failure ?? CLOSED_BY_PEER));
        resolve();
      });
    });
  }

  /** Bytes from the peer; a protocol on top overrides this. */
  protected received(chunk: Buffer): void {
    this.emit('data', chunk);
  }

  /** Bytes to the peer, as they are. */
  protected send(data: Buffer): void {
    if (data.length > 0 && this.socket?.writable) this.socket.write(data);
  }

  write(data: Buffer): void {
    this.send(data);
  }

  pause(): void {
    this.socket?.pause();
  }

  resume(): void {
    this.socket?.resume();
  }

  info(): Record<string, unknown> {
    const s = this.socket;
    return s ? { remote: hostPort(this.target.host, this.target.port), localPort: s.localPort } : {};
  }

  /** End the connection (cancelling a connect in progress); the peer gets a clean TCP close. */
  async close(): Promise<void> {
    this.closing = true;
    this.cancel.abort();
    const socket = this.socket;
    if (!socket) return;
    socket.resume(); // a paused socket would never read the peer's end of the close
    socket.end();
    const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
    await this.closed;
    clearTimeout(timer);
  }
}

export const tcpDriver: ConsoleDriverDefinition<TcpParams> = {
  name: 'tcp',
  description: 'raw bytes over TCP (ser2net raw mode, socat, QEMU -serial tcp:)',
  paramsSchema: TcpParams,
  secretParams: [],
  create: (params) => new TcpConsole(params),
};
