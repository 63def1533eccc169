// The console port: attach over TCP (TLS when the daemon has a certificate) for the CLI and
// scripts (nc, socat, openssl s_client).
//
// Handshake: the client sends one JSON line
//   {"node":"n1","mode":"rw"|"ro","token":"...","cols":80,"rows":24,"replay":true}
// and the server answers one JSON line, {"ok":true,"node":..,"mode":..,"clientId":..} or
// {"ok":false,"error":CODE,"message":...} (and closes). After "ok", raw console bytes both ways.
import net from 'node:net';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Type, type Static } from '@sinclair/typebox';
import type { Logger } from 'pino';
import type { ConsoleManager } from '../console/manager.js';
import type { Attachment } from '../console/session.js';
import { listenOn, pipeSocket, SocketClient, type ServerFactory } from '../console/stream-transport.js';
import { errors } from '../errors.js';
import type { NodeService } from '../nodes/service.js';
import type { TokenService } from '../tokens/service.js';
import type { LoginLimiter } from './app.js';
import { authorize, canWrite, type Authenticator } from './auth.js';

const HANDSHAKE_MAX = 4096;
const HANDSHAKE_TIMEOUT_MS = 10_000;

const Handshake = Type.Object({
  node: Type.String({ maxLength: 256 }),
  mode: Type.Optional(Type.Union([Type.Literal('rw'), Type.Literal('ro')])),
  token: Type.String({ maxLength: 1024 }),
  cols: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  rows: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  replay: Type.Optional(Type.Boolean()),
}, { additionalProperties: false });
const handshakeCheck = TypeCompiler.Compile(Handshake);

export interface TcpAttachDeps {
  auth: Authenticator;
  tokens: TokenService;
  limiter: LoginLimiter;
  nodes: NodeService;
  consoles: ConsoleManager;
  logger: Logger;
  /** Plain TCP by default; the daemon passes one that speaks TLS when it has a certificate. */
  createServer?: ServerFactory;
}

export class TcpAttachServer {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly deps: TcpAttachDeps) {
    this.server = (deps.createServer ?? net.createServer)((socket) => this.accept(socket));
    // Every TCP connection, also one still in (or stuck in) a TLS handshake, so close() need not wait for it.
    this.server.on('connection', (socket: net.Socket) => this.track(socket));
    this.server.on('tlsClientError', (err: Error, socket: net.Socket) => {
      deps.logger.debug({ err: err.message, from: socket.remoteAddress }, 'tcp attach: TLS handshake failed');
    });
  }

  listen(host: string, port: number): Promise<net.AddressInfo> {
    return listenOn(this.server, host, port);
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private track(socket: net.Socket): void {
    if (this.sockets.has(socket)) return;
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
  }

  private accept(socket: net.Socket): void {
    // Under TLS this is a TLSSocket over the raw one tracked on 'connection'; close() ends both.
    this.track(socket);
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => this.refuse(socket, new errors.BAD_HANDSHAKE('timed out waiting for the handshake line')), HANDSHAKE_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const nl = buffered.indexOf(0x0a);
      if (nl < 0) {
        if (buffered.length > HANDSHAKE_MAX) {
          clearTimeout(timer);
          socket.off('data', onData);
          this.refuse(socket, new errors.BAD_HANDSHAKE(`no newline in the first ${HANDSHAKE_MAX} bytes`));
        }
        return;
      }
      clearTimeout(timer);
      socket.off('data', onData);
      socket.pause();
      void this.handshake(socket, buffered.subarray(0, nl).toString('utf8'), buffered.subarray(nl + 1));
    };
    socket.on('data', onData);
    socket.on('close', () => clearTimeout(timer));
  }

  private async handshake(socket: net.Socket, line: string, rest: Buffer): Promise<void> {
    let hello: Static<typeof Handshake>;
    try {
      const parsed: unknown = JSON.parse(line);
      if (!handshakeCheck.Check(parsed)) {
        const e = handshakeCheck.Errors(parsed).First();
        throw new errors.BAD_HANDSHAKE(`${e?.path || '/'}: ${e?.message ?? 'invalid'}`);
      }
      hello = parsed;
    } catch (err) {
      return this.refuse(socket, err instanceof SyntaxError ? new errors.BAD_HANDSHAKE('the first line must be JSON') : err);
    }
    const from = socket.remoteAddress ?? '?';
    const wait = await this.deps.limiter.blockedFor(from);
    if (wait) return this.refuse(socket, new errors.TOO_MANY_REQUESTS(from, `${Math.ceil(wait / 1000)} s`));
    const identity = await this.deps.auth.check(hello.token);
    if (!identity) {
      await this.deps.limiter.failed(from);
      return this.refuse(socket, new errors.UNAUTHORIZED());
    }
    const client = new SocketClient(socket, 'tcp', identity.id, from);
    let attachment: Attachment;
    try {
      authorize(identity, hello.node, 'console');
      await this.deps.nodes.record(hello.node);
      const writer = canWrite(identity);
      const mode = writer ? (hello.mode ?? 'rw') : 'ro';
      // The ok line goes first: attaching sends the greeting and the replay down the same socket.
      socket.write(`${JSON.stringify({ ok: true, node: hello.node, mode })}\n`);
      attachment = this.deps.consoles.attach(hello.node, client, mode, { canWrite: writer, replay: hello.replay });
    } catch (err) {
      return this.refuse(socket, err);
    }
    const untrack = this.deps.tokens.track(identity.token, attachment);
    if (hello.cols && hello.rows) attachment.resize(hello.cols, hello.rows);
    pipeSocket(socket, attachment);
    socket.on('close', untrack);
    if (rest.length) attachment.input(rest);
    socket.resume();
  }

  private refuse(socket: net.Socket, err: unknown): void {
    const e = err as { code?: string; message?: string; statusCode?: number };
    const known = e?.statusCode !== undefined && e.statusCode < 500;
    if (!known) this.deps.logger.error({ err }, 'tcp attach failed');
    const body = { ok: false, error: known ? e.code : 'INTERNAL', message: known ? e.message : 'internal error' };
    socket.end(`${JSON.stringify(body)}\n`);
  }
}
