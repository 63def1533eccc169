// ironic's console API, GET/PUT /v1/nodes/{node_ident}/states/console, for clients that ask
// ironic where a node's serial console is: the answer names the node's raw console port, which
// Switchboard serves itself instead of a socat + ipmitool pair per node.
// Errors take ironic's shape: {"error_message": "<JSON text of {faultstring, faultcode, debuginfo}>"}.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyError, FastifyRequest } from 'fastify';
import type { NodeRecord } from '../model/node.js';
import type { NodeService } from '../nodes/service.js';
import { toBody } from './errors.js';

export interface IronicRoutesOptions {
  nodes: NodeService;
  /** How clients reach the daemon (the publicUrl setting); its host goes into console URLs. */
  publicUrl?: string;
  /** The daemon's listen host, used in console URLs unless it is a wildcard address. */
  listenHost: string;
  bodyLimit: number;
}

const IronicError = Type.Object({
  error_message: Type.String({ description: 'JSON text: {"faultstring": message, "faultcode": "Client"|"Server", "debuginfo": null}' }),
});
const ironicErrors = { 400: IronicError, 401: IronicError, 404: IronicError, 409: IronicError };

const NodeIdent = Type.Object({ node_ident: Type.String({ description: 'the node name in Switchboard' }) });

const ConsoleState = Type.Object({
  console_enabled: Type.Boolean(),
  console_info: Type.Union([
    Type.Object({ type: Type.Literal('socat'), url: Type.String({ description: 'tcp://HOST:PORT: raw console bytes both ways' }) }),
    Type.Null(),
  ]),
});

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

function ironicFault(status: number, message: string): { error_message: string } {
  return { error_message: JSON.stringify({ faultstring: message, faultcode: status >= 500 ? 'Server' : 'Client', debuginfo: null }) };
}

export const ironicRoutes: FastifyPluginAsyncTypebox<IronicRoutesOptions> = async (app, opts) => {
  // Scoped to this plugin: the rest of the API keeps {error, message}.
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const { status, body } = toBody(err, req, opts.bodyLimit);
    if (status >= 500) req.log.error({ err }, 'request failed');
    return reply.status(status).send(ironicFault(status, body.message));
  });

  /** The host a client can reach the raw ports at. */
  const consoleHost = (req: FastifyRequest): string => {
    if (opts.publicUrl) return new URL(opts.publicUrl).hostname;
    const host = WILDCARD_HOSTS.has(opts.listenHost) ? (req.hostname || req.socket.localAddress || '127.0.0.1') : opts.listenHost;
    return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  };

  const consoleState = (rec: NodeRecord, req: FastifyRequest) => {
    const enabled = rec.consoleEnabled && rec.consolePort !== null;
    return {
      console_enabled: enabled,
      console_info: enabled ? { type: 'socat' as const, url: `tcp://${consoleHost(req)}:${rec.consolePort}` } : null,
    };
  };

  app.get('/v1/nodes/:node_ident/states/console', {
    schema: {
      summary: "ironic: where the node's serial console is (its raw console port)",
      tags: ['ironic'],
      params: NodeIdent,
      response: { 200: ConsoleState, ...ironicErrors },
    },
  }, async (req) => consoleState(await opts.nodes.record(req.params.node_ident), req));

  app.put('/v1/nodes/:node_ident/states/console', {
    schema: {
      summary: 'ironic: enable (give the node a raw console port from rawPortRange) or disable (close it) the console',
      tags: ['ironic'],
      params: NodeIdent,
      body: Type.Object({ enabled: Type.Boolean() }, { additionalProperties: false }),
      response: { 202: Type.Unsafe<undefined>({ description: 'accepted, with an empty body as ironic answers; GET shows the result' }), ...ironicErrors },
    },
  }, async (req, reply) => {
    const name = req.params.node_ident;
    // Disabling closes the port but keeps the console session: it still logs and serves other clients.
    if (req.body.enabled) await opts.nodes.enableRawPort(name);
    else await opts.nodes.patch(name, { consolePort: null });
    const base = opts.publicUrl ?? `${req.protocol}://${req.host}`;
    return reply.header('location', `${base}/v1/nodes/${encodeURIComponent(name)}/states/console`).status(202).send();
  });
};
