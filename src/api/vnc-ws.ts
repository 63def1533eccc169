// GET /api/v1/nodes/:name/vnc: a node's graphical console, for noVNC, as websockify would serve it
// (binary frames carry the RFB stream both ways). The daemon logs in to the VNC server itself and
// greets the browser with security None: the VNC password never leaves the daemon. A read-only
// client's input is dropped here, whatever the browser sends.
import type { Socket } from 'node:net';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import type { AuditRecorder } from '../audit/index.js';
import { errors } from '../errors.js';
import type { VncSpec } from '../model/node.js';
import type { NodeService } from '../nodes/service.js';
import type { TokenService } from '../tokens/service.js';
import { ByteReader, connectVncServer, greetClient, ReadOnlyFilter, serverLabel, VncError, vncErrors } from '../vnc/index.js';
import { canWrite, type Identity } from './auth.js';
import { CLOSE_BY_SERVER, CLOSE_INTERNAL, closeReason } from './ws-close.js';

/** For the TCP connect and login to the VNC server, and again for the browser's side of the handshake. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

export interface VncWsOptions {
  nodes: NodeService;
  tokens: TokenService;
  /** Past this many bytes queued towards the browser, the VNC server is not read from. */
  highWaterBytes: number;
  audit?: AuditRecorder;
}

/** The node's VNC settings, looked up before the upgrade and handed to the handler. */
const targets = new WeakMap<FastifyRequest, VncSpec>();

export const vncWsRoutes: FastifyPluginAsyncTypebox<VncWsOptions> = async (app, opts) => {
  // Open proxies per node: deleting the node, or changing or removing its VNC settings, ends them
  // for every client (a token's own end comes through TokenService).
  const open = new Map<string, Set<VncProxy>>();
  const endAll = (name: string, reason: string, unless?: (target: VncSpec) => boolean) => {
    for (const p of open.get(name) ?? []) if (!unless?.(p.target)) p.end(reason);
  };
  opts.nodes.on('deleted', (name: string) => endAll(name, 'node deleted'));
  opts.nodes.on('changed', (name: string) => {
    if (!open.has(name)) return;
    void opts.nodes.record(name).then(
      (rec) => endAll(name, rec.vnc ? 'VNC settings changed' : 'VNC removed from the node', (t) => JSON.stringify(t) === JSON.stringify(rec.vnc)),
      () => endAll(name, 'node deleted'),
    );
  });
  app.get('/nodes/:name/vnc', {
    websocket: true,
    config: { queryToken: true, scope: { need: 'console' } },
    schema: {
      summary: "The node's graphical console (WebSocket carrying RFB, as websockify serves it for noVNC)",
      description: 'The daemon logs in to the VNC server with the stored password and offers the browser security None. '
        + 'With mode=ro, or a token with console:ro only, keys, pointer, clipboard and resizes are dropped. '
        + 'Failures after the upgrade close the WebSocket with code 4000 and the reason.',
      tags: ['console'],
      params: Type.Object({ name: Type.String() }),
      querystring: Type.Object({
        mode: Type.Union([Type.Literal('rw'), Type.Literal('ro')], { default: 'rw' }),
        token: Type.Optional(Type.String({ description: 'token, for clients that cannot set a header (browsers)' })),
      }, { additionalProperties: false }),
    },
    // Unknown node (404) or no VNC (409): a plain HTTP error before the upgrade.
    preValidation: async (req) => {
      const rec = await opts.nodes.record((req.params as { name: string }).name);
      if (!rec.vnc) throw new errors.VNC_NOT_CONFIGURED(rec.name);
      targets.set(req, rec.vnc);
    },
  }, (ws, req) => {
    const identity = (req as unknown as { identity: Identity }).identity;
    const readOnly = req.query.mode === 'ro' || !canWrite(identity);
    const log = req.log.child({ node: req.params.name, client: identity.id, mode: readOnly ? 'ro' : 'rw' });
    const proxy = new VncProxy(ws, targets.get(req)!, readOnly, opts.highWaterBytes, log);
    // A scoped token's expiry or revocation ends this connection, with the reason.
    // RFB has no side channel for the expiry warning; the page renews its link itself.
    const untrack = opts.tokens.track(identity.token, { notice: () => {}, kick: (r) => proxy.end(r) });
    const name = req.params.name;
    if (!open.has(name)) open.set(name, new Set());
    open.get(name)!.add(proxy);
    // The console session records its own clients; a VNC proxy is not one, so it is recorded here.
    const audited = { identity: identity.id, from: req.ip, node: name, mode: readOnly ? 'ro' : 'rw', details: { via: 'vnc' } };
    const attachedAt = Date.now();
    opts.audit?.record({ action: 'vnc.attach', ...audited });
    ws.once('close', () => {
      opts.audit?.record({ action: 'vnc.detach', ...audited, durationMs: Date.now() - attachedAt });
      untrack();
      open.get(name)?.delete(proxy);
      if (open.get(name)?.size === 0) open.delete(name);
    });
    void proxy.run();
  });
};

/** One browser's RFB session: the login on both sides, then bytes both ways. */
class VncProxy {
  private readonly fromBrowser = new ByteReader();
  private readonly abort = new AbortController();
  private readonly filter?: ReadOnlyFilter;
  private server?: Socket;
  /** Where the browser's bytes go: the handshake reader first, the VNC server after. */
  private forward: (data: Buffer) => void = (data) => this.fromBrowser.push(data);
  /** Both handshakes done: bytes flow, and flow control applies. */
  private bridged = false;
  private ended = false;

  constructor(
    private readonly ws: WebSocket,
    readonly target: VncSpec,
    private readonly readOnly: boolean,
    private readonly highWater: number,
    private readonly log: FastifyBaseLogger,
  ) {
    if (readOnly) this.filter = new ReadOnlyFilter();
    // Listen at once: noVNC answers the greeting as soon as it arrives.
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (this.ended) return;
      if (!isBinary) return this.end(vncErrors.CLIENT_PROTOCOL('text frame; RFB travels in binary frames').message);
      try {
        this.forward(data);
      } catch (err) {
        this.fail(err);
      }
    });
    ws.on('close', () => this.cleanup('browser closed'));
    ws.on('error', () => this.cleanup('browser connection error'));
  }

  async run(): Promise<void> {
    try {
      const { socket, rest } = await connectVncServer(this.target, { timeoutMs: HANDSHAKE_TIMEOUT_MS, signal: this.abort.signal });
      this.server = socket;
      socket.on('error', (err: NodeJS.ErrnoException) => this.end(`VNC server ${serverLabel(this.target)} connection lost: ${err.code ?? err.message}`));
      socket.on('close', () => this.end(`VNC server ${serverLabel(this.target)} closed the connection`));
      if (this.ended) {
        socket.destroy(); // the browser left during the login
        return;
      }

      const timer = setTimeout(() => this.fromBrowser.end(vncErrors.CLIENT_PROTOCOL('handshake not finished in time')), HANDSHAKE_TIMEOUT_MS);
      let shared: boolean;
      try {
        ({ shared } = await greetClient({ read: (n) => this.fromBrowser.read(n), write: (b) => this.toBrowser(b) }));
      } finally {
        clearTimeout(timer);
      }
      if (this.ended) return;

      // A spy must not take the server for itself: exclusive (non-shared) access disconnects the others.
      socket.write(Buffer.from([shared || this.readOnly ? 1 : 0]));
      this.bridged = true;
      socket.on('data', (data: Buffer) => this.toBrowser(data));
      if (rest.length) this.toBrowser(rest);
      socket.resume();
      this.forward = (data) => this.toServer(data);
      const early = this.fromBrowser.rest();
      if (early.length) this.toServer(early);
      this.log.info({ server: serverLabel(this.target) }, 'vnc attached');
    } catch (err) {
      this.fail(err);
    }
  }

  /** Close the browser's connection with a reason (4000), and the server's. */
  end(reason: string, code = CLOSE_BY_SERVER): void {
    if (this.ended) return;
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(code, closeReason(reason));
    this.cleanup(reason);
  }

  private fail(err: unknown): void {
    if (this.ended) return;
    if (err instanceof VncError) {
      this.log.warn({ server: serverLabel(this.target), err: { code: err.code, message: err.message } }, 'vnc connection failed');
      return this.end(err.message);
    }
    this.log.error({ err }, 'vnc proxy failed');
    this.end('internal error', CLOSE_INTERNAL);
  }

  private cleanup(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.abort.abort();
    this.fromBrowser.end(new VncError('VNC_ABORTED', reason));
    this.server?.destroy();
    if (this.bridged) this.log.info({ reason, dropped: this.filter?.dropped }, 'vnc detached');
  }

  /**
   * When the browser falls behind, stop reading the VNC server until what was sent last has been
   * flushed: that callback comes after everything before it, so nothing is left waiting then.
   */
  private toBrowser(data: Buffer): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (!this.bridged || this.ws.bufferedAmount <= this.highWater) return this.ws.send(data, { binary: true });
    this.server!.pause();
    this.ws.send(data, { binary: true }, () => this.server?.resume());
  }

  /** The browser's bytes (a spy's without its input), with the same pause the other way. */
  private toServer(data: Buffer): void {
    const server = this.server!;
    const out = this.filter ? this.filter.push(data) : data;
    if (out.length === 0 || server.write(out)) return;
    this.ws.pause();
    server.once('drain', () => this.ws.resume());
  }
}
