// Per-node raw TCP console ports: what ironic's socat + ipmitool pair gives (console bytes both
// ways, no handshake, no token), served from the node's shared console session instead of a
// process per node. Every connection is one more read-write client of that session.
import net from 'node:net';
import type { Logger } from 'pino';
import type { NodeSpec } from '../model/node.js';
import type { ConsoleManager } from './manager.js';
import type { Attachment } from './session.js';
import { listenOn, pipeSocket, SocketClient, type ServerFactory } from './stream-transport.js';

export interface RawPortStatus {
  port: number;
  listening: boolean;
  /** Why it is not listening although it should be (the port could not be bound). */
  error?: string;
}

export interface RawPortsDeps {
  consoles: Pick<ConsoleManager, 'attach'>;
  logger: Logger;
  /** The daemon's listen host: raw ports are reachable wherever the API is. */
  host: string;
  createServer?: ServerFactory;
}

/** A peer that stops reading would hold a closing port open; it is cut off after this long. */
const CLOSE_GRACE_MS = 2000;

const BIND_ERRORS: Record<string, string> = {
  EADDRINUSE: 'in use by another program',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'the address is not on this machine',
};

function bindError(err: unknown, host: string, port: number): string {
  const e = err as NodeJS.ErrnoException;
  const why = (e.code && BIND_ERRORS[e.code]) ?? e.message;
  return `cannot listen on ${host.includes(':') ? `[${host}]` : host}:${port}: ${why}${e.code ? ` (${e.code})` : ''}`;
}

/** One node's port: the listener and the clients that came in through it. */
class RawPort {
  private readonly server: net.Server;
  private readonly clients = new Map<net.Socket, Attachment | undefined>();
  private opening?: Promise<void>;
  private closed = false;
  private listening = false;
  private error?: string;

  constructor(readonly node: string, readonly port: number, private readonly deps: RawPortsDeps) {
    this.server = (deps.createServer ?? net.createServer)((socket) => this.accept(socket));
    // Bind errors are listen()'s to report; one after that must not take the daemon down.
    this.server.on('error', (err) => {
      if (this.listening) this.deps.logger.warn({ node: this.node, port: this.port, err: err.message }, 'raw console port error');
    });
  }

  /** Never rejects: a port that cannot be bound is reported in status(), not thrown. */
  listen(): Promise<void> {
    this.opening ??= listenOn(this.server, this.deps.host, this.port).then(
      () => {
        this.listening = true;
        this.deps.logger.info({ node: this.node, port: this.port }, 'raw console port listening');
      },
      (err: unknown) => {
        this.error = bindError(err, this.deps.host, this.port);
        this.deps.logger.warn({ node: this.node, port: this.port, err: this.error }, 'raw console port not listening');
      },
    );
    return this.opening;
  }

  status(): RawPortStatus {
    return { port: this.port, listening: this.listening, ...(this.error ? { error: this.error } : {}) };
  }

  /** Stop listening; connected clients are told why on a line of their own, then disconnected. */
  async close(reason: string): Promise<void> {
    this.closed = true;
    await this.opening;
    for (const [socket, attachment] of this.clients) {
      attachment?.notice(reason);
      attachment?.detach();
      // Gone once the notice is flushed, without waiting for the peer to close its side.
      socket.destroySoon();
    }
    if (!this.listening) return;
    this.listening = false;
    const timer = setTimeout(() => {
      for (const socket of this.clients.keys()) socket.destroy();
    }, CLOSE_GRACE_MS);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    clearTimeout(timer);
    this.deps.logger.info({ node: this.node, port: this.port, reason }, 'raw console port closed');
  }

  private accept(socket: net.Socket): void {
    if (this.closed) return void socket.destroy();
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy()); // a peer's reset is not the daemon's problem
    this.clients.set(socket, undefined);
    socket.on('close', () => this.clients.delete(socket));
    const from = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const client = new SocketClient(socket, 'raw', `raw:${this.port}`, from);
    try {
      const attachment = this.deps.consoles.attach(this.node, client, 'rw', { canWrite: true, replay: false });
      this.clients.set(socket, attachment);
      pipeSocket(socket, attachment);
    } catch (err) {
      // Console disabled or daemon stopping: say so in the stream, as a notice would.
      socket.end(`[${(err as Error).message}]\r\n`);
    }
  }
}

export class RawPorts {
  private readonly ports = new Map<string, RawPort>();
  private closed = false;

  constructor(private readonly deps: RawPortsDeps) {}

  /**
   * Bring the node's port in line with its spec: open it, move it, close it, or try the bind
   * again (a port that failed may be free now). Only a node whose console runs has a port open.
   */
  async sync(spec: NodeSpec): Promise<void> {
    if (this.closed) return;
    const wanted = spec.consoleEnabled ? spec.consolePort : null;
    const current = this.ports.get(spec.name);
    if (current?.port === wanted && current.status().listening) return;
    if (current) await this.remove(spec.name, closeReason(current.port, wanted, spec.consoleEnabled));
    if (wanted === null) return;
    const port = new RawPort(spec.name, wanted, this.deps);
    this.ports.set(spec.name, port);
    await port.listen();
  }

  async remove(name: string, reason = 'console port closed'): Promise<void> {
    const port = this.ports.get(name);
    if (!port) return;
    this.ports.delete(name);
    await port.close(reason);
  }

  status(name: string): RawPortStatus | undefined {
    return this.ports.get(name)?.status();
  }

  /** Close every port and its clients (daemon stop). */
  async close(reason: string): Promise<void> {
    this.closed = true;
    const all = [...this.ports.values()];
    this.ports.clear();
    await Promise.all(all.map((p) => p.close(reason)));
  }
}

function closeReason(from: number, to: number | null, consoleEnabled: boolean): string {
  if (to !== null && to !== from) return `console port moved from ${from} to ${to}`;
  if (!consoleEnabled) return 'console disabled';
  return `console port ${from} closed`;
}
