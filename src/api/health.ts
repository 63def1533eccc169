// GET /healthz: unauthenticated liveness for load balancers and scripts.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';

export interface HealthOptions {
  version: string;
  /** Numbers worth a glance: sessions running; the fleet side's link to NATS ('off' without --nats). */
  stats(): { sessions: number; fleet: string };
}

export const healthRoutes: FastifyPluginAsyncTypebox<HealthOptions> = async (app, opts) => {
  app.get('/healthz', {
    config: { public: true },
    schema: {
      summary: 'Liveness (no token needed)',
      tags: ['health'],
      response: {
        200: Type.Object({
          status: Type.Literal('ok'), version: Type.String(), sessions: Type.Integer(),
          fleet: Type.String({ description: "off (no --nats), connected, reconnecting, 'waiting for NATS' (not reached since the start) or failed" }),
        }),
      },
    },
  }, async () => ({ status: 'ok' as const, version: opts.version, ...opts.stats() }));
};
