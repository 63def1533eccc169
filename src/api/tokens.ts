// /api/v1/tokens: scoped tokens (one node, some rights, an expiry), and one-click console links.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { errors } from '../errors.js';
import type { NodeService } from '../nodes/service.js';
import type { TokenRecord } from '../store/types.js';
import { TOKEN_RIGHTS, type TokenService } from '../tokens/service.js';
import type { Identity } from './auth.js';
import { ErrorSchema, errorResponses, NameParams } from './schemas.js';

const RightSchema = Type.Union(TOKEN_RIGHTS.map((r) => Type.Literal(r)));
const Ttl = Type.String({ pattern: '^\\d+(ms|s|m|h|d)$', maxLength: 16, description: 'a duration: 30m, 2h, 7d' });

const TokenViewSchema = Type.Object({
  id: Type.String(),
  node: Type.String(),
  rights: Type.Array(RightSchema),
  kind: Type.String({ description: 'api | link | obmd' }),
  note: Type.String(),
  createdAt: Type.String(),
  expiresAt: Type.Union([Type.String(), Type.Null()]),
  maxExpiresAt: Type.Union([Type.String(), Type.Null()], { description: 'policy cap on renewals' }),
  expired: Type.Boolean(),
  connections: Type.Integer({ description: 'live console connections made with it' }),
});
const IssuedSchema = Type.Intersect([TokenViewSchema, Type.Object({ token: Type.String({ description: 'the secret; shown only here' }) })]);
const IdParams = Type.Object({ id: Type.String({ maxLength: 64, description: "token id, or 'self' for the token making the request" }) });
const tokenErrors = { ...errorResponses, 403: ErrorSchema };
/** A POST whose body is all optional may come with no body at all. */
const emptyBodyIsObject = async (req: FastifyRequest) => {
  req.body ??= {};
};

export interface TokenRoutesOptions {
  nodes: NodeService;
  tokens: TokenService;
  /** How clients reach the daemon, for console links; default: the request's own scheme and host. */
  publicUrl?: string;
}

export const tokenRoutes: FastifyPluginAsyncTypebox<TokenRoutesOptions> = async (app, { nodes, tokens, publicUrl }) => {
  const view = (rec: TokenRecord) => ({
    id: rec.id, node: rec.node, rights: rec.rights, kind: rec.kind, note: rec.note, createdAt: rec.createdAt,
    expiresAt: rec.expiresAt, maxExpiresAt: rec.maxExpiresAt, expired: tokens.expired(rec), connections: tokens.connections(rec.id),
  });
  /** 'self' is the calling token; a scoped token may only name itself. */
  const tokenId = (req: FastifyRequest, id: string): string => {
    const identity = req.identity as Identity;
    if (id === 'self') {
      if (!identity.token) throw new errors.VALIDATION("'self' names the calling token; the admin token is not a scoped token");
      return identity.token.id;
    }
    if (!identity.admin && identity.token!.id !== id) throw new errors.FORBIDDEN('a scoped token may only see or renew itself');
    return id;
  };

  app.post('/tokens', {
    schema: {
      summary: 'Make a scoped token: one node, some rights, an expiry. The secret is shown once; only its hash is kept',
      tags: ['tokens'],
      body: Type.Object({
        node: Type.String({ maxLength: 256 }),
        rights: Type.Array(RightSchema, { minItems: 1, maxItems: 3 }),
        ttl: Type.Optional(Ttl),
        note: Type.Optional(Type.String({ maxLength: 200, description: 'who or what it is for' })),
      }, { additionalProperties: false }),
      response: { 201: IssuedSchema, ...tokenErrors },
    },
  }, async (req, reply) => {
    const node = await nodes.record(req.body.node);
    const { token, record } = await tokens.create({ node: node.name, rights: req.body.rights, ttl: req.body.ttl, note: req.body.note });
    req.auditDetails = { tokenId: record.id };
    return reply.status(201).send({ ...view(record), token });
  });

  app.get('/tokens', {
    schema: {
      summary: 'List tokens (never their secrets)',
      tags: ['tokens'],
      querystring: Type.Object({ node: Type.Optional(Type.String({ maxLength: 256 })) }, { additionalProperties: false }),
      response: { 200: Type.Array(TokenViewSchema), ...tokenErrors },
    },
  }, async (req) => (await tokens.list(req.query.node)).map(view));

  app.get('/tokens/:id', {
    config: { self: true },
    schema: { summary: "One token; a scoped token may read itself as 'self'", tags: ['tokens'], params: IdParams, response: { 200: TokenViewSchema, ...tokenErrors } },
  }, async (req) => view(await tokens.get(tokenId(req, req.params.id))));

  app.delete('/tokens/:id', {
    schema: { summary: 'Revoke a token: it stops working at once and its live connections are closed', tags: ['tokens'], params: IdParams, response: { 204: Type.Null(), ...tokenErrors } },
  }, async (req, reply) => {
    await tokens.revoke(tokenId(req, req.params.id));
    return reply.status(204).send(null);
  });

  app.post('/tokens/:id/renew', {
    config: { self: true },
    schema: {
      summary: "Push a token's expiry out (by its own ttl, or the one given) from now; a scoped token may renew itself as 'self'",
      description: 'An expired token cannot be renewed (409). The policy cap (tokenMaxTtl) is never passed.',
      tags: ['tokens'],
      params: IdParams,
      body: Type.Object({ ttl: Type.Optional(Ttl) }, { additionalProperties: false }),
      response: { 200: TokenViewSchema, ...tokenErrors },
    },
    preValidation: emptyBodyIsObject,
  }, async (req) => view(await tokens.renew(tokenId(req, req.params.id), req.body.ttl)));

  app.post('/nodes/:name/console-link', {
    schema: {
      summary: "A one-click link to the node's web terminal, carrying a time-limited token for this node only",
      description: 'The token sits in the URL fragment (#token=), which browsers never send to servers, so it stays out of logs. '
        + 'The page renews it while it is open; it dies at its expiry once nobody renews it.',
      tags: ['tokens'],
      params: NameParams,
      body: Type.Object({
        ttl: Type.Optional(Ttl),
        mode: Type.Optional(Type.Union([Type.Literal('rw'), Type.Literal('ro')], { default: 'rw' })),
        note: Type.Optional(Type.String({ maxLength: 200 })),
      }, { additionalProperties: false }),
      response: { 201: Type.Intersect([IssuedSchema, Type.Object({ url: Type.String() })]), ...tokenErrors },
    },
    preValidation: emptyBodyIsObject,
  }, async (req, reply) => {
    const node = await nodes.record(req.params.name);
    const mode = req.body.mode ?? 'rw';
    const { token, record } = await tokens.create({
      node: node.name, rights: [mode === 'rw' ? 'console:rw' : 'console:ro'], ttl: req.body.ttl ?? '2h', kind: 'link', note: req.body.note,
    });
    req.auditDetails = { tokenId: record.id, kind: 'link' };
    const base = publicUrl ?? `${req.protocol}://${req.host}`;
    const url = `${base}/console/${encodeURIComponent(node.name)}${mode === 'ro' ? '?mode=ro' : ''}#token=${token}`;
    return reply.status(201).send({ ...view(record), token, url });
  });
};
