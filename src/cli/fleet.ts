// The fleet verbs: `switchboard fleet signer|status|list|agents|errors`, `switchboard send FILE.json` and
// `switchboard run NODE -- CMD ARGS`.
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
}

const FINAL = new Set(['replied', 'failed', 'expired']);
/** Seconds per long poll; the daemon caps it at 60. */
const WAIT_SECONDS = 25;

const globals = (cmd: Command) => cmd.optsWithGlobals<GlobalOpts>();

function showMessages(messages: MessageView[], format: OutputFormat): void {
  if (format === 'json') return printJson(messages);
  printTable(['ID', 'NODE', 'METHOD', 'STATE', 'EXIT', 'UPDATED', 'ERROR'], messages.map((m) => [
    m.id, m.node, m.method, m.state, m.reply?.exitCode ?? '', `${age(m.updatedAt)} ago`, m.error ?? '',
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
    .action(async (file: string, _o, cmd: Command) => {
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
      const submitted = await new ApiClient(g).request<Submitted[]>('POST', '/fleet/messages', body);
      if (g.output === 'json') return printJson(submitted);
      for (const s of submitted) process.stdout.write(`${s.id}\n`);
    });
}

export function runCommand(): Command {
  return new Command('run')
    .description("run a command on a node's agent, print its stdout and stderr, exit with its exit code")
    .argument('<node>')
    .argument('<command...>', 'the command and its arguments (after --); no shell: use sh -c "..." for one')
    .addOption(new Option('--timeout <seconds>', 'methodTimeout: kill the command after this long').argParser(positiveInt))
    .action(async (node: string, argv: string[], o: { timeout?: number }, cmd: Command) => {
      if (!isValidNodeName(node)) throw new CliError('USAGE', `'${String(node).slice(0, 80)}' is not a node name`, 2);
      const api = new ApiClient(globals(cmd));
      const message = { toNode: node, method: 'cliCommand', methodArgs: argv, replyMethod: 'console', ...(o.timeout && { methodTimeout: o.timeout }) };
      const [{ id }] = await api.request<Submitted[]>('POST', '/fleet/messages', [message]);
      let m: MessageView;
      do m = await api.request<MessageView>('GET', `/fleet/messages/${id}?wait=${WAIT_SECONDS}`);
      while (!FINAL.has(m.state));
      if (m.reply?.stdout) process.stdout.write(m.reply.stdout);
      if (m.reply?.stderr) process.stderr.write(m.reply.stderr);
      if (m.reply?.truncated) process.stderr.write('switchboard: the output was cut at the agent\'s limit\n');
      if (m.state === 'replied' && typeof m.reply?.exitCode === 'number') {
        process.exitCode = m.reply.exitCode;
        return;
      }
      if (m.state === 'replied' && m.reply?.signal) throw new CliError('SIGNALLED', `${node}: the command was killed by ${m.reply.signal} (message ${id})`);
      throw new CliError(m.reply?.errorCode ?? m.state.toUpperCase(), `${node}: ${m.reply?.error ?? m.error ?? m.state} (message ${id})`);
    });
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
