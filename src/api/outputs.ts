// /api/v1/outputs (the sinks' counters) and /api/v1/nodes/:name/notes (an operator's note to the
// node's attached clients, its log and the sinks).
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ConsoleManager } from '../console/manager.js';
import { errors } from '../errors.js';
import type { NodeService } from '../nodes/service.js';
import { noteEvent } from '../outputs/events.js';
import type { OutputHub } from '../outputs/hub.js';
import { OUTPUT_TYPES } from '../outputs/config.js';
import { canWrite, type Identity } from './auth.js';
import { errorResponses, NameParams } from './schemas.js';

const OutputStatsSchema = Type.Object({
  name: Type.String(),
  type: Type.Union(OUTPUT_TYPES.map((t) => Type.Literal(t))),
  sent: Type.Integer({ description: 'records handed to the receiver' }),
  dropped: Type.Integer({ description: 'records dropped, oldest first, while the receiver was slow or away' }),
  queued: Type.Integer({ description: 'records waiting now' }),
  connected: Type.Boolean(),
});

export interface OutputRoutesOptions {
  nodes: NodeService;
  consoles: ConsoleManager;
  outputs: OutputHub;
}

export const outputRoutes: FastifyPluginAsyncTypebox<OutputRoutesOptions> = async (app, { nodes, consoles, outputs }) => {
  app.get('/outputs', {
    schema: {
      summary: 'The configured output sinks and their counters',
      tags: ['outputs'],
      response: { 200: Type.Object({ outputs: Type.Array(OutputStatsSchema) }), ...errorResponses },
    },
  }, async () => ({ outputs: await outputs.stats() }));

  app.post('/nodes/:name/notes', {
    // A console:rw token may annotate its node's log; a read-only (spy) one may not.
    config: { scope: { need: 'console' } },
    schema: {
      summary: "Write an operator's note to the node's attached clients and console log, and send it to the output sinks",
      tags: ['outputs'],
      params: NameParams,
      body: Type.Object({
        text: Type.String({ minLength: 1, maxLength: 1000, pattern: '^[^\\x00-\\x1f\\x7f]+$', description: 'one line of text' }),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ node: Type.String(), message: Type.String() }), ...errorResponses },
    },
  }, async (req) => {
    const identity = req.identity as Identity;
    if (!canWrite(identity)) throw new errors.FORBIDDEN('a read-only console token may not write notes');
    const rec = await nodes.record(req.params.name);
    const event = noteEvent(req.body.text, identity.id);
    // Through the session when it runs, so its clients see the note as one typed at the console.
    if (!consoles.announce(rec.name, event)) outputs.event(rec.name, event, rec.labels);
    return { node: rec.name, message: event.message };
  });
};
