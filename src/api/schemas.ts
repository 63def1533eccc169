// Response and shared schemas; request schemas sit beside their routes.
import { Type } from '@sinclair/typebox';
import { Labels, NodeName, NodeSpecSchema, NodeWatchPatterns, PowerSpecSchema, VncPassword, VncSpecSchema } from '../model/node.js';

export const ErrorSchema = Type.Object(
  { error: Type.String(), message: Type.String(), field: Type.Optional(Type.String()) },
  { $id: 'Error', description: 'every error: a stable code and a readable message' },
);

export const SessionStatusSchema = Type.Object({
  state: Type.Union([Type.Literal('connected'), Type.Literal('connecting'), Type.Literal('disconnected'), Type.Literal('error')]),
  since: Type.String({ format: 'date-time' }),
  lastError: Type.Union([Type.String(), Type.Null()]),
  clients: Type.Integer(),
  info: Type.Record(Type.String(), Type.Unknown()),
});

const RawPortStatusSchema = Type.Object({
  port: Type.Integer(),
  listening: Type.Boolean(),
  error: Type.Optional(Type.String({ description: 'why the port is not listening, e.g. in use by another program' })),
}, { description: 'the raw console port as served now (listening only while the console is enabled)' });

export const NodeViewSchema = Type.Object({
  name: Type.String(),
  driver: Type.String(),
  params: Type.Record(Type.String(), Type.Unknown(), { description: "driver params; secrets shown as '***'" }),
  ondemand: Type.Boolean(),
  consoleEnabled: Type.Boolean(),
  labels: Labels,
  power: Type.Union([Type.Object({ driver: Type.String(), params: Type.Optional(Type.Record(Type.String(), Type.Unknown())) }), Type.Null()], { description: "power control; secrets shown as '***'" }),
  consolePort: NodeSpecSchema.properties.consolePort,
  rawPort: Type.Union([RawPortStatusSchema, Type.Null()]),
  vnc: Type.Union([
    Type.Object({ host: Type.String(), port: Type.Integer(), password: Type.Optional(Type.String({ description: "always '***' when set" })) }),
    Type.Null(),
  ], { description: 'graphical console (VNC); attach with the WebSocket at /nodes/{name}/vnc' }),
  watchPatterns: NodeWatchPatterns,
  createdAt: Type.String(),
  updatedAt: Type.String(),
  session: SessionStatusSchema,
  powerState: Type.Union([Type.Object({
    state: Type.Union([Type.Literal('on'), Type.Literal('off'), Type.Literal('unknown')]),
    at: Type.String({ description: 'when it was learned' }),
    error: Type.Optional(Type.String({ description: 'why the last status call failed' })),
  }), Type.Null()], { description: 'last known power state (status calls, actions, powerPollSeconds); null: not known yet' }),
  agent: Type.Union([Type.Object({
    lastSeen: Type.String({ description: "when the daemon last heard the node's fleet agent (its hello)" }),
    version: Type.String({ description: "the agent's switchboard version" }),
  }), Type.Null()], { description: 'the fleet agent of the node with this name, as last heard; null: never heard' }),
  watch: Type.Array(Type.Object({
    pattern: Type.String({ description: "the watch pattern (config watchPatterns, or the node's own)" }),
    count: Type.Integer({ description: 'console lines it matched since the daemon started' }),
    last: Type.Union([Type.Object({ line: Type.String(), time: Type.String({ format: 'date-time' }) }), Type.Null()], { description: 'the last matching line' }),
    disabled: Type.Union([Type.String(), Type.Null()], { description: 'why the pattern no longer runs (it took too long); null while it runs' }),
  }), { description: "the watch patterns watching this node: the config's (by their label selectors), then the node's own" }),
});

/** PUT body: the whole spec; the name may be left out (the path names the node). */
export const NodeReplaceSchema = Type.Object(
  { ...NodeSpecSchema.properties, name: Type.Optional(NodeName) },
  { additionalProperties: false },
);

/** PATCH body: a JSON merge patch (RFC 7396) over the spec. */
export const NodePatchSchema = Type.Object(
  {
    name: Type.Optional(NodeName),
    driver: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
    params: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    ondemand: Type.Optional(Type.Boolean()),
    consoleEnabled: Type.Optional(Type.Boolean()),
    labels: Type.Optional(Type.Record(Type.String(), Type.Union([Type.Null(), Type.String()]))),
    power: Type.Optional(Type.Union([Type.Null(), Type.Object({ driver: Type.Optional(PowerSpecSchema.properties.driver), params: Type.Optional(Type.Union([Type.Null(), Type.Record(Type.String(), Type.Unknown())])) }, { additionalProperties: false })])),
    consolePort: NodeSpecSchema.properties.consolePort,
    vnc: Type.Optional(Type.Union([Type.Null(), Type.Object({
      host: Type.Optional(VncSpecSchema.properties.host),
      port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
      password: Type.Optional(Type.Union([Type.Null(), VncPassword])),
    }, { additionalProperties: false })])),
    // A list is replaced whole (RFC 7396); null removes every pattern. The list comes first: with
    // coerceTypes: "array" a one-item list would be unwrapped while the null branch is tried.
    watchPatterns: Type.Optional(Type.Union([NodeWatchPatterns, Type.Null()])),
  },
  { additionalProperties: false },
);

export const NameParams = Type.Object({
  name: Type.String({ description: 'node name: 1-63 of A-Z a-z 0-9 . _ -, starting with a letter or digit' }),
});

export const BulkResultSchema = Type.Object({
  index: Type.Integer(),
  name: Type.Optional(Type.String()),
  status: Type.String({ description: 'created | deleted | error' }),
  error: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
});

export const errorResponses = {
  400: ErrorSchema,
  401: ErrorSchema,
  404: ErrorSchema,
  409: ErrorSchema,
};
