// GET /metrics: the Prometheus scrape. Public like /healthz unless `metricsToken` is set; then the
// scraper must send it as a Bearer token (and only that token: a leaked scrape config gives no admin).
import { timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errors } from '../errors.js';
import type { DaemonMetrics } from '../metrics/index.js';
import { digest, tokenFromHeader } from './auth.js';

export interface MetricsOptions {
  metrics: DaemonMetrics;
  /** Required of scrapers when set. */
  token?: string;
}

export const metricsRoutes: FastifyPluginAsyncTypebox<MetricsOptions> = async (app, opts) => {
  // Digests compared, as for the admin token: constant time, and no length leaks.
  const expected = opts.token === undefined ? undefined : digest(opts.token);
  app.get('/metrics', {
    config: { public: true },
    schema: { summary: 'Prometheus metrics (text format); a Bearer token when metricsToken is set', tags: ['health'] },
    onRequest: async (req, reply) => {
      if (!expected) return;
      const wait = await app.loginLimiter.blockedFor(req.ip);
      if (wait) {
        reply.header('retry-after', Math.ceil(wait / 1000));
        throw new errors.TOO_MANY_REQUESTS(req.ip, `${Math.ceil(wait / 1000)} s`);
      }
      const given = tokenFromHeader(req.headers.authorization);
      if (given !== undefined && timingSafeEqual(digest(given), expected)) return;
      await app.loginLimiter.failed(req.ip);
      reply.header('www-authenticate', 'Bearer realm="metrics"');
      throw new errors.UNAUTHORIZED();
    },
  }, async (_req, reply) => {
    reply.type(opts.metrics.contentType);
    return opts.metrics.scrape();
  });
};
