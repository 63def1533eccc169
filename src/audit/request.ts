// What the audit log says about one state-changing API call: an action name from the route, and
// details that never hold a secret: request bodies (BMC passwords, fleet message data) are reduced
// to the names of the fields they set; only a few fields that cannot hold one keep their values.
import type { AuditEntry } from './log.js';

const ACTIONS: Record<string, string> = {
  'POST /api/v1/nodes': 'node.create',
  'PUT /api/v1/nodes/:name': 'node.replace',
  'PATCH /api/v1/nodes/:name': 'node.update',
  'DELETE /api/v1/nodes/:name': 'node.delete',
  'POST /api/v1/bulk/nodes': 'node.bulk-create',
  'DELETE /api/v1/bulk/nodes': 'node.bulk-delete',
  'POST /api/v1/nodes/:name/power': 'power',
  'PUT /api/v1/nodes/:name/boot-device': 'boot-device',
  'POST /api/v1/bulk/power': 'power.bulk',
  'POST /api/v1/tokens': 'token.create',
  'DELETE /api/v1/tokens/:id': 'token.revoke',
  'POST /api/v1/tokens/:id/renew': 'token.renew',
  'POST /api/v1/nodes/:name/console-link': 'token.create',
  'POST /api/v1/fleet/messages': 'fleet.submit',
  'PUT /v1/nodes/:node_ident/states/console': 'console.enable',
  'PUT /node/:id': 'node.create',
  'DELETE /node/:id': 'node.delete',
  'POST /node/:id/token': 'token.create',
  'DELETE /node/:id/token': 'token.revoke',
  'POST /node/:id/power_cycle': 'power',
  'POST /node/:id/power_on': 'power',
  'POST /node/:id/power_off': 'power',
  'PUT /node/:id/boot_device': 'boot-device',
};

/** Top-level body fields whose values are kept: none of them can carry a secret. */
const KEEP_VALUES = new Set(['action', 'device', 'persistent', 'efi', 'rights', 'ttl', 'mode', 'node', 'driver', 'consoleEnabled', 'ondemand', 'enabled', 'force']);
const MAX_FIELDS = 50;
const MAX_DEPTH = 3;

export const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface ApiCall {
  method: string;
  /** The route pattern (`/api/v1/nodes/:name`), not the URL: a URL may carry `?token=`. */
  route: string;
  params: Record<string, string | undefined>;
  /** bodySummary() of the body as sent, before the schema filled in defaults; none if it never got that far. */
  body?: BodySummary;
  status: number;
  identity: string;
  from: string;
  /** The token the caller used, for `tokens/self`. */
  callerTokenId?: string;
  /** Facts the handler added (a new token's id). */
  extra?: Record<string, unknown>;
}

export function apiCallEntry(call: ApiCall): Omit<AuditEntry, 'ts'> {
  const action = ACTIONS[`${call.method} ${call.route}`] ?? 'api';
  const { node: bodyNode, ...summary } = call.body ?? {};
  const details: Record<string, unknown> = { ...summary, ...call.extra };
  const tokenId = call.params.id && call.route.startsWith('/api/v1/tokens/') ? call.params.id : undefined;
  if (tokenId) details.tokenId = tokenId === 'self' ? call.callerTokenId : tokenId;
  if (action === 'power' && call.route.startsWith('/node/')) details.action ??= call.route.slice(call.route.lastIndexOf('_') + 1);
  const node = call.params.name ?? call.params.node_ident ?? (call.route.startsWith('/node/') ? call.params.id : undefined) ?? bodyNode;
  return {
    action,
    identity: call.identity,
    from: call.from,
    ...(node !== undefined ? { node } : {}),
    method: call.method,
    route: call.route,
    status: call.status,
    ...(Object.keys(details).length ? { details } : {}),
  };
}

export interface BodySummary {
  /** The node the body names (`name` or `node`), when the path does not. */
  node?: string;
  [key: string]: unknown;
}

/** Field paths (`power.params.password`), and the values of the few safe top-level ones. */
export function bodySummary(body: unknown): BodySummary {
  if (Array.isArray(body)) return { items: body.length };
  if (!body || typeof body !== 'object') return {};
  const out: BodySummary = {};
  for (const [key, value] of Object.entries(body)) {
    if (KEEP_VALUES.has(key) && isPlain(value)) out[key] = value;
  }
  const fields = fieldPaths(body as Record<string, unknown>, '', 1);
  if (fields.length) out.fields = fields.slice(0, MAX_FIELDS).map((f) => f.slice(0, 96));
  const node = stringField(body, 'node') ?? stringField(body, 'name');
  if (node !== undefined) out.node = node;
  return out;
}

function fieldPaths(obj: Record<string, unknown>, prefix: string, depth: number): string[] {
  return Object.entries(obj).flatMap(([key, value]) => (value && typeof value === 'object' && !Array.isArray(value) && depth < MAX_DEPTH
    ? fieldPaths(value as Record<string, unknown>, `${prefix}${key}.`, depth + 1)
    : [`${prefix}${key}`]));
}

function isPlain(value: unknown): boolean {
  if (typeof value === 'boolean' || typeof value === 'number') return true;
  if (typeof value === 'string') return value.length <= 64;
  return Array.isArray(value) && value.length <= 8 && value.every((v) => typeof v === 'string' && v.length <= 64);
}

function stringField(body: unknown, key: string): string | undefined {
  const v = (body as Record<string, unknown> | null)?.[key];
  return typeof v === 'string' ? v.slice(0, 64) : undefined;
}
