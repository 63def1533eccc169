// OBMd's API (github.com/CCI-MOC/obmd), served at the root so that HIL and other OBMd clients can
// switch to Switchboard unchanged. Admin calls use HTTP Basic `admin:<admin token>`; node calls
// carry `?token=` from POST /node/{id}/token: one token per node, console (read-only) and power.
// A node registered here is an ordinary Switchboard node: an on-demand ipmi-sol console and ipmi
// power on the same BMC, labelled obmd=true.
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import pLimit from 'p-limit';
import type { ConsoleManager } from '../console/manager.js';
import { bmcParamProperties } from '../drivers/bmc-params.js';
import { errors } from '../errors.js';
import type { NodeRecord } from '../model/node.js';
import type { NodeService } from '../nodes/service.js';
import type { PowerService } from '../power/index.js';
import type { TokenRight } from '../store/types.js';
import type { TokenService } from '../tokens/service.js';
import { consoleResponseBody } from './console-http.js';
import { errorHandler, type ErrorAnswer } from './errors.js';
import { ErrorSchema } from './schemas.js';

/** OBMd's bodies are a few dozen bytes. */
const OBMD_BODY_LIMIT = 16 * 1024;
const OBMD_RIGHTS: TokenRight[] = ['console:ro', 'power'];
const OBMD_TYPES = ['ipmi'];
const BOOT_DEVICES = ['pxe', 'disk', 'none'] as const;

const IdParams = Type.Object({ id: Type.String({ description: "node name (OBMd's node_id)" }) });
const TokenQuery = Type.Object({ token: Type.Optional(Type.String({ description: 'from POST /node/{id}/token' })) });

const IpmiInfo = Type.Object({
  addr: Type.String({ minLength: 1, maxLength: 261, description: 'BMC host name or address; host:port for another port than 623' }),
  user: Type.String({ maxLength: bmcParamProperties.user.maxLength }),
  pass: Type.String({ maxLength: bmcParamProperties.password.maxLength }),
}, { additionalProperties: false });
type IpmiInfo = Static<typeof IpmiInfo>;

const RegisterBody = Type.Object({ type: Type.String({ description: 'OBM type: ipmi' }), info: IpmiInfo }, { additionalProperties: false });
const PowerCycleBody = Type.Object({
  force: Type.Boolean({ default: false, description: 'true: hard reset; false: power cycle (off, then on)' }),
}, { additionalProperties: false });
const BootDeviceBody = Type.Object({
  bootdev: Type.Unsafe<(typeof BOOT_DEVICES)[number]>({ type: 'string', enum: [...BOOT_DEVICES], description: 'set persistently; none: the BIOS order' }),
}, { additionalProperties: false });

const errorResponses = { 400: ErrorSchema, 401: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema };
const powerErrors = { ...errorResponses, 502: ErrorSchema, 504: ErrorSchema };

/** OBMd hands `addr` to `ipmitool -H`; here `host:port` (or `[v6]:port`) may also name the port. */
export function bmcAddress(addr: string): { host: string; port?: number } {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(addr) ?? /^([^:]+):(\d{1,5})$/.exec(addr);
  return m ? { host: m[1], port: Number(m[2]) } : { host: addr };
}

/** The Switchboard node an OBMd registration stands for. */
export function obmdNodeSpec(name: string, info: IpmiInfo) {
  return {
    name,
    driver: 'ipmi-sol',
    params: { ...bmcAddress(info.addr), user: info.user, password: info.pass },
    // OBMd talks to the BMC's SOL only while someone watches.
    ondemand: true,
    labels: { obmd: 'true' },
    power: { driver: 'ipmi' },
  };
}

/** OBMd's success: 200 and an empty body. */
function emptyOk(reply: FastifyReply): FastifyReply {
  return reply.send();
}

/** OBMd answers 401 to any token that does not open this node; Switchboard's own API says 403. */
function forbiddenAsUnauthorized(a: ErrorAnswer): ErrorAnswer {
  return a.status === 403 ? { status: 401, body: { error: 'UNAUTHORIZED', message: a.body.message } } : a;
}

export interface ObmdRoutesOptions {
  nodes: NodeService;
  tokens: TokenService;
  power: PowerService;
  consoles: ConsoleManager;
  bodyLimit: number;
}

export const obmdCompatRoutes: FastifyPluginAsyncTypebox<ObmdRoutesOptions> = async (app, { nodes, tokens, power, consoles, bodyLimit }) => {
  app.setErrorHandler(errorHandler(bodyLimit, forbiddenAsUnauthorized));
  // OBMd read every body as JSON whatever its type, and ignored the bodies it had no use for.
  // So: JSON, also with no content type (python-requests' `data=json.dumps(...)`); an empty body
  // is no body; any other declared type is refused.
  const json = app.getDefaultJsonParser('error', 'error');
  const jsonOrEmpty = (req: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) =>
    (body === '' ? done(null, undefined) : json(req, body as string, done));
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, jsonOrEmpty);
  app.addContentTypeParser('*', { parseAs: 'string' }, (req, body, done) => {
    const type = req.headers['content-type'];
    if (type !== undefined) return done(new errors.UNSUPPORTED_MEDIA_TYPE(type.slice(0, 100)), undefined);
    jsonOrEmpty(req, body, done);
  });

  const admin = { tags: ['obmd'], params: IdParams };
  const withToken = (need: 'console' | 'power') => ({ queryToken: true, scope: { need, param: 'id' } });
  const tokenSchema = { tags: ['obmd'], params: IdParams, querystring: TokenQuery };

  // OBMd keeps one token per node; issuing and revoking run one at a time, as under OBMd's lock.
  const oneAtATime = pLimit(1);
  const issueToken = (node: string) => oneAtATime(async () => {
    await nodes.record(node);
    await tokens.revokeNode(node, 'token replaced', 'obmd');
    const { token, record } = await tokens.create({ node, rights: OBMD_RIGHTS, ttl: null, kind: 'obmd', note: 'OBMd' });
    // A node deleted meanwhile revoked its tokens, perhaps before this one was made.
    await nodes.record(node).catch(async (err: unknown) => {
      await tokens.revoke(record.id, 'node deleted');
      throw err;
    });
    return token;
  });
  const revokeToken = (node: string) => oneAtATime(async () => {
    await nodes.record(node);
    await tokens.revokeNode(node, 'token revoked', 'obmd');
  });

  app.put('/node/:id', {
    bodyLimit: OBMD_BODY_LIMIT,
    schema: { ...admin, summary: 'OBMd: register a node (an ipmi-sol console on demand, ipmi power)', body: RegisterBody, response: errorResponses },
    // An unknown type is named as such, before its info fails the ipmi schema.
    preValidation: async (req) => {
      const type = (req.body as { type?: unknown } | null)?.type;
      if (typeof type === 'string' && !OBMD_TYPES.includes(type)) {
        throw new errors.UNKNOWN_DRIVER(req.params.id.slice(0, 64), 'OBM', type.slice(0, 32), OBMD_TYPES.join(', '));
      }
    },
  }, async (req, reply) => {
    await nodes.create(obmdNodeSpec(req.params.id, req.body.info));
    return emptyOk(reply);
  });

  app.delete('/node/:id', {
    schema: { ...admin, summary: 'OBMd: unregister a node (its tokens die with it)', response: errorResponses },
  }, async (req, reply) => {
    await nodes.delete(req.params.id);
    return emptyOk(reply);
  });

  app.post('/node/:id/token', {
    schema: { ...admin, summary: "OBMd: a new token for the node's console and power; the previous one stops working", response: { 200: Type.Object({ token: Type.String() }), ...errorResponses } },
  }, async (req) => ({ token: await issueToken(req.params.id) }));

  app.delete('/node/:id/token', {
    schema: { ...admin, summary: "OBMd: revoke the node's token (done even if there is none)", response: errorResponses },
  }, async (req, reply) => {
    await revokeToken(req.params.id);
    return emptyOk(reply);
  });

  app.get('/node/:id/console', {
    config: withToken('console'),
    schema: { ...tokenSchema, summary: "OBMd: the node's console output, streamed (application/octet-stream) until the client goes or the token dies" },
  }, async (req, reply) => {
    const rec = await nodes.record(req.params.id);
    if (!rec.consoleEnabled) throw new errors.CONSOLE_DISABLED(rec.name);
    const body = consoleResponseBody({ consoles, tokens }, rec.name, req.identity!, req.ip, reply.raw);
    return reply.type('application/octet-stream').send(body);
  });

  const powerRoute = (summary: string, body?: typeof PowerCycleBody | typeof BootDeviceBody) => ({
    bodyLimit: OBMD_BODY_LIMIT,
    config: withToken('power'),
    schema: { ...tokenSchema, summary, ...(body ? { body } : {}), response: powerErrors },
  });

  app.post('/node/:id/power_cycle', powerRoute('OBMd: reboot: hard reset with force, else power cycle; a node that is off is powered on', PowerCycleBody), async (req, reply) => {
    await powerCycle(await nodes.record(req.params.id), (req.body as Static<typeof PowerCycleBody>).force, req.identity!.id);
    return emptyOk(reply);
  });

  app.post('/node/:id/power_on', powerRoute('OBMd: power on'), async (req, reply) => {
    await power.control(await nodes.record(req.params.id), 'on', req.identity!.id);
    return emptyOk(reply);
  });

  app.post('/node/:id/power_off', powerRoute('OBMd: power off (hard)'), async (req, reply) => {
    await power.control(await nodes.record(req.params.id), 'off', req.identity!.id);
    return emptyOk(reply);
  });

  app.put('/node/:id/boot_device', powerRoute('OBMd: the boot device, for every boot from now on', BootDeviceBody), async (req, reply) => {
    const { bootdev } = req.body as Static<typeof BootDeviceBody>;
    await power.setBootDevice(await nodes.record(req.params.id), bootdev, { persistent: true, efi: false }, req.identity!.id);
    return emptyOk(reply);
  });

  app.get('/node/:id/power_status', {
    config: withToken('power'),
    schema: { ...tokenSchema, summary: 'OBMd: whether the node is powered on', response: { 200: Type.Object({ power_status: Type.Union([Type.Literal('on'), Type.Literal('off')]) }), ...powerErrors } },
  }, async (req) => ({ power_status: await power.status(await nodes.record(req.params.id)) }));

  /**
   * OBMd's promise: a node that is off is powered on; one that is on gets a hard reset (force) or
   * a power cycle, as OBMd's `ipmitool chassis power reset|cycle`. Asking first, rather than
   * waiting for the BMC to refuse, keeps the promise with BMCs that accept a reset while off.
   */
  async function powerCycle(rec: NodeRecord, force: boolean, by: string): Promise<void> {
    const on = (await power.status(rec)) === 'on';
    await power.control(rec, !on ? 'on' : force ? 'reset' : 'cycle', by);
  }
};
