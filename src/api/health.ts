// GET /healthz: unauthenticated liveness for load balancers and scripts.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';

export interface HealthOptions {
  version: string;
  /** Numbers worth a glance: sessions running, nodes known. */
  stats(): { sessions: number };
}

export const healthRoutes: FastifyPluginAsyncTypebox<HealthOptions> = async (app, opts) => {
  app.get('/healthz', {
    config: { public: true },
    schema: {
      summary: 'Liveness (no token needed)',
      tags: ['health'],
      response: { 200: Type.Object({ status: Type.Literal('ok'), version: Type.String(), sessions: Type.Integer() }) },
    },
  }, async () => ({ status: 'ok' as const, version: opts.version, ...opts.stats() }));
};
