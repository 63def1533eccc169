// /api/v1/nodes/:name/power, /api/v1/nodes/:name/boot-device and /api/v1/bulk/power.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { NodeService } from '../nodes/service.js';
import { BOOT_DEVICES, POWER_ACTIONS, type PowerService } from '../power/index.js';
import { BULK_MAX } from './bulk.js';
import { ErrorSchema, errorResponses, NameParams } from './schemas.js';

const PowerStateSchema = Type.Union([Type.Literal('on'), Type.Literal('off')]);
const ActionSchema = Type.Union(POWER_ACTIONS.map((a) => Type.Literal(a)), {
  description: 'on; off (hard); cycle (off, then on); reset (hard); soft (ask the OS to shut down)',
});
const powerErrors = { ...errorResponses, 502: ErrorSchema, 504: ErrorSchema };

const BulkPowerResultSchema = Type.Object({
  index: Type.Integer(),
  name: Type.Optional(Type.String()),
  status: Type.String({ description: 'done | error' }),
  power: Type.Optional(PowerStateSchema),
  error: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
});

export interface PowerRoutesOptions {
  nodes: NodeService;
  power: PowerService;
}

export const powerRoutes: FastifyPluginAsyncTypebox<PowerRoutesOptions> = async (app, { nodes, power }) => {
  app.get('/nodes/:name/power', {
    config: { scope: { need: 'power' } },
    schema: {
      summary: "Ask the node's BMC whether it is powered on",
      tags: ['power'],
      params: NameParams,
      response: { 200: Type.Object({ node: Type.String(), power: PowerStateSchema }), ...powerErrors },
    },
  }, async (req) => {
    const rec = await nodes.record(req.params.name);
    return { node: rec.name, power: await power.status(rec) };
  });

  app.post('/nodes/:name/power', {
    config: { scope: { need: 'power' } },
    schema: {
      summary: 'Power the node on, off, cycle, reset or soft-off; answers when the BMC has accepted it',
      tags: ['power'],
      params: NameParams,
      body: Type.Object({ action: ActionSchema }, { additionalProperties: false }),
      response: { 200: Type.Object({ node: Type.String(), action: ActionSchema }), ...powerErrors },
    },
  }, async (req) => {
    const rec = await nodes.record(req.params.name);
    await power.control(rec, req.body.action, req.identity!.id);
    return { node: rec.name, action: req.body.action };
  });

  app.put('/nodes/:name/boot-device', {
    config: { scope: { need: 'power' } },
    schema: {
      summary: 'Choose what the node boots from: next boot only, or every boot with persistent',
      tags: ['power'],
      params: NameParams,
      body: Type.Object({
        device: Type.Union(BOOT_DEVICES.map((d) => Type.Literal(d))),
        persistent: Type.Boolean({ default: false }),
        efi: Type.Boolean({ default: false, description: 'boot the device in UEFI mode' }),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ node: Type.String(), device: Type.String(), persistent: Type.Boolean(), efi: Type.Boolean() }), ...powerErrors },
    },
  }, async (req) => {
    const rec = await nodes.record(req.params.name);
    const { device, persistent = false, efi = false } = req.body;
    await power.setBootDevice(rec, device, { persistent, efi }, req.identity!.id);
    return { node: rec.name, device, persistent, efi };
  });

  app.post('/bulk/power', {
    schema: {
      summary: 'Power status or action on many nodes; each answers for itself (bounded concurrency)',
      tags: ['bulk', 'power'],
      body: Type.Object({
        names: Type.Array(Type.Unknown(), { maxItems: BULK_MAX }),
        action: Type.Union([Type.Literal('status'), ...POWER_ACTIONS.map((a) => Type.Literal(a))]),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ done: Type.Integer(), failed: Type.Integer(), results: Type.Array(BulkPowerResultSchema) }), ...errorResponses },
    },
  }, async (req) => {
    const { names, action } = req.body;
    const results = await Promise.all(names.map(async (name, index) => {
      const shown = typeof name === 'string' ? name.slice(0, 64) : undefined;
      try {
        const rec = await nodes.record(name as string);
        if (action === 'status') return { index, name: shown, status: 'done', power: await power.status(rec) };
        await power.control(rec, action, req.identity!.id);
        return { index, name: shown, status: 'done' };
      } catch (err) {
        const e = err as { code?: string; statusCode?: number; message: string };
        const known = e.code && e.statusCode && e.statusCode !== 500;
        return { index, name: shown, status: 'error', error: known ? e.code : 'INTERNAL', message: known ? e.message : 'internal error' };
      }
    }));
    const failed = results.filter((r) => r.status === 'error').length;
    return { done: results.length - failed, failed, results };
  });
};
