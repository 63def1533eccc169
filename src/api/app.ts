// The HTTP face of the daemon: one fastify instance, one plugin per resource.
import fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import websocket from '@fastify/websocket';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Logger } from 'pino';
import type { ConsoleManager } from '../console/manager.js';
import { errors } from '../errors.js';
import type { NodeService } from '../nodes/service.js';
import type { PowerService } from '../power/index.js';
import { redactUrl, type Authenticator, type Identity } from './auth.js';
import { bulkRoutes } from './bulk.js';
import { ironicRoutes } from './compat-ironic.js';
import { consoleWsRoutes } from './console-ws.js';
import { registerErrorHandling } from './errors.js';
import { healthRoutes } from './health.js';
import { nodesRoutes } from './nodes.js';
import { powerRoutes } from './power.js';

declare module 'fastify' {
  interface FastifyRequest {
    identity?: Identity;
  }
  interface FastifyContextConfig {
    /** No token needed. */
    public?: boolean;
    /** The token may come as `?token=` (browsers cannot set headers on a WebSocket). */
    queryToken?: boolean;
  }
}

export const API_PREFIX = '/api/v1';

export interface AppDeps {
  auth: Authenticator;
  nodes: NodeService;
  power: PowerService;
  consoles: ConsoleManager;
  logger: Logger;
  version: string;
  bodyLimit: number;
  clientHighWaterBytes: number;
  /** The daemon's listen host and public URL: where clients reach raw console ports (ironic). */
  listenHost: string;
  publicUrl?: string;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Our own onResponse hook logs requests, with tokens redacted from the URL.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.bodyLimit,
    // Long (bad) names must reach our validation and get a clear 400, not a bare 414/404.
    routerOptions: { maxParamLength: 16_384 },
    return503OnClosing: true,
    // On stop the sessions have already told their clients why; nothing is left to wait for.
    forceCloseConnections: true,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  registerErrorHandling(app, deps.bodyLimit);
  // First: its onRequest hook marks upgrade requests, so that a request our auth hook refuses
  // still has its raw socket closed after the 401.
  await app.register(websocket, { options: { maxPayload: 1024 * 1024 } });

  // Every route needs the admin token unless it says it is public.
  app.addHook('onRequest', async (req: FastifyRequest) => {
    const config = req.routeOptions.config;
    if (config?.public || req.url.startsWith('/docs')) return;
    const identity = deps.auth.fromRequest(req, config?.queryToken === true);
    if (!identity) throw new errors.UNAUTHORIZED();
    req.identity = identity;
  });

  // One line per request, with any token in the URL redacted.
  app.addHook('onResponse', async (req, reply) => {
    req.log.info({
      method: req.method,
      url: redactUrl(req.url),
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime),
      identity: req.identity?.id,
    }, 'request');
  });

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Switchboard API',
        version: deps.version,
        // WebSocket routes are left out of the paths by @fastify/websocket; the console one is described here.
        description: 'Consoles, power and fleet control for server fleets.\n\n'
          + 'Console attach (WebSocket): `GET /api/v1/nodes/{name}/console?mode=rw|ro[&cols=N&rows=N&replay=false]`, '
          + 'token in the Authorization header or as `?token=`. Binary frames carry console bytes both ways; text frames carry JSON: '
          + '`{"type":"resize","cols":N,"rows":N}` from the client; `{"type":"attached"}`, `{"type":"notice","message":...}` and '
          + '`{"type":"mode","mode":"rw|ro"}` from the server. Unknown node: 404; console disabled: 409, before the upgrade.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.get(`${API_PREFIX}/openapi.json`, { config: { public: true }, schema: { hide: true } }, async () => app.swagger());
  await app.register(healthRoutes, { version: deps.version, stats: () => ({ sessions: deps.consoles.size }) });
  await app.register(async (api) => {
    await api.register(nodesRoutes, { nodes: deps.nodes });
    await api.register(bulkRoutes, { nodes: deps.nodes });
    await api.register(powerRoutes, { nodes: deps.nodes, power: deps.power });
    await api.register(consoleWsRoutes, { nodes: deps.nodes, consoles: deps.consoles, highWaterBytes: deps.clientHighWaterBytes });
  }, { prefix: API_PREFIX });
  // ironic's own paths, as its clients call them.
  await app.register(ironicRoutes, { nodes: deps.nodes, listenHost: deps.listenHost, publicUrl: deps.publicUrl, bodyLimit: deps.bodyLimit });

  return app;
}
