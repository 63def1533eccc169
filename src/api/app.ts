// The HTTP face of the daemon: one fastify instance, one plugin per resource.
import type { EventEmitter } from 'node:events';
import fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import websocket from '@fastify/websocket';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import rateLimit from '@fastify/rate-limit';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/index.js';
import type { ConsoleManager } from '../console/manager.js';
import type { FleetController } from '../fleet/controller.js';
import type { DaemonMetrics } from '../metrics/index.js';
import { errors } from '../errors.js';
import type { NodeService } from '../nodes/service.js';
import type { OutputHub } from '../outputs/hub.js';
import type { PowerService } from '../power/index.js';
import type { TokenService } from '../tokens/service.js';
import { auditRequests, auditRoutes } from './audit.js';
import { authorize, redactUrl, type Authenticator, type Identity, type Need } from './auth.js';
import { bulkRoutes } from './bulk.js';
import { ironicRoutes } from './compat-ironic.js';
import { obmdCompatRoutes } from './compat-obmd.js';
import { consoleWsRoutes } from './console-ws.js';
import { registerErrorHandling } from './errors.js';
import { fleetRoutes } from './fleet.js';
import { healthRoutes } from './health.js';
import { logRoutes } from './logs.js';
import { metricsRoutes } from './metrics.js';
import { nodesRoutes } from './nodes.js';
import { outputRoutes } from './outputs.js';
import { powerRoutes } from './power.js';
import { tokenRoutes } from './tokens.js';
import { eventRoutes } from './events.js';
import { vncWsRoutes } from './vnc-ws.js';
import { webRoutes } from './web.js';

declare module 'fastify' {
  interface FastifyRequest {
    identity?: Identity;
  }
  interface FastifyContextConfig {
    /** No token needed. */
    public?: boolean;
    /** The token may come as `?token=` (browsers cannot set headers on a WebSocket). */
    queryToken?: boolean;
    /** What a scoped token needs on the node named by the path parameter (default `name`); without it, admin only. */
    scope?: { need: Need; param?: string };
    /** A scoped token may call this route; the handler keeps it to its own token or node (`/tokens/self`, `/events`). */
    self?: boolean;
  }
  interface FastifyInstance {
    loginLimiter: LoginLimiter;
  }
}

/** Failed logins per source address: checked before a token is looked at, counted when it is wrong. */
export interface LoginLimiter {
  /** Milliseconds until this address may try again, or 0. */
  blockedFor(ip: string): Promise<number>;
  failed(ip: string): Promise<void>;
}

export const API_PREFIX = '/api/v1';

/** The limiter keys on the address only; the TCP console port has no fastify request to give it. */
const fakeRequest = (ip: string) => ({ ip, routeOptions: { config: {} } }) as unknown as FastifyRequest;

export interface AppDeps {
  auth: Authenticator;
  tokens: TokenService;
  nodes: NodeService;
  power: PowerService;
  consoles: ConsoleManager;
  logger: Logger;
  version: string;
  bodyLimit: number;
  clientHighWaterBytes: number;
  authFailuresPerMinute: number;
  publicUrl?: string;
  /** Certificate and key (PEM): the API and WebSocket attach are served over HTTPS. */
  https?: { cert: Buffer; key: Buffer };
  /** The daemon's listen host: where clients reach raw console ports (ironic). */
  listenHost: string;
  /** Serve OBMd's API at the root. */
  obmdCompat: boolean;
  /** Set when the daemon runs with NATS: the controller, or FLEET_UNAVAILABLE while NATS is not reached yet. Without it the fleet routes answer 503 FLEET_DISABLED. */
  fleet?: () => FleetController;
  /** The fleet side's link to NATS, for /healthz. */
  fleetStatus?: () => string;
  /** The fleet signing key's public half, served before NATS is reached. */
  fleetSigner?: () => string;
  outputs: OutputHub;
  /** Where security-relevant actions are recorded; without it, nothing is. */
  audit?: AuditLog;
  /** Emits 'changed' (node name) when a node's view changed otherwise: a watch pattern matched or was disabled, its agent said hello. */
  viewChanged?: EventEmitter;
  metrics: DaemonMetrics;
  /** Scrapers of /metrics must send it as a Bearer token; unset, /metrics is public. */
  metricsToken?: string;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = fastify({
    // Typed as plain HTTP like every plugin here: an https.Server takes the same requests and replies.
    ...(deps.https ? { https: { cert: deps.https.cert, key: deps.https.key } } as object : {}),
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

  // Failed logins are counted per source; a source over the limit gets 429 before its token is even looked at.
  await app.register(rateLimit, { global: false });
  const limit = app.createRateLimit({ max: deps.authFailuresPerMinute, timeWindow: 60_000, keyGenerator: (req) => req.ip });
  app.decorate('loginLimiter', {
    async blockedFor(ip: string) {
      const s = await limit(fakeRequest(ip), { increment: false });
      return s.isAllowed || s.remaining > 0 ? 0 : Math.max(s.ttl, 1);
    },
    async failed(ip: string) {
      await limit(fakeRequest(ip));
    },
  } satisfies LoginLimiter);

  // Every route needs the admin token unless it is public, or says what a scoped token needs on its node.
  app.addHook('onRequest', async (req: FastifyRequest, reply) => {
    const config = req.routeOptions.config;
    if (config?.public || req.url.startsWith('/docs')) return;
    const wait = await app.loginLimiter.blockedFor(req.ip);
    if (wait) {
      reply.header('retry-after', Math.ceil(wait / 1000));
      throw new errors.TOO_MANY_REQUESTS(req.ip, `${Math.ceil(wait / 1000)} s`);
    }
    const identity = await deps.auth.fromRequest(req, config?.queryToken === true);
    if (!identity) {
      await app.loginLimiter.failed(req.ip);
      throw new errors.UNAUTHORIZED();
    }
    req.identity = identity;
    if (identity.admin || (config?.self && identity.token)) return;
    const params = req.params as Record<string, string | undefined>;
    authorize(identity, params[config?.scope?.param ?? 'name'] ?? '', config?.scope?.need);
  });

  // One line per request, with any token in the URL redacted. A scrape or health check that
  // succeeds comes every few seconds from a machine, not a person: debug level, not a line per scrape.
  const QUIET_ROUTES = new Set(['/healthz', '/metrics']);
  app.addHook('onResponse', async (req, reply) => {
    const level = reply.statusCode < 400 && QUIET_ROUTES.has(req.routeOptions.url ?? '') ? 'debug' : 'info';
    req.log[level]({
      method: req.method,
      url: redactUrl(req.url),
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime),
      identity: req.identity?.id,
    }, 'request');
  });
  if (deps.audit) auditRequests(app, deps.audit);
  // By route pattern, not URL: one series per route, however many nodes there are.
  app.addHook('onResponse', async (req, reply) => {
    deps.metrics.observeRequest(req.method, req.routeOptions.url, reply.statusCode, reply.elapsedTime);
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
          + '`{"type":"mode","mode":"rw|ro"}` from the server. Unknown node: 404; console disabled: 409, before the upgrade.\n\n'
          + 'Graphical console (WebSocket, for noVNC): `GET /api/v1/nodes/{name}/vnc[?mode=ro]`: binary frames carry RFB as websockify would; '
          + 'the daemon logs in to the VNC server and offers security None, so the VNC password stays on the daemon. '
          + 'No VNC configured: 409 before the upgrade; VNC server unreachable or password refused: close code 4000 with the reason.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'the admin token, or a scoped token (one node, some rights)' },
          basic: { type: 'http', scheme: 'basic', description: 'user admin, password the admin token (as OBMd clients send it)' },
          xAuthToken: { type: 'apiKey', in: 'header', name: 'X-Auth-Token', description: 'as ironic clients send it' },
        },
      },
      security: [{ bearer: [] }, { basic: [] }, { xAuthToken: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.get(`${API_PREFIX}/openapi.json`, { config: { public: true }, schema: { hide: true } }, async () => app.swagger());
  await app.register(healthRoutes, { version: deps.version, stats: () => ({ sessions: deps.consoles.size, fleet: deps.fleetStatus?.() ?? 'off' }) });
  await app.register(metricsRoutes, { metrics: deps.metrics, token: deps.metricsToken });
  await app.register(async (api) => {
    await api.register(nodesRoutes, { nodes: deps.nodes });
    await api.register(logRoutes, { nodes: deps.nodes });
    await api.register(bulkRoutes, { nodes: deps.nodes });
    await api.register(powerRoutes, { nodes: deps.nodes, power: deps.power });
    await api.register(eventRoutes, { nodes: deps.nodes, consoles: deps.consoles, power: deps.power, viewChanged: deps.viewChanged });
    await api.register(tokenRoutes, { nodes: deps.nodes, tokens: deps.tokens, publicUrl: deps.publicUrl });
    await api.register(consoleWsRoutes, { nodes: deps.nodes, consoles: deps.consoles, tokens: deps.tokens, highWaterBytes: deps.clientHighWaterBytes });
    await api.register(fleetRoutes, { fleet: deps.fleet, signer: deps.fleetSigner });
    await api.register(outputRoutes, { nodes: deps.nodes, consoles: deps.consoles, outputs: deps.outputs });
    await api.register(vncWsRoutes, { nodes: deps.nodes, tokens: deps.tokens, highWaterBytes: deps.clientHighWaterBytes, audit: deps.audit });
    if (deps.audit) await api.register(auditRoutes, { audit: deps.audit });
  }, { prefix: API_PREFIX });
  // ironic's own paths, as its clients call them.
  await app.register(ironicRoutes, { nodes: deps.nodes, listenHost: deps.listenHost, publicUrl: deps.publicUrl, bodyLimit: deps.bodyLimit });
  // The web console's page paths (`/`, `/console/:name`) and assets; OBMd's routes start with /node/, no clash.
  await app.register(webRoutes);
  if (deps.obmdCompat) {
    await app.register(obmdCompatRoutes, { nodes: deps.nodes, tokens: deps.tokens, power: deps.power, consoles: deps.consoles, bodyLimit: deps.bodyLimit });
  }

  return app;
}
