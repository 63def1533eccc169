// `switchboard logs ...`: search console logs across the fleet, and tail one node's log.
import { createInterface } from 'node:readline';
import { Command, Option } from 'commander';
import { ApiClient, CliError } from './client.js';
import type { OutputFormat } from './output.js';

interface GlobalOpts {
  url?: string;
  token?: string;
  ca?: string;
  output: OutputFormat;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Console output holds escape sequences: shown as \xNN so a search result cannot drive the terminal. */
export function printable(line: string): string {
  // eslint-disable-next-line no-control-regex
  return line.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function nonNegative(value: string, option: string): number {
  if (!/^\d+$/.test(value)) throw new CliError('USAGE', `${option} must be a whole number, got '${value}'`, 2);
  return Number(value);
}

export function logsCommand(): Command {
  const logs = new Command('logs').description('search console logs across nodes, tail one node\'s log');

  logs.command('search')
    .description('find PATTERN in console logs, live and rotated: prints NODE TIME LINE, each node oldest first')
    .argument('<pattern>', 'text to find (case-sensitive), or a regular expression with --regex')
    .option('--node <name>', 'only this node; repeatable', collect)
    .option('--label <selector>', 'only nodes with this label, k=v or k; repeatable, all must match', collect)
    .option('--since <time>', 'from this ISO time, or this long ago (30m, 2h, 7d)')
    .option('--until <time>', 'up to this ISO time, or this long ago')
    .option('--regex', 'PATTERN is a JavaScript regular expression', false)
    .addOption(new Option('--limit <n>', 'stop after this many lines (at most 100000)').default('1000'))
    .action(async (pattern: string, o, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOpts>();
      const api = new ApiClient({ url: opts.url, token: opts.token, ca: opts.ca });
      const q = new URLSearchParams({ q: pattern, limit: String(nonNegative(o.limit, '--limit')) });
      if (o.regex) q.set('regex', 'true');
      for (const n of o.node ?? []) q.append('node', n);
      for (const l of o.label ?? []) q.append('label', l);
      if (o.since) q.set('since', o.since);
      if (o.until) q.set('until', o.until);
      const res = await api.stream(`/logs/search?${q}`);
      const hits: unknown[] = [];
      for await (const text of createInterface({ input: res, crlfDelay: Infinity })) {
        if (!text) continue;
        const rec = JSON.parse(text) as { node?: string; time?: string; line?: string; end?: { hits: number; limited: boolean }; error?: string; message?: string };
        if (rec.error) throw new CliError(rec.error, rec.message ?? 'the search failed');
        if (rec.end) {
          if (rec.end.limited) process.stderr.write(`switchboard: stopped at --limit ${rec.end.hits}; narrow the search or raise --limit\n`);
          continue;
        }
        if (opts.output === 'json') hits.push(rec);
        else process.stdout.write(`${rec.node} ${rec.time} ${printable(rec.line ?? '')}\n`);
      }
      if (opts.output === 'json') process.stdout.write(`${JSON.stringify(hits, null, 2)}\n`);
    });

  logs.command('tail')
    .description("print the last lines of a node's console log (time stamps as stored); -f keeps printing what is appended")
    .argument('<node>')
    .option('-n, --lines <n>', 'how many lines', '50')
    .option('-f, --follow', 'keep printing as the log grows (across rotation), until interrupted', false)
    .action(async (node: string, o, cmd: Command) => {
      const opts = cmd.optsWithGlobals<GlobalOpts>();
      const api = new ApiClient({ url: opts.url, token: opts.token, ca: opts.ca });
      const q = new URLSearchParams({ lines: String(nonNegative(o.lines, '--lines')), ...(o.follow ? { follow: 'true' } : {}) });
      const res = await api.stream(`/nodes/${encodeURIComponent(node)}/log/tail?${q}`);
      // The log as stored, bytes and all, as `tail` would print it.
      for await (const chunk of res) process.stdout.write(chunk as Buffer);
    });

  return logs;
}
