// GET /api/v1/audit (admin only), and the hook that records every state-changing API call.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { apiCallEntry, bodySummary, STATE_CHANGING, type AuditLog, type AuditRecorder, type BodySummary } from '../audit/index.js';
import { errorResponses } from './schemas.js';
import { parseTimeBound } from './time-bound.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Facts a handler adds to its audit entry (never a secret): a new token's id. */
    auditDetails?: Record<string, unknown>;
  }
}

/** On every response to POST/PUT/PATCH/DELETE, refused ones included (401, 403 are worth knowing). */
export function auditRequests(app: FastifyInstance, audit: AuditRecorder): void {
  // Taken before validation: the schema fills in defaults, which the caller did not send.
  const bodies = new WeakMap<FastifyRequest, BodySummary>();
  app.addHook('preValidation', async (req) => {
    if (STATE_CHANGING.has(req.method)) bodies.set(req, bodySummary(req.body));
  });
  app.addHook('onResponse', async (req, reply) => {
    if (!STATE_CHANGING.has(req.method)) return;
    audit.record(apiCallEntry({
      method: req.method,
      route: req.routeOptions.url ?? '(no route)',
      params: (req.params ?? {}) as Record<string, string | undefined>,
      body: bodies.get(req),
      status: reply.statusCode,
      identity: req.identity?.id ?? 'unauthenticated',
      from: req.ip,
      callerTokenId: req.identity?.token?.id,
      extra: req.auditDetails,
    }));
  });
}

const AuditEntrySchema = Type.Object({
  ts: Type.String(),
  action: Type.String(),
  identity: Type.String({ description: "'admin' or token:<id>; never a token's secret" }),
  from: Type.Optional(Type.String()),
  node: Type.Optional(Type.String()),
  method: Type.Optional(Type.String()),
  route: Type.Optional(Type.String()),
  status: Type.Optional(Type.Integer()),
  mode: Type.Optional(Type.String()),
  durationMs: Type.Optional(Type.Integer()),
  details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});

const Time = Type.String({ maxLength: 64, description: 'an ISO time, or a duration back from now: 30m, 2h, 7d' });

export const auditRoutes: FastifyPluginAsyncTypebox<{ audit: AuditLog }> = async (app, { audit }) => {
  app.get('/audit', {
    schema: {
      summary: 'The audit log, newest first: API calls that change state, console attach/detach/force, power, tokens',
      description: "action matches exactly, or as a prefix when it ends in '.' (console. is every console action).",
      tags: ['audit'],
      querystring: Type.Object({
        since: Type.Optional(Time),
        until: Type.Optional(Time),
        node: Type.Optional(Type.String({ maxLength: 256 })),
        action: Type.Optional(Type.String({ maxLength: 64 })),
        identity: Type.Optional(Type.String({ maxLength: 128, description: "'admin' or token:<id>" })),
        limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 100 }),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ entries: Type.Array(AuditEntrySchema) }), ...errorResponses },
    },
  }, async (req) => {
    const q = req.query;
    const now = Date.now();
    const [since, until] = [parseTimeBound(q.since, 'since', now), parseTimeBound(q.until, 'until', now)].map((t) => (t === undefined ? undefined : new Date(t)));
    return { entries: await audit.query({ since, until, node: q.node, action: q.action, identity: q.identity, limit: q.limit }) };
  });
};
