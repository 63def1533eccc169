// Console logs beyond the download: a fleet-wide search over live and rotated files
// (GET /logs/search, NDJSON), and a node's log tail, optionally followed (GET /nodes/:name/log/tail).
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errors } from '../errors.js';
import { lastLines, tailLog } from '../outputs/log-tail.js';
import { searchLogs, type LineMatcher, type LogHit, type SearchTarget, type SearchWindow } from '../outputs/log-search.js';
import { regexSearch } from '../outputs/log-search-regex.js';
import { matchesLabels } from '../model/node.js';
import { checkNodeName, type NodeService } from '../nodes/service.js';
import { authorize, type Identity } from './auth.js';
import { errorResponses, NameParams } from './schemas.js';
import { parseTimeBound } from './time-bound.js';

export const SEARCH_LIMIT_DEFAULT = 1000;
export const SEARCH_LIMIT_MAX = 100_000;
const MAX_PATTERN = 512;
/** A regex search is stopped after this long; a literal one only ever reads. */
const REGEX_BUDGET_MS = 60_000;

/** `1`/`true` or `0`/`false`, as a query string gives a switch. */
const Switch = Type.Optional(Type.Union(['1', 'true', '0', 'false'].map((v) => Type.Literal(v)), { default: '0' }));
const on = (v: string | undefined) => v === '1' || v === 'true';

export interface LogRoutesOptions {
  nodes: NodeService;
}

function matcherFor(q: string, regex: boolean): LineMatcher {
  if (q.length > MAX_PATTERN) throw new errors.VALIDATION(`q: at most ${MAX_PATTERN} characters`);
  if (/[\r\n]/.test(q)) throw new errors.VALIDATION('q: a pattern matches within one line; it cannot hold a line break');
  if (!regex) return { literal: q };
  try {
    return { regex: new RegExp(q) };
  } catch (err) {
    throw new errors.VALIDATION(`q: not a regular expression: ${(err as Error).message.slice(0, 200)}`);
  }
}

export const logRoutes: FastifyPluginAsyncTypebox<LogRoutesOptions> = async (app, { nodes }) => {
  /** The nodes a search covers: named ones (their logs outlive them), else every node; labels narrow either. */
  const targetsFor = async (identity: Identity, named: string[], labels: string[]): Promise<SearchTarget[]> => {
    for (const n of named) checkNodeName(n);
    // A scoped token searches its own node, with a console right on it.
    if (!identity.admin) {
      const own = identity.token!.node;
      for (const n of named.length ? named : [own]) authorize(identity, n, 'console');
      named = [own];
    }
    let names = named.length ? [...new Set(named)] : (await nodes.list()).map((n) => n.name);
    if (labels.length) {
      const all = new Map((await nodes.list()).map((n) => [n.name, n.labels]));
      names = names.filter((n) => all.has(n) && matchesLabels(all.get(n)!, labels));
    }
    return names.sort().map((node) => ({ node, filesOldestFirst: nodes.logFiles(node).reverse() }));
  };

  app.get('/logs/search', {
    config: { self: true },
    schema: {
      summary: 'Search console logs (live and rotated) of many nodes: NDJSON lines {node, time, line}, each node oldest first, then {end: {hits, limited}}',
      description: 'A line without its own time stamp has the time of the last stamped line before it. A scoped token with a console right searches its own node only. '
        + 'If the search fails after it started (a regex past its time budget), the last line is {error, message} instead of {end}.',
      tags: ['console'],
      querystring: Type.Object({
        q: Type.String({ minLength: 1, description: 'substring to find (case-sensitive), or with regex=1 a JavaScript regular expression' }),
        regex: Switch,
        node: Type.Optional(Type.Array(Type.String({ maxLength: 600 }), { description: 'only these nodes; repeatable' })),
        label: Type.Optional(Type.Array(Type.String({ maxLength: 600 }), { description: 'k=v or k; repeatable, all must match' })),
        since: Type.Optional(Type.String({ maxLength: 64, description: 'ISO time, or a duration back from now (30m, 2h, 7d)' })),
        until: Type.Optional(Type.String({ maxLength: 64, description: 'ISO time, or a duration back from now' })),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: SEARCH_LIMIT_MAX, default: SEARCH_LIMIT_DEFAULT })),
      }, { additionalProperties: false }),
      response: { 200: Type.Unknown({ description: 'application/x-ndjson' }), ...errorResponses },
    },
  }, async (req, reply) => {
    const q = req.query;
    const now = Date.now();
    const window: SearchWindow = { since: parseTimeBound(q.since, 'since', now), until: parseTimeBound(q.until, 'until', now) };
    const matcher = matcherFor(q.q, on(q.regex));
    const targets = await targetsFor(req.identity!, q.node ?? [], q.label ?? []);
    const limit = q.limit ?? SEARCH_LIMIT_DEFAULT;
    const ac = new AbortController();
    reply.raw.on('close', () => ac.abort());
    const hits: AsyncIterable<LogHit> = 'regex' in matcher
      ? regexSearch({ targets, pattern: matcher.regex.source, flags: matcher.regex.flags, window, limit }, REGEX_BUDGET_MS, ac.signal)
      : searchLogs(targets, matcher, window, ac.signal);
    async function* ndjson(): AsyncGenerator<string> {
      let n = 0;
      try {
        for await (const hit of hits) {
          yield `${JSON.stringify(hit)}\n`;
          if (++n >= limit) break;
        }
        yield `${JSON.stringify({ end: { hits: n, limited: n >= limit } })}\n`;
      } catch (err) {
        req.log.warn({ err: (err as Error).message }, 'log search failed');
        const e = err instanceof errors.SEARCH_TIMEOUT ? err : new errors.SEARCH_FAILED('the search failed');
        yield `${JSON.stringify({ error: e.code, message: e.message })}\n`;
      }
    }
    return reply.header('content-type', 'application/x-ndjson; charset=utf-8').header('cache-control', 'no-store').send(Readable.from(ndjson()));
  });

  app.get('/nodes/:name/log/tail', {
    config: { scope: { need: 'console' }, queryToken: true },
    schema: {
      summary: "The last lines of the node's live console log, as stored (time stamps included); follow=1 keeps streaming what is appended, across rotation",
      tags: ['console'],
      params: NameParams,
      querystring: Type.Object({
        lines: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000, default: 50 })),
        follow: Switch,
        token: Type.Optional(Type.String()),
      }, { additionalProperties: false }),
      response: { 200: Type.Unknown({ description: 'text/plain: the log as stored' }), ...errorResponses },
    },
  }, async (req, reply) => {
    const rec = await nodes.record(req.params.name);
    const [file] = nodes.logFiles(rec.name);
    const lines = req.query.lines ?? 50;
    if (!on(req.query.follow)) {
      return reply.header('content-type', 'text/plain; charset=utf-8').header('cache-control', 'no-store').send((await lastLines(file, lines)).text);
    }
    // Hijacked so the headers go out at once, before anything new is appended.
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    const ac = new AbortController();
    res.on('close', () => ac.abort());
    try {
      // The last lines first, then what is appended: one file, read across rotation (log-tail.ts).
      for await (const chunk of tailLog(file, lines, ac.signal)) {
        if (!res.write(chunk)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
      }
    } catch (err) {
      req.log.warn({ node: rec.name, err: (err as Error).message }, 'log follow failed');
    }
    res.end();
  });
};
