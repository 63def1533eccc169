// The fleet verbs: `switchboard fleet signer|status|list|agents|errors`, `switchboard send FILE.json` and
// `switchboard run NODE[,NODE...] -- CMD ARGS`.
import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import type { FleetErrorEntry } from '../fleet/error-log.js';
import type { KnownAgent } from '../fleet/known-agents.js';
import { isValidNodeName } from '../model/node.js';
import { ApiClient, CliError } from './client.js';
import { age, printJson, printTable, type OutputFormat } from './output.js';

interface GlobalOpts {
  url?: string;
  token?: string;
  ca?: string;
  output: OutputFormat;
}

interface Submitted {
  id: string;
  node: string;
  index: number;
}

interface MessageView {
  id: string;
  node: string;
  method: string;
  index: number;
  state: string;
  submittedAt: string;
  updatedAt: string;
  reply: { stdout?: string; stderr?: string; exitCode?: number | null; signal?: string | null; errorCode?: string; error?: string; truncated?: boolean } | null;
  error: string | null;
  replyMethod: string;
  held?: boolean;
}

const FINAL = new Set(['replied', 'failed', 'expired']);
/** Seconds per long poll; the daemon caps it at 60. */
const WAIT_SECONDS = 25;

const globals = (cmd: Command) => cmd.optsWithGlobals<GlobalOpts>();

function showMessages(messages: MessageView[], format: OutputFormat): void {
  if (format === 'json') return printJson(messages);
  printTable(['ID', 'NODE', 'METHOD', 'STATE', 'EXIT', 'UPDATED', 'ERROR'], messages.map((m) => [
    m.id, m.node, m.method, m.held && m.state === 'queued' ? 'queued (held)' : m.state, m.reply?.exitCode ?? '', `${age(m.updatedAt)} ago`, m.error ?? '',
  ]));
}

export function fleetCommand(): Command {
  const fleet = new Command('fleet').description('fleet messaging: signing key, message state, agents, their errors');

  fleet.command('signer')
    .description("print the daemon's signing public key (what `switchboard agent --allow-signer` takes)")
    .action(async (_o, cmd: Command) => {
      const { publicKey } = await new ApiClient(globals(cmd)).request<{ publicKey: string }>('GET', '/fleet/signer');
      process.stdout.write(`${publicKey}\n`);
    });

  fleet.command('status')
    .description("a message's state and reply")
    .argument('<id>')
    .action(async (id: string, _o, cmd: Command) => {
      const g = globals(cmd);
      const m = await new ApiClient(g).request<MessageView>('GET', `/fleet/messages/${encodeURIComponent(id)}`);
      if (g.output === 'json') return printJson(m);
      showMessages([m], 'table');
      if (m.reply?.stdout) process.stdout.write(`--- stdout\n${m.reply.stdout}`);
      if (m.reply?.stderr) process.stdout.write(`--- stderr\n${m.reply.stderr}`);
    });

  fleet.command('list')
    .description('messages, newest first')
    .option('--node <name>', 'only this node')
    .option('--state <state>', 'queued|delivered|running|replied|failed|expired')
    .option('--limit <n>', 'at most this many', '100')
    .action(async (o: { node?: string; state?: string; limit: string }, cmd: Command) => {
      const g = globals(cmd);
      const q = new URLSearchParams({ limit: o.limit, ...(o.node && { node: o.node }), ...(o.state && { state: o.state }) });
      const { messages } = await new ApiClient(g).request<{ messages: MessageView[] }>('GET', `/fleet/messages?${q}`);
      showMessages(messages, g.output);
    });

  fleet.command('agents')
    .description('the agents the daemon has heard, and when it last did')
    .action(async (_o, cmd: Command) => {
      const g = globals(cmd);
      const { agents } = await new ApiClient(g).request<{ agents: KnownAgent[] }>('GET', '/fleet/agents');
      if (g.output === 'json') return printJson(agents);
      printTable(['NODE', 'LAST SEEN', 'VERSION', 'HOST', 'PID'], agents.map((a) => [a.node, `${age(a.lastSeen)} ago`, a.version, a.host, a.pid]));
    });

  fleet.command('errors')
    .description("the agents' central error log, newest first")
    .option('--node <name>', 'only this node')
    .option('--limit <n>', 'at most this many', '100')
    .action(async (o: { node?: string; limit: string }, cmd: Command) => {
      const g = globals(cmd);
      const q = new URLSearchParams({ limit: o.limit, ...(o.node && { node: o.node }) });
      const { errors } = await new ApiClient(g).request<{ errors: FleetErrorEntry[] }>('GET', `/fleet/errors?${q}`);
      if (g.output === 'json') return printJson(errors);
      printTable(['AT', 'NODE', 'CODE', 'MESSAGE ID', 'ERROR'], errors.map((e) => [
        `${age(e.at)} ago`, e.node, e.code, e.id ?? '', `${e.message}${e.dropped ? ` (+${e.dropped} dropped before)` : ''}`,
      ]));
    });
  return fleet;
}

export function sendCommand(): Command {
  return new Command('send')
    .description("submit a message file (a JSON array, as steward's and ctrl's) and print the message ids")
    .argument('<file>', 'JSON message file; - reads stdin')
    .option('-f, --follow', 'then wait for every message: print console replies as they come (the ids go to stderr), exit as `run` does')
    .action(async (file: string, o: { follow?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      const text = file === '-' ? await readStdin() : await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
        throw new CliError('USAGE', `cannot read ${file}: ${err.code ?? err.message}`, 2);
      });
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (err) {
        throw new CliError('BAD_JSON', `${file}: not valid JSON: ${(err as Error).message}`);
      }
      const api = new ApiClient(g);
      const submitted = await api.request<Submitted[]>('POST', '/fleet/messages', body);
      if (o.follow) {
        for (const s of submitted) process.stderr.write(`switchboard: message ${s.id} (index ${s.index}) for ${s.node}\n`);
        return followAll(api, submitted);
      }
      if (g.output === 'json') return printJson(submitted);
      for (const s of submitted) process.stdout.write(`${s.id}\n`);
    });
}

export function runCommand(): Command {
  return new Command('run')
    .description("run a command on nodes' agents, stream its stdout and stderr as it runs, exit with its exit code (with several nodes: the largest)")
    .argument('<nodes>', 'a node, or several separated by commas')
    .argument('<command...>', 'the command and its arguments (after --); no shell: use sh -c "..." for one')
    .addOption(new Option('--timeout <seconds>', 'methodTimeout: kill the command after this long').argParser(positiveInt))
    .option('--concurrent', "don't wait for the node's earlier commands: nCliCommandCont instead of cliCommandCont")
    .action(async (nodeList: string, argv: string[], o: { timeout?: number; concurrent?: boolean }, cmd: Command) => {
      const nodes = [...new Set(nodeList.split(',').filter(Boolean))];
      const bad = nodes.find((n) => !isValidNodeName(n));
      if (nodes.length === 0 || bad !== undefined) throw new CliError('USAGE', `'${String(bad ?? nodeList).slice(0, 80)}' is not a node name`, 2);
      const api = new ApiClient(globals(cmd));
      const message = {
        toNodes: nodes, method: o.concurrent ? 'nCliCommandCont' : 'cliCommandCont', methodArgs: argv, replyMethod: 'console',
        ...(o.timeout && { methodTimeout: o.timeout }),
      };
      const submitted = await api.request<Submitted[]>('POST', '/fleet/messages', [message]);
      await followAll(api, submitted);
    });
}

/**
 * Follows every message to its end, prints the output of those replying to the console (each line
 * prefixed with its node when there are several), and sets the exit code: the remote one for one
 * message (its failure thrown as it is), else the largest, at least 1 if any failed.
 */
async function followAll(api: ApiClient, submitted: Submitted[]): Promise<void> {
  const outcomes = await Promise.all(submitted.map((s) => follow(api, s, submitted.length > 1 ? `${s.node}: ` : '')));
  const failures = outcomes.filter((x): x is CliError => x instanceof CliError);
  if (submitted.length === 1 && failures.length === 1) throw failures[0];
  for (const f of failures) process.stderr.write(`switchboard: ${f.code}: ${f.message}\n`);
  const codes = outcomes.filter((x): x is number => typeof x === 'number');
  process.exitCode = Math.max(0, ...codes, failures.length > 0 ? 1 : 0);
}

/**
 * Prints a console reply's streamed parts as they come (a file reply's go to its file, not here);
 * resolves to the remote exit code (0 for a method without one), or the failure.
 */
async function follow(api: ApiClient, s: Submitted, prefix: string): Promise<number | CliError> {
  const out = { stdout: new LinePrefixer(prefix, process.stdout), stderr: new LinePrefixer(prefix, process.stderr) };
  let after = 0;
  let m: MessageView;
  for (;;) {
    const r = await api.request<{ message: MessageView; parts: OutputPart[] }>('GET', `/fleet/messages/${s.id}/output?after=${after}&wait=${WAIT_SECONDS}`);
    if (r.message.replyMethod !== 'console') out.stdout = out.stderr = new LinePrefixer(prefix, null);
    for (const p of r.parts) out[p.stream].write(p.text);
    after = r.parts.at(-1)?.part ?? after;
    m = r.message;
    if (FINAL.has(m.state) && r.parts.length === 0) break;
  }
  // An agent that does not stream puts the whole output in its final reply.
  if (m.reply?.stdout) out.stdout.write(m.reply.stdout);
  if (m.reply?.stderr) out.stderr.write(m.reply.stderr);
  out.stdout.end();
  out.stderr.end();
  if (m.reply?.truncated) process.stderr.write(`switchboard: ${s.node}: the output was cut at the agent's limit\n`);
  if (m.state === 'replied' && typeof m.reply?.exitCode === 'number') return m.reply.exitCode;
  if (m.state === 'replied' && m.reply?.signal) return new CliError('SIGNALLED', `${s.node}: the command was killed by ${m.reply.signal} (message ${s.id})`);
  if (m.state === 'replied') return 0; // hello, op, a tail that ran its time: no exit code, no failure
  return new CliError(m.reply?.errorCode ?? m.state.toUpperCase(), `${s.node}: ${m.reply?.error ?? m.error ?? m.state} (message ${s.id})`);
}

interface OutputPart {
  part: number;
  stream: 'stdout' | 'stderr';
  text: string;
}

/** Puts `prefix` before every line; a line is held until its newline (or the end) so nodes' lines never mix. */
class LinePrefixer {
  private partial = '';

  /** `to` null: swallows everything (a reply that goes elsewhere). */
  constructor(private readonly prefix: string, private readonly to: NodeJS.WritableStream | null) {}

  write(text: string): void {
    if (!this.to) return;
    if (!this.prefix) return void this.to.write(text);
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop()!;
    if (lines.length > 0) this.to.write(lines.map((l) => `${this.prefix}${l}\n`).join(''));
  }

  end(): void {
    if (this.partial) this.to?.write(`${this.prefix}${this.partial}\n`);
    this.partial = '';
  }
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new CliError('USAGE', `'${value}' is not a whole number of seconds`, 2);
  return n;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
