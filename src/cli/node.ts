// `switchboard node ...`: define, list, change and remove nodes.
import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import YAML from 'yaml';
import { VNC_DEFAULT_PORT } from '../model/node.js';
import type { NodeView } from '../nodes/service.js';
import { ApiClient, CliError } from './client.js';
import { age, formatLabels, printJson, printTable, type OutputFormat } from './output.js';

interface GlobalOpts {
  url?: string;
  token?: string;
  ca?: string;
  output: OutputFormat;
}

/** `k=v` → [k, v]; the value may itself contain `=`. */
export function parseKeyValue(s: string, what: string): [string, string] {
  const eq = s.indexOf('=');
  if (eq <= 0) throw new CliError('USAGE', `${what} must be KEY=VALUE, got '${s}'`, 2);
  return [s.slice(0, eq), s.slice(eq + 1)];
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** `--watch NAME=REGEX` options → the node's own watch patterns (flags and webhooks: the API or an import file). */
function watchOption(values: string[]): { name: string; regex: string }[] {
  return values.map((v) => {
    const [name, regex] = parseKeyValue(v, '--watch');
    return { name, regex };
  });
}

function client(cmd: Command): { api: ApiClient; opts: GlobalOpts } {
  const opts = cmd.optsWithGlobals<GlobalOpts>();
  return { api: new ApiClient({ url: opts.url, token: opts.token, ca: opts.ca }), opts };
}

function stateText(n: NodeView): string {
  const s = n.session;
  if (s.state === 'error' && s.lastError) return `error: ${s.lastError}`;
  return s.state;
}

function rawPortText(n: NodeView): string {
  const raw = n.rawPort;
  if (!raw) return '-';
  if (raw.listening) return `${raw.port} (listening)`;
  return `${raw.port} (not listening: ${raw.error ?? (n.consoleEnabled ? 'not opened' : 'console disabled')})`;
}

/** `--console-port N` → N, `--no-console-port` → null (remove), neither → undefined (leave). */
function consolePortOption(value: string | boolean | undefined): number | null | undefined {
  if (value === undefined || value === true) return undefined;
  if (value === false) return null;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) throw new CliError('USAGE', `--console-port must be a port number 1-65535, got '${value}'`, 2);
  return port;
}

/** `--vnc HOST[:PORT]` (IPv6 as `[::1]:5901`) → host and port; the port defaults to 5900. */
export function vncOption(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:\[\]]+))(?::(\d{1,5}))?$/.exec(value.trim());
  const port = m?.[3] === undefined ? VNC_DEFAULT_PORT : Number(m[3]);
  if (!m || port < 1 || port > 65535) throw new CliError('USAGE', `--vnc must be HOST or HOST:PORT (IPv6: [ADDR]:PORT), got '${value}'`, 2);
  return { host: m[1] ?? m[2], port };
}

function vncText(n: NodeView): string {
  if (!n.vnc) return '-';
  const { host, port, password } = n.vnc;
  return `${host.includes(':') ? `[${host}]` : host}:${port} (${password ? 'password set' : 'no password'})`;
}

/** A watch pattern's state: disabled (and why), no match yet, or its count and last match. */
function watchText(w: NodeView['watch'][number]): string {
  if (w.disabled) return `disabled: ${w.disabled}`;
  if (!w.last) return 'no match yet';
  return `${w.count} match${w.count === 1 ? '' : 'es'}, last ${age(w.last.time)} ago: ${w.last.line}`;
}

/** What the daemon last learned of the power, and when: `on, 5s ago` or `unknown, 1m ago: why`. */
function powerStateText(p: NonNullable<NodeView['powerState']>): string {
  return `${p.state}, ${age(p.at)} ago${p.error ? `: ${p.error}` : ''}`;
}

function showNode(n: NodeView, format: OutputFormat): void {
  if (format === 'json') return printJson(n);
  const rows: [string, string][] = [
    ['name', n.name],
    ['driver', n.driver],
    ...Object.entries(n.params).map(([k, v]): [string, string] => [`  ${k}`, typeof v === 'string' ? v : JSON.stringify(v)]),
    ['ondemand', String(n.ondemand)],
    ['console', n.consoleEnabled ? 'enabled' : 'disabled'],
    ['labels', formatLabels(n.labels) || '-'],
    ['console port', rawPortText(n)],
    ['vnc', vncText(n)],
    ['watch', n.watchPatterns.map((p) => `${p.name}=${p.regex}`).join(', ') || '-'],
    // Every pattern watching the node (the config's and its own), with what it has seen.
    ...n.watch.map((w): [string, string] => [`  ${w.pattern}`, watchText(w)]),
    ['power', n.power ? `${n.power.driver}${n.power.params ? '' : ` (params shared with the ${n.driver} console)`}` : '-'],
    ...Object.entries(n.power?.params ?? {}).map(([k, v]): [string, string] => [`  ${k}`, typeof v === 'string' ? v : JSON.stringify(v)]),
    ...(n.power && n.powerState ? [['  last known', powerStateText(n.powerState)] as [string, string]] : []),
    ['agent', n.agent ? `seen ${age(n.agent.lastSeen)} ago, version ${n.agent.version}` : '-'],
    ['state', `${stateText(n)} (for ${age(n.session.since)})`],
    ['clients', String(n.session.clients)],
    ...Object.entries(n.session.info).map(([k, v]): [string, string] => [`  ${k}`, String(v)]),
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n') + '\n');
}

/**
 * `--param k=v` pairs. `k-file=PATH` reads the value of `k` from a file and `k-file=-` from
 * stdin, so a password never has to appear on a command line or in shell history.
 */
export async function paramsFrom(pairs: string[] = [], readStdinOnce: () => Promise<string> = readStdin, option = '--param'): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const [key, value] = parseKeyValue(pair, option);
    if (!key.endsWith('-file')) {
      out[key] = value;
      continue;
    }
    out[key.slice(0, -'-file'.length)] = await readSecretFile(value, `${option} ${key}`, readStdinOnce);
  }
  return out;
}

/** A secret from a file, or from stdin for '-', without its final newline. */
async function readSecretFile(file: string, option: string, readStdinOnce: () => Promise<string> = readStdin): Promise<string> {
  let text: string;
  try {
    text = file === '-' ? await readStdinOnce() : await readFile(file, 'utf8');
  } catch (err) {
    throw new CliError('BAD_FILE', `${option}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 2);
  }
  return text.replace(/\r?\n$/, '');
}

export function nodeCommand(): Command {
  const node = new Command('node').description('define and manage nodes (machines with a console)');

  node.command('create')
    .description('create a node')
    .argument('<name>', 'node name')
    .requiredOption('--driver <driver>', 'console driver: cmd, ssh, telnet, tcp, ipmi-sol, ipmitool-sol')
    .option('--param <key=value>', 'driver parameter, repeatable (e.g. cmd="/bin/bash -l"); KEY-file=PATH reads the value from a file, KEY-file=- from stdin', collect)
    .option('--label <key=value>', 'label, repeatable', collect)
    .option('--power <driver>', 'power driver: ipmi, ipmitool (without --power-param it shares an ipmi-sol/ipmitool-sol console\'s params)')
    .option('--power-param <key=value>', 'power driver parameter, repeatable; KEY-file=PATH|- as for --param', collect)
    .option('--ondemand', 'connect only while someone is attached', false)
    .option('--disabled', 'define the node without running its console', false)
    .option('--console-port <port>', 'serve the console on this raw TCP port too (bytes both ways, no login: ironic\'s socat console)')
    .option('--no-console-port', 'no raw TCP console port (the default)')
    .option('--vnc <host:port>', 'graphical console: the VNC server (port 5900 if left out)')
    .option('--vnc-password-file <file>', "the VNC server's password, from a file or '-' for stdin (it stays on the daemon)")
    .option('--no-vnc', 'no graphical console (the default)')
    .option('--watch <name=regex>', "the node's own watch pattern, repeatable (e.g. disk-error='I/O error on dev \\w+')", collect)
    .action(async (name: string, o, cmd: Command) => {
      const { api, opts } = client(cmd);
      const consolePort = consolePortOption(o.consolePort);
      if (o.vncPasswordFile && typeof o.vnc !== 'string') throw new CliError('USAGE', '--vnc-password-file needs --vnc HOST:PORT', 2);
      const vnc = typeof o.vnc === 'string'
        ? { ...vncOption(o.vnc), ...(o.vncPasswordFile ? { password: await readSecretFile(o.vncPasswordFile, '--vnc-password-file') } : {}) }
        : undefined;
      const body = {
        name,
        driver: o.driver,
        params: await paramsFrom(o.param),
        ondemand: o.ondemand,
        consoleEnabled: !o.disabled,
        labels: Object.fromEntries((o.label ?? []).map((l: string) => parseKeyValue(l, '--label'))),
        ...(o.power ? { power: { driver: o.power, ...(o.powerParam ? { params: await paramsFrom(o.powerParam, readStdin, '--power-param') } : {}) } } : {}),
        ...(consolePort !== undefined ? { consolePort } : {}),
        ...(vnc ? { vnc } : {}),
        ...(o.watch ? { watchPatterns: watchOption(o.watch) } : {}),
      };
      if (o.powerParam && !o.power) throw new CliError('USAGE', '--power-param needs --power DRIVER', 2);
      const created = await api.request<NodeView>('POST', '/nodes', body);
      if (opts.output === 'json') printJson(created);
      else process.stdout.write(`created node ${created.name} (${created.driver}): ${stateText(created)}\n`);
    });

  node.command('list').alias('ls')
    .description('list nodes with their console state')
    .option('--label <selector>', 'k=v or k; repeatable, all must match', collect)
    .action(async (o, cmd: Command) => {
      const { api, opts } = client(cmd);
      const q = new URLSearchParams((o.label ?? []).map((l: string) => ['label', l]));
      const { nodes } = await api.request<{ nodes: NodeView[] }>('GET', `/nodes${q.size ? `?${q}` : ''}`);
      if (opts.output === 'json') return printJson(nodes);
      printTable(['NAME', 'DRIVER', 'STATE', 'CLIENTS', 'SINCE', 'ONDEMAND', 'LABELS'], nodes.map((n) => [
        n.name, n.driver, stateText(n), n.session.clients, age(n.session.since), n.ondemand ? 'yes' : '', formatLabels(n.labels),
      ]));
    });

  node.command('show')
    .description('show a node, its params (secrets masked) and its console session')
    .argument('<name>')
    .action(async (name: string, _o, cmd: Command) => {
      const { api, opts } = client(cmd);
      showNode(await api.request<NodeView>('GET', `/nodes/${encodeURIComponent(name)}`), opts.output);
    });

  node.command('edit')
    .description('change part of a node (other settings stay as they are)')
    .argument('<name>')
    .option('--driver <driver>', 'new console driver')
    .option('--param <key=value>', 'set a driver parameter, repeatable', collect)
    .option('--unset-param <key>', 'remove a driver parameter, repeatable', collect)
    .option('--label <key=value>', 'set a label, repeatable', collect)
    .option('--unset-label <key>', 'remove a label, repeatable', collect)
    .option('--power <driver>', 'set the power driver')
    .option('--power-param <key=value>', 'set a power driver parameter, repeatable', collect)
    .option('--unset-power-param <key>', 'remove a power driver parameter, repeatable', collect)
    .option('--no-power', 'remove power control from the node')
    .addOption(new Option('--ondemand', 'connect only while someone is attached'))
    .addOption(new Option('--no-ondemand', 'stay connected and log all the time'))
    .addOption(new Option('--enable', 'run the console'))
    .addOption(new Option('--disable', 'stop the console, keep the node'))
    .option('--console-port <port>', 'serve the console on this raw TCP port (or move it there)')
    .option('--no-console-port', 'close the raw TCP console port')
    .option('--vnc <host:port>', 'graphical console: set the VNC server (port 5900 if left out)')
    .option('--vnc-password-file <file>', "set the VNC password from a file, or '-' for stdin")
    .option('--no-vnc-password', 'the VNC server needs no password')
    .option('--no-vnc', 'remove the graphical console')
    .option('--watch <name=regex>', "the node's own watch patterns, repeatable: they replace the node's current ones", collect)
    .option('--no-watch', "remove the node's own watch patterns")
    .action(async (name: string, o, cmd: Command) => {
      const { api, opts } = client(cmd);
      const patch: Record<string, unknown> = {};
      if (o.driver) patch.driver = o.driver;
      if (o.param || o.unsetParam) patch.params = { ...(await paramsFrom(o.param)), ...Object.fromEntries((o.unsetParam ?? []).map((k: string) => [k, null])) };
      if (o.label || o.unsetLabel) {
        patch.labels = {
          ...Object.fromEntries((o.label ?? []).map((l: string) => parseKeyValue(l, '--label'))),
          ...Object.fromEntries((o.unsetLabel ?? []).map((k: string) => [k, null])),
        };
      }
      if (o.power === false) patch.power = null;
      else if (o.power || o.powerParam || o.unsetPowerParam) {
        patch.power = {
          ...(o.power ? { driver: o.power } : {}),
          ...(o.powerParam || o.unsetPowerParam
            ? { params: { ...(await paramsFrom(o.powerParam, readStdin, '--power-param')), ...Object.fromEntries((o.unsetPowerParam ?? []).map((k: string) => [k, null])) } }
            : {}),
        };
      }
      if (o.ondemand !== undefined) patch.ondemand = o.ondemand;
      if (o.enable) patch.consoleEnabled = true;
      if (o.disable) patch.consoleEnabled = false;
      const consolePort = consolePortOption(o.consolePort);
      if (consolePort !== undefined) patch.consolePort = consolePort;
      if (o.vnc === false) patch.vnc = null;
      else if (typeof o.vnc === 'string' || o.vncPasswordFile || o.vncPassword === false) {
        patch.vnc = {
          ...(typeof o.vnc === 'string' ? vncOption(o.vnc) : {}),
          ...(o.vncPasswordFile ? { password: await readSecretFile(o.vncPasswordFile, '--vnc-password-file') } : {}),
          ...(o.vncPassword === false ? { password: null } : {}),
        };
      }
      if (o.watch === false) patch.watchPatterns = null;
      else if (o.watch) patch.watchPatterns = watchOption(o.watch);
      if (Object.keys(patch).length === 0) throw new CliError('USAGE', 'nothing to change: give at least one option (see --help)', 2);
      const updated = await api.request<NodeView>('PATCH', `/nodes/${encodeURIComponent(name)}`, patch, 'application/merge-patch+json');
      showNode(updated, opts.output);
    });

  node.command('delete').alias('rm')
    .description('delete nodes (their console logs are kept unless --purge-logs)')
    .argument('<names...>')
    .option('--purge-logs', 'also delete the console logs', false)
    .action(async (names: string[], o, cmd: Command) => {
      const { api, opts } = client(cmd);
      const res = await api.request<{ deleted: number; failed: number; results: BulkRow[] }>(
        'DELETE', `/bulk/nodes${o.purgeLogs ? '?purgeLogs=true' : ''}`, { names });
      reportBulk(res.results, opts.output);
      if (res.failed) process.exitCode = 1;
    });

  node.command('import')
    .description('create many nodes from a JSON or YAML file (a list, or {nodes: [...]}); "-" reads stdin')
    .argument('<file>')
    .action(async (file: string, _o, cmd: Command) => {
      const { api, opts } = client(cmd);
      const nodes = parseNodeFile(file === '-' ? await readStdin() : await readFile(file, 'utf8'), file);
      const res = await api.request<{ created: number; failed: number; results: BulkRow[] }>('POST', '/bulk/nodes', { nodes });
      reportBulk(res.results, opts.output);
      if (opts.output !== 'json') process.stdout.write(`${res.created} created, ${res.failed} failed\n`);
      if (res.failed) process.exitCode = 1;
    });

  return node;
}

interface BulkRow {
  index: number;
  name?: string;
  status: string;
  error?: string;
  message?: string;
}

function reportBulk(rows: BulkRow[], format: OutputFormat): void {
  if (format === 'json') return printJson(rows);
  for (const r of rows) {
    const who = r.name ?? `#${r.index}`;
    if (r.status === 'error') process.stderr.write(`${who}: ${r.error}: ${r.message}\n`);
    else process.stdout.write(`${who}: ${r.status}\n`);
  }
}

export function parseNodeFile(text: string, file: string): unknown[] {
  let doc: unknown;
  try {
    doc = YAML.parse(text); // YAML is a superset of JSON
  } catch (err) {
    throw new CliError('BAD_FILE', `${file}: ${(err as Error).message.split('\n')[0]}`);
  }
  const nodes = Array.isArray(doc) ? doc : (doc as { nodes?: unknown } | null)?.nodes;
  if (!Array.isArray(nodes)) throw new CliError('BAD_FILE', `${file}: expected a list of nodes or {nodes: [...]}`);
  return nodes;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
