// GET /api/v1/nodes/:name/console: attach to a node's console over a WebSocket.
// Binary frames carry raw console bytes both ways; text frames carry JSON control messages.
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { WebSocket } from 'ws';
import type { ConsoleManager } from '../console/manager.js';
import type { Attachment } from '../console/session.js';
import type { ClientMode, ConsoleClient } from '../console/types.js';
import { errors } from '../errors.js';
import type { NodeService } from '../nodes/service.js';
import type { TokenService } from '../tokens/service.js';
import { canWrite, type Identity } from './auth.js';
import { CLOSE_BY_SERVER, CLOSE_NORMAL, closeReason } from './ws-close.js';

class WebSocketClient implements ConsoleClient {
  readonly kind = 'ws';
  attachment?: Attachment;

  constructor(private readonly ws: WebSocket, readonly identity: string, readonly from: string, private readonly highWater: number) {}

  send(data: Buffer): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    // Ask to hear about the flush only when the client is behind; most sends need no callback.
    if (this.ws.bufferedAmount > this.highWater) this.ws.send(data, { binary: true }, () => this.maybeDrained());
    else this.ws.send(data, { binary: true });
  }

  private maybeDrained() {
    if (this.ws.bufferedAmount <= this.highWater) this.attachment?.drained();
  }

  control(msg: Record<string, unknown>): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(msg));
  }

  notice(message: string): void {
    this.control({ type: 'notice', message });
  }

  modeChanged(mode: ClientMode): void {
    this.control({ type: 'mode', mode });
  }

  close(reason: string): void {
    const code = reason === 'detached' ? CLOSE_NORMAL : CLOSE_BY_SERVER;
    this.ws.close(code, closeReason(reason));
  }

  bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }
}

export interface ConsoleWsOptions {
  nodes: NodeService;
  consoles: ConsoleManager;
  tokens: TokenService;
  highWaterBytes: number;
}

const ControlMessage = Type.Union([
  Type.Object({ type: Type.Literal('resize'), cols: Type.Integer({ minimum: 1, maximum: 1000 }), rows: Type.Integer({ minimum: 1, maximum: 1000 }) }),
  Type.Object({ type: Type.Literal('input'), data: Type.String() }),
]);

const controlCheck = TypeCompiler.Compile(ControlMessage);

function parseControl(text: string): Static<typeof ControlMessage> | undefined {
  try {
    const msg: unknown = JSON.parse(text);
    return controlCheck.Check(msg) ? msg : undefined;
  } catch {
    return undefined;
  }
}

export const consoleWsRoutes: FastifyPluginAsyncTypebox<ConsoleWsOptions> = async (app, opts) => {
  app.get('/nodes/:name/console', {
    websocket: true,
    config: { queryToken: true, scope: { need: 'console' } },
    schema: {
      summary: 'Attach to the console (WebSocket). Binary frames: console bytes. Text frames: JSON control.',
      description: 'Client → server text frames: {"type":"resize","cols":N,"rows":N}, {"type":"input","data":"text"}. '
        + 'Server → client: {"type":"attached",...}, {"type":"notice","message":...}, {"type":"mode","mode":"rw|ro"}. '
        + 'Console escapes (Ctrl-E c, then . ? w s a f r l0-9 n) work in binary frames as in every client.',
      tags: ['console'],
      params: Type.Object({ name: Type.String() }),
      querystring: Type.Object({
        mode: Type.Union([Type.Literal('rw'), Type.Literal('ro')], { default: 'rw' }),
        token: Type.Optional(Type.String({ description: 'token, for clients that cannot set a header (browsers)' })),
        cols: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
        rows: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
        replay: Type.Optional(Type.Boolean({ default: true })),
      }, { additionalProperties: false }),
    },
    // Refuse unknown or disabled nodes with a plain HTTP error before the upgrade.
    preValidation: async (req) => {
      const rec = await opts.nodes.record((req.params as { name: string }).name);
      if (!rec.consoleEnabled || !opts.consoles.session(rec.name)) throw new errors.CONSOLE_DISABLED(rec.name);
    },
  }, (socket, req) => {
    const identity = (req as unknown as { identity: Identity }).identity;
    const client = new WebSocketClient(socket, identity.id, req.ip, opts.highWaterBytes);
    let attachment: Attachment;
    try {
      attachment = opts.consoles.attach(req.params.name, client, req.query.mode, { canWrite: canWrite(identity), replay: req.query.replay });
    } catch (err) {
      client.control({ type: 'error', error: (err as { code?: string }).code ?? 'INTERNAL', message: (err as Error).message });
      socket.close(CLOSE_BY_SERVER, 'attach failed');
      return;
    }
    client.attachment = attachment;
    client.control({ type: 'attached', node: req.params.name, mode: attachment.mode, clientId: attachment.id });
    if (req.query.cols && req.query.rows) attachment.resize(req.query.cols, req.query.rows);
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) return attachment.input(data);
      const msg = parseControl(data.toString('utf8'));
      if (!msg) return client.control({ type: 'error', error: 'BAD_CONTROL', message: 'unknown control message' });
      if (msg.type === 'resize') attachment.resize(msg.cols, msg.rows);
      else attachment.input(Buffer.from(msg.data, 'utf8'));
    });
    // A scoped token's expiry or revocation ends this connection, with the reason.
    const untrack = opts.tokens.track(identity.token, attachment);
    const gone = () => {
      untrack();
      attachment.detach();
    };
    socket.on('close', gone);
    socket.on('error', gone);
  });
};
