// /api/v1/nodes: node CRUD.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { NodeSpecSchema } from '../model/node.js';
import type { NodeService } from '../nodes/service.js';
import { errorResponses, NameParams, NodePatchSchema, NodeReplaceSchema, NodeViewSchema } from './schemas.js';

export interface NodesRoutesOptions {
  nodes: NodeService;
}

export const nodesRoutes: FastifyPluginAsyncTypebox<NodesRoutesOptions> = async (app, { nodes }) => {
  // JSON merge patch bodies are JSON.
  app.addContentTypeParser('application/merge-patch+json', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));

  app.get('/nodes', {
    schema: {
      summary: 'List nodes, optionally filtered by labels',
      tags: ['nodes'],
      querystring: Type.Object({
        label: Type.Optional(Type.Array(Type.String({ maxLength: 600 }), { description: 'k=v (value must match) or k (label present); repeatable, all must match' })),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ nodes: Type.Array(NodeViewSchema) }), ...errorResponses },
    },
  }, async (req) => ({ nodes: await nodes.list(req.query.label ?? []) }));

  app.post('/nodes', {
    schema: {
      summary: 'Create a node',
      tags: ['nodes'],
      body: NodeSpecSchema,
      response: { 201: NodeViewSchema, ...errorResponses },
    },
  }, async (req, reply) => reply.status(201).send(await nodes.create(req.body)));

  app.get('/nodes/:name', {
    config: { scope: { need: 'read' } },
    schema: { summary: 'Show a node and its console session', tags: ['nodes'], params: NameParams, response: { 200: NodeViewSchema, ...errorResponses } },
  }, async (req) => nodes.get(req.params.name));

  app.get('/nodes/:name/log', {
    config: { scope: { need: 'console' }, queryToken: true },
    schema: {
      summary: "Download the node's console log (the live file; rotated ones stay on the daemon)",
      tags: ['console'],
      params: NameParams,
      querystring: Type.Object({ token: Type.Optional(Type.String()) }, { additionalProperties: false }),
    },
  }, async (req, reply) => {
    const rec = await nodes.record(req.params.name);
    const [file] = nodes.logFiles(rec.name);
    reply.header('content-type', 'text/plain; charset=utf-8').header('content-disposition', `attachment; filename="${rec.name}.log"`);
    // A console that never printed anything has no file yet: that is an empty log, not an error.
    const size = await stat(file).then((s) => s.size, () => undefined);
    if (size === undefined) return reply.send('');
    // Only what is there now: the file keeps growing while it is read.
    return reply.send(createReadStream(file, { start: 0, end: Math.max(size - 1, 0) }));
  });

  app.put('/nodes/:name', {
    schema: { summary: 'Replace a node', tags: ['nodes'], params: NameParams, body: NodeReplaceSchema, response: { 200: NodeViewSchema, ...errorResponses } },
  }, async (req) => nodes.replace(req.params.name, req.body));

  app.patch('/nodes/:name', {
    schema: {
      summary: 'Change part of a node (JSON merge patch: null removes a key)',
      tags: ['nodes'],
      params: NameParams,
      body: NodePatchSchema,
      response: { 200: NodeViewSchema, ...errorResponses },
    },
  }, async (req) => nodes.patch(req.params.name, req.body));

  app.delete('/nodes/:name', {
    schema: {
      summary: 'Delete a node (its console logs are kept unless purgeLogs=true)',
      tags: ['nodes'],
      params: NameParams,
      querystring: Type.Object({ purgeLogs: Type.Optional(Type.Boolean({ default: false })) }, { additionalProperties: false }),
      response: { 204: Type.Null(), ...errorResponses },
    },
  }, async (req, reply) => {
    await nodes.delete(req.params.name, { purgeLogs: req.query.purgeLogs });
    return reply.status(204).send(null);
  });
};
