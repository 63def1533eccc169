// `switchboard token create|list|show|revoke|renew` and `switchboard console-link NODE`.
import { Command, Option } from 'commander';
import { TOKEN_RIGHTS } from '../tokens/service.js';
import { ApiClient, CliError } from './client.js';
import { printJson, printTable, type OutputFormat } from './output.js';

interface GlobalOpts {
  url?: string;
  token?: string;
  ca?: string;
  output: OutputFormat;
}

interface TokenView {
  id: string;
  node: string;
  rights: string[];
  kind: string;
  note: string;
  createdAt: string;
  expiresAt: string | null;
  maxExpiresAt: string | null;
  expired: boolean;
  connections: number;
  token?: string;
  url?: string;
}

const globals = (cmd: Command) => cmd.optsWithGlobals<GlobalOpts>();

/** "in 1h 59m", "expired 3m ago", "never". */
export function expiry(t: Pick<TokenView, 'expiresAt' | 'expired'>, now = Date.now()): string {
  if (t.expiresAt === null) return 'never';
  const s = Math.round((Date.parse(t.expiresAt) - now) / 1000);
  const span = (x: number) => (x >= 86400 ? `${Math.floor(x / 86400)}d ${Math.floor((x % 86400) / 3600)}h`
    : x >= 3600 ? `${Math.floor(x / 3600)}h ${Math.floor((x % 3600) / 60)}m` : x >= 60 ? `${Math.floor(x / 60)}m` : `${x}s`);
  return t.expired || s <= 0 ? `expired ${span(Math.abs(s))} ago` : `in ${span(s)}`;
}

function show(t: TokenView, format: OutputFormat): void {
  if (format === 'json') return printJson(t);
  printTable(['ID', 'NODE', 'RIGHTS', 'KIND', 'EXPIRES', 'CONN', 'NOTE'], [[t.id, t.node, t.rights.join(','), t.kind, expiry(t), t.connections, t.note]]);
}

/** The secret goes to stdout alone (easy to capture); what it is goes to stderr. */
function issued(t: TokenView, format: OutputFormat, what: 'token' | 'url'): void {
  if (format === 'json') return printJson(t);
  process.stdout.write(`${what === 'url' ? t.url : t.token}\n`);
  process.stderr.write(`token ${t.id}: ${t.rights.join(',')} on ${t.node}, expires ${expiry(t)} (${t.expiresAt}); `
    + `it is shown only now. Revoke: switchboard token revoke ${t.id}\n`);
}

export function tokenCommand(): Command {
  const token = new Command('token').description('scoped tokens: one node, some rights, an expiry');

  token.command('create')
    .description('make a token for one node; prints the secret once')
    .argument('<node>')
    .addOption(new Option('--right <right...>', 'rights it grants').choices([...TOKEN_RIGHTS]).makeOptionMandatory())
    .option('--ttl <duration>', 'lifetime: 30m, 2h, 7d', '1h')
    .option('--note <text>', 'who or what it is for')
    .action(async (node: string, o: { right: string[]; ttl: string; note?: string }, cmd: Command) => {
      const g = globals(cmd);
      const t = await new ApiClient(g).request<TokenView>('POST', '/tokens', { node, rights: o.right, ttl: o.ttl, ...(o.note ? { note: o.note } : {}) });
      issued(t, g.output, 'token');
    });

  token.command('list')
    .description('list tokens (never their secrets)')
    .option('--node <node>', 'only this node\'s')
    .action(async (o: { node?: string }, cmd: Command) => {
      const g = globals(cmd);
      const list = await new ApiClient(g).request<TokenView[]>('GET', `/tokens${o.node ? `?node=${encodeURIComponent(o.node)}` : ''}`);
      if (g.output === 'json') return printJson(list);
      printTable(['ID', 'NODE', 'RIGHTS', 'KIND', 'EXPIRES', 'CONN', 'NOTE'], list.map((t) => [t.id, t.node, t.rights.join(','), t.kind, expiry(t), t.connections, t.note]));
    });

  token.command('show')
    .description("one token ('self': the token the CLI is using)")
    .argument('<id>')
    .action(async (id: string, _o, cmd: Command) => {
      const g = globals(cmd);
      show(await new ApiClient(g).request<TokenView>('GET', `/tokens/${encodeURIComponent(id)}`), g.output);
    });

  token.command('revoke')
    .description('revoke tokens: they stop working at once and their live connections are closed')
    .argument('<id...>')
    .action(async (ids: string[], _o, cmd: Command) => {
      const api = new ApiClient(globals(cmd));
      for (const id of ids) {
        await api.request('DELETE', `/tokens/${encodeURIComponent(id)}`);
        process.stderr.write(`revoked ${id}\n`);
      }
    });

  token.command('renew')
    .description("push a token's expiry out from now ('self': the token the CLI is using)")
    .argument('<id>')
    .option('--ttl <duration>', 'from now (default: the token\'s own lifetime)')
    .action(async (id: string, o: { ttl?: string }, cmd: Command) => {
      const g = globals(cmd);
      show(await new ApiClient(g).request<TokenView>('POST', `/tokens/${encodeURIComponent(id)}/renew`, o.ttl ? { ttl: o.ttl } : {}), g.output);
    });

  return token;
}

export function consoleLinkCommand(): Command {
  return new Command('console-link')
    .description("a one-click link to a node's web terminal, with a time-limited token for that node only")
    .argument('<node>')
    .option('--ttl <duration>', 'how long the link works unless renewed by the open page', '2h')
    .option('--ro', 'read-only (spy) link', false)
    .option('--note <text>', 'who it is for')
    .action(async (node: string, o: { ttl: string; ro: boolean; note?: string }, cmd: Command) => {
      const g = globals(cmd);
      if (!/^\d+(ms|s|m|h|d)$/.test(o.ttl)) throw new CliError('USAGE', '--ttl must be a duration such as 30m, 2h or 7d', 2);
      const body = { ttl: o.ttl, mode: o.ro ? 'ro' : 'rw', ...(o.note ? { note: o.note } : {}) };
      issued(await new ApiClient(g).request<TokenView>('POST', `/nodes/${encodeURIComponent(node)}/console-link`, body), g.output, 'url');
    });
}
