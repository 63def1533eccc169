// `switchboard audit`: the daemon's audit log, newest first, filtered on the daemon.
import { Command, Option } from 'commander';
import type { AuditEntry } from '../audit/index.js';
import { ApiClient } from './client.js';
import { printJson, printTable, type OutputFormat } from './output.js';

interface GlobalOpts {
  url?: string;
  token?: string;
  ca?: string;
  output: OutputFormat;
}

/** The one column that says what happened beyond the action: mode, status, duration, safe details. */
function what(e: AuditEntry): string {
  const parts: string[] = [];
  if (e.mode) parts.push(e.mode);
  if (e.status !== undefined) parts.push(String(e.status));
  if (e.durationMs !== undefined) parts.push(`${Math.round(e.durationMs / 1000)}s`);
  for (const [k, v] of Object.entries(e.details ?? {})) {
    if (k === 'client') continue;
    parts.push(`${k}=${Array.isArray(v) ? v.join(',') : String(v)}`);
  }
  return parts.join(' ');
}

export function auditCommand(): Command {
  return new Command('audit')
    .description('who did what: API calls that change state, console attach/detach/force, power, tokens (admin only)')
    .option('--node <node>', 'only this node')
    .option('--since <time>', 'from this time: ISO, or a duration back from now (2h, 7d)')
    .option('--until <time>', 'up to this time: ISO, or a duration back from now')
    .option('--action <action>', "one action (console.attach, power, token.create ...), or a prefix ending in '.' (console.)")
    .option('--identity <id>', "'admin' or token:<id>")
    .addOption(new Option('--limit <n>', 'at most this many entries').default('100'))
    .action(async (o: { node?: string; since?: string; until?: string; action?: string; identity?: string; limit: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOpts>();
      const q = new URLSearchParams();
      for (const key of ['node', 'since', 'until', 'action', 'identity', 'limit'] as const) if (o[key] !== undefined) q.set(key, o[key]);
      const { entries } = await new ApiClient(g).request<{ entries: AuditEntry[] }>('GET', `/audit?${q}`);
      if (g.output === 'json') return printJson(entries);
      printTable(['TIME', 'ACTION', 'IDENTITY', 'FROM', 'NODE', 'WHAT'], entries.map((e) => [e.ts, e.action, e.identity, e.from ?? '', e.node ?? '', what(e)]));
    });
}
