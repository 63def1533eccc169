// /api/v1/bulk: many nodes at once; each item answers for itself.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { NodeService } from '../nodes/service.js';
import { BulkResultSchema, errorResponses } from './schemas.js';

export const BULK_MAX = 10_000;

export const bulkRoutes: FastifyPluginAsyncTypebox<{ nodes: NodeService }> = async (app, { nodes }) => {
  app.post('/bulk/nodes', {
    schema: {
      summary: 'Create many nodes; one bad item never blocks the rest',
      tags: ['bulk'],
      // Items are validated one by one by the service, so a bad one is reported, not fatal.
      body: Type.Object({ nodes: Type.Array(Type.Unknown(), { maxItems: BULK_MAX }) }, { additionalProperties: false }),
      response: { 200: Type.Object({ created: Type.Integer(), failed: Type.Integer(), results: Type.Array(BulkResultSchema) }), ...errorResponses },
    },
  }, async (req) => summarize(await nodes.bulkCreate(req.body.nodes)));

  app.delete('/bulk/nodes', {
    schema: {
      summary: 'Delete many nodes',
      tags: ['bulk'],
      body: Type.Object({ names: Type.Array(Type.Unknown(), { maxItems: BULK_MAX }) }, { additionalProperties: false }),
      querystring: Type.Object({ purgeLogs: Type.Optional(Type.Boolean({ default: false })) }, { additionalProperties: false }),
      response: { 200: Type.Object({ deleted: Type.Integer(), failed: Type.Integer(), results: Type.Array(BulkResultSchema) }), ...errorResponses },
    },
  }, async (req) => {
    const results = await nodes.bulkDelete(req.body.names, { purgeLogs: req.query.purgeLogs });
    const failed = results.filter((r) => r.status === 'error').length;
    return { deleted: results.length - failed, failed, results };
  });
};

function summarize<T extends { status: string }>(results: T[]) {
  const failed = results.filter((r) => r.status === 'error').length;
  return { created: results.length - failed, failed, results };
}
