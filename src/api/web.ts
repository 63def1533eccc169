// The web console: the vite-built page (dist/web) at `/`, its hashed assets under `/assets/`.
// Every route here is public: the page holds no secrets, and everything it shows comes from the
// API, which still wants a token.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';
import { errors } from '../errors.js';

/** Where `npm run build` puts the page: the same place whether this runs from dist/ or (tsx) src/. */
export const WEB_ROOT = fileURLToPath(new URL('../../dist/web/', import.meta.url));

/** Paths the page itself routes (see src/web/main.ts); each answers with index.html. */
const PAGE_ROUTES = ['/', '/console/:name', '/vnc/:name'];

// Only the page's own origin, plus what xterm.js needs (inline styles for its rows, a canvas) and
// noVNC (the remote cursor as a data: URL image).
// 'self' covers the same-origin WebSocket (ws: or wss:) in CSP level 3 browsers.
const CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
  + "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export interface WebRoutesOptions {
  root?: string;
}

export const webRoutes: FastifyPluginAsync<WebRoutesOptions> = async (app, opts) => {
  const root = opts.root ?? WEB_ROOT;
  // Mark every route of this scope public, @fastify/static's wildcard route included (it takes no route config).
  app.addHook('onRoute', (route) => {
    route.config = { ...route.config, public: true };
  });

  if (!existsSync(path.join(root, 'index.html'))) {
    app.log.warn({ root }, 'web console not built (npm run build); / answers 404');
    for (const url of PAGE_ROUTES) {
      app.get(url, { schema: { hide: true } }, async () => {
        throw new errors.WEB_NOT_BUILT(root);
      });
    }
    return;
  }

  await app.register(fastifyStatic, {
    root: path.join(root, 'assets'),
    prefix: '/assets/',
    // Vite puts a content hash in every asset name: a new build means new names.
    immutable: true,
    maxAge: '365d',
    index: false,
  });

  for (const url of PAGE_ROUTES) {
    app.get(url, { schema: { hide: true } }, async (_req, reply) => {
      reply.header('cache-control', 'no-cache');
      reply.header('content-security-policy', CSP);
      // A console link carries its token in the fragment, which is never sent; this keeps the
      // path (node name) out of other sites' logs too.
      reply.header('referrer-policy', 'no-referrer');
      reply.header('x-content-type-options', 'nosniff');
      return reply.sendFile('index.html', root, { cacheControl: false });
    });
  }
};
