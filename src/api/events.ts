// GET /api/v1/events: server-sent events for pages that show the fleet live. On connect one
// `snapshot` with every node the caller may see; then `node` (a node's view) whenever it changes
// — its console state, clients, spec, known power state, watch-pattern matches, its agent's hello — and `node-deleted`. Changes are coalesced per node over a
// short window, so a flapping console or a bulk create sends each node once per window.
import type { EventEmitter } from 'node:events';
import type { FastifyPluginAsync } from 'fastify';
import type { ConsoleManager } from '../console/manager.js';
import type { NodeService } from '../nodes/service.js';
import type { PowerService } from '../power/index.js';
import type { Identity } from './auth.js';

const FLUSH_MS = 100;
const HEARTBEAT_MS = 25_000;

export interface EventRoutesOptions {
  nodes: NodeService;
  consoles: ConsoleManager;
  power: PowerService;
  /** 'changed' (node name) when the node's view changed otherwise: a watch pattern matched or was disabled, its agent said hello. */
  viewChanged?: EventEmitter;
}

export const eventRoutes: FastifyPluginAsync<EventRoutesOptions> = async (app, { nodes, consoles, power, viewChanged }) => {
  app.get('/events', {
    // EventSource cannot set headers; a scoped token sees its own node only.
    config: { queryToken: true, self: true },
    schema: {
      summary: 'Live node changes as server-sent events: snapshot, then node and node-deleted',
      tags: ['nodes'],
      querystring: { type: 'object', properties: { token: { type: 'string' } }, additionalProperties: false },
    },
  }, async (req, reply) => {
    const identity = req.identity as Identity;
    const visible = (name: string) => identity.admin || identity.token?.node === name;
    const snapshot = identity.admin ? await nodes.list() : [await nodes.get(identity.token!.node)];

    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    send('snapshot', { nodes: snapshot });

    const dirty = new Set<string>();
    let timer: NodeJS.Timeout | undefined;
    const flush = async () => {
      timer = undefined;
      const names = [...dirty];
      dirty.clear();
      for (const name of names) {
        const view = await nodes.get(name).catch(() => undefined);
        if (res.destroyed) return;
        if (view) send('node', view);
        else send('node-deleted', { name });
      }
    };
    const mark = (name: string) => {
      if (!visible(name)) return;
      dirty.add(name);
      timer ??= setTimeout(() => void flush(), FLUSH_MS);
    };
    const onState = (name: string) => mark(name);
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    consoles.on('state', onState);
    nodes.on('changed', mark);
    nodes.on('deleted', mark);
    power.on('changed', mark);
    viewChanged?.on('changed', mark);
    res.on('close', () => {
      clearTimeout(timer);
      clearInterval(heartbeat);
      consoles.off('state', onState);
      nodes.off('changed', mark);
      nodes.off('deleted', mark);
      power.off('changed', mark);
      viewChanged?.off('changed', mark);
    });
  });
};
