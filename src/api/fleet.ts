// /api/v1/fleet: submit messages for agents, follow their state, the daemon's signing key, the
// agents' error log.
// Admin only (the default). Without NATS configured every route answers 503 FLEET_DISABLED; with it
// but NATS not reached yet, 503 FLEET_UNAVAILABLE saying since when it is tried.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errors } from '../errors.js';
import type { FleetController } from '../fleet/controller.js';

export interface FleetRouteOptions {
  /** The controller, or FLEET_UNAVAILABLE saying why not yet (NATS not reachable); absent without NATS configured. */
  fleet?: () => FleetController;
  /** The signing key's public half: known from the data dir, before NATS is reached. */
  signer?: () => string;
}

const STATES = ['queued', 'delivered', 'running', 'replied', 'failed', 'expired'] as const;
const State = Type.Union(STATES.map((s) => Type.Literal(s)));

const MessageState = Type.Object({
  id: Type.String(),
  node: Type.String(),
  method: Type.String(),
  index: Type.Integer(),
  state: State,
  submittedAt: Type.String(),
  updatedAt: Type.String(),
  reply: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], { description: "the agent's final reply: stdout, stderr, exitCode, errorCode, ..." }),
  error: Type.Union([Type.String(), Type.Null()]),
  replyMethod: Type.String({ description: 'console (kept here), file, fileAppend or none' }),
  replyDirectory: Type.String(),
  replyFileName: Type.Union([Type.String(), Type.Null()]),
  replyFile: Type.Union([Type.String(), Type.Null()], { description: 'where a file / fileAppend reply was written' }),
  replyFileError: Type.Union([Type.String(), Type.Null()], { description: 'why a file / fileAppend reply could not be written' }),
  held: Type.Boolean({ description: "queued in the daemon, not yet in JetStream: its lane's envelope before it is not done (it goes out with the others held there), or it is on its way to JetStream this moment" }),
});

/** Long polls are capped so proxies and clients do not time out first. */
const MAX_WAIT_SECONDS = 60;

export const fleetRoutes: FastifyPluginAsyncTypebox<FleetRouteOptions> = async (app, opts) => {
  const fleet = (): FleetController => {
    if (!opts.fleet) throw new errors.FLEET_DISABLED();
    return opts.fleet();
  };

  app.get('/fleet/signer', {
    schema: {
      summary: "The daemon's fleet signing key, in the form `switchboard agent --allow-signer` takes",
      tags: ['fleet'],
      response: { 200: Type.Object({ publicKey: Type.String() }) },
    },
  }, async () => ({ publicKey: opts.signer?.() ?? fleet().publicKey }));

  app.post('/fleet/messages', {
    schema: {
      summary: "Submit messages (a JSON array, as steward's and ctrl's message files): one per addressed node is signed and queued",
      tags: ['fleet'],
      body: Type.Unknown(),
      response: { 202: Type.Array(Type.Object({ id: Type.String(), node: Type.String(), index: Type.Integer() })) },
    },
  }, async (req, reply) => reply.status(202).send(await fleet().submit(req.body, req.identity?.id)));

  app.get('/fleet/messages/:id', {
    schema: {
      summary: "A message's state; with ?wait=S the answer waits up to S seconds for a final state (replied, failed, expired)",
      tags: ['fleet'],
      params: Type.Object({ id: Type.String({ maxLength: 128 }) }),
      querystring: Type.Object({ wait: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_WAIT_SECONDS })) }),
      response: { 200: MessageState },
    },
  }, async (req) => fleet().waitFinal(req.params.id, (req.query.wait ?? 0) * 1000));

  app.get('/fleet/messages/:id/output', {
    schema: {
      summary: "A streamed reply's parts (cliCommandCont, tailFile) after part `after`; with ?wait=S waits up to S seconds for the next part or the final state",
      tags: ['fleet'],
      params: Type.Object({ id: Type.String({ maxLength: 128 }) }),
      querystring: Type.Object({
        after: Type.Integer({ minimum: 0, default: 0, description: 'the last part already seen (0: from the start)' }),
        wait: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_WAIT_SECONDS })),
      }),
      response: {
        200: Type.Object({
          message: MessageState,
          parts: Type.Array(Type.Object({
            part: Type.Integer(),
            stream: Type.Union([Type.Literal('stdout'), Type.Literal('stderr')]),
            text: Type.String(),
            at: Type.String(),
          }), { description: 'at most 1,000 per answer, in order; ask again with after = the last part' }),
        }),
      },
    },
  }, async (req) => {
    const { record, parts } = await fleet().waitOutput(req.params.id, req.query.after, (req.query.wait ?? 0) * 1000);
    return { message: record, parts };
  });

  app.get('/fleet/agents', {
    schema: {
      summary: 'The agents the daemon has heard (their hellos), by node name, with when it last did',
      tags: ['fleet'],
      response: {
        200: Type.Object({
          agents: Type.Array(Type.Object({
            node: Type.String(),
            lastSeen: Type.String({ description: 'when the last hello came, by the daemon\'s clock' }),
            version: Type.String(),
            host: Type.String({ description: "the agent machine's host name" }),
            uptime: Type.Integer({ description: 'seconds the agent process had run at its last hello' }),
            pid: Type.Integer(),
          })),
        }),
      },
    },
  }, async () => ({ agents: fleet().agents.list() }));

  app.get('/fleet/errors', {
    schema: {
      summary: "The agents' central error log (refused messages, failed starts, errorLog messages), newest first",
      tags: ['fleet'],
      querystring: Type.Object({
        node: Type.Optional(Type.String({ maxLength: 63 })),
        limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 100 }),
      }),
      response: {
        200: Type.Object({
          errors: Type.Array(Type.Object({
            at: Type.String({ description: 'when the daemon received it' }),
            agentAt: Type.String({ description: "when it happened, by the agent's clock" }),
            node: Type.String(),
            code: Type.String({ description: 'REFUSED_<reason>, METHOD_DISABLED, SENDER_NOT_ALLOWED, SPAWN_FAILED, HANDLING_FAILED, ERROR_LOG' }),
            message: Type.String(),
            id: Type.Optional(Type.String({ description: 'the fleet message it is about' })),
            method: Type.Optional(Type.String()),
            dropped: Type.Optional(Type.Integer({ description: "errors the agent's rate limit dropped just before this one" })),
          })),
        }),
      },
    },
  }, async (req) => ({ errors: await fleet().errorLog.list(req.query) }));

  app.get('/fleet/messages', {
    schema: {
      summary: 'Messages, newest first, filtered by node and state',
      tags: ['fleet'],
      querystring: Type.Object({
        node: Type.Optional(Type.String({ maxLength: 63 })),
        state: Type.Optional(State),
        limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 100 }),
      }),
      response: { 200: Type.Object({ messages: Type.Array(MessageState) }) },
    },
  }, async (req) => ({ messages: await fleet().list(req.query) }));
};
