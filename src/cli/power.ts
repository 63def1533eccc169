// `switchboard power ACTION NODE...` and `switchboard boot-device NODE DEVICE`: one request per
// node, a bounded number at once, a progress bar while many run, and a table of what each did.
import { Argument, Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import pLimit from 'p-limit';
import type { NodeView } from '../nodes/service.js';
import { BOOT_DEVICES, POWER_ACTIONS } from '../power/types.js';
import { ApiClient, CliError } from './client.js';
import { printJson, printTable, type OutputFormat } from './output.js';

interface GlobalOpts {
  url?: string;
  token?: string;
  ca?: string;
  output: OutputFormat;
}

export interface PowerResult {
  node: string;
  ok: boolean;
  /** status: on | off; actions: what was asked. */
  result?: string;
  error?: string;
  message?: string;
}

/** Show a progress bar from this many nodes, when stderr is a terminal. */
const PROGRESS_FROM = 5;

async function targets(api: ApiClient, names: string[], labels: string[] = []): Promise<string[]> {
  if (!labels.length) {
    if (!names.length) throw new CliError('USAGE', 'name at least one node, or select nodes with --label', 2);
    return names;
  }
  const q = new URLSearchParams(labels.map((l) => ['label', l]));
  const { nodes } = await api.request<{ nodes: NodeView[] }>('GET', `/nodes?${q}`);
  const all = [...new Set([...names, ...nodes.filter((n) => n.power).map((n) => n.name)])];
  if (!all.length) throw new CliError('NO_NODES', `no node with power control matches ${labels.join(' ')}`);
  return all;
}

/** Run `op` for every node, `concurrency` at a time, with a progress bar on a terminal. */
async function forEachNode(nodes: string[], concurrency: number, op: (node: string) => Promise<string>): Promise<PowerResult[]> {
  const bar = nodes.length >= PROGRESS_FROM && process.stderr.isTTY
    ? new cliProgress.SingleBar({ stream: process.stderr, format: '{bar} {value}/{total} nodes  {failed} failed', hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic)
    : undefined;
  let failed = 0;
  bar?.start(nodes.length, 0, { failed });
  const limit = pLimit(concurrency);
  try {
    return await Promise.all(nodes.map((node) => limit(async (): Promise<PowerResult> => {
      try {
        return { node, ok: true, result: await op(node) };
      } catch (err) {
        failed++;
        const e = err as CliError;
        if (e.code === 'UNREACHABLE' || e.code === 'UNAUTHORIZED') throw err; // the same for every node: say it once
        return { node, ok: false, error: e.code, message: e.message };
      } finally {
        bar?.increment(1, { failed });
      }
    })));
  } finally {
    bar?.stop();
  }
}

function report(results: PowerResult[], column: string, format: OutputFormat): void {
  if (format === 'json') return printJson(results);
  const anyFailed = results.some((r) => !r.ok);
  printTable(
    ['NODE', column, ...(anyFailed ? ['ERROR'] : [])],
    results.map((r) => [r.node, r.ok ? r.result! : 'failed', ...(anyFailed ? [r.ok ? '' : `${r.error}: ${r.message}`] : [])]),
  );
  if (results.length > 1) {
    const failed = results.filter((r) => !r.ok).length;
    process.stdout.write(`${results.length - failed} done, ${failed} failed\n`);
  }
}

const concurrencyOption = () => new Option('--concurrency <n>', 'requests in flight at once').default(16).argParser((v) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new CliError('USAGE', '--concurrency must be a positive integer', 2);
  return n;
});

export function powerCommand(): Command {
  return new Command('power')
    .description('power status or control of nodes: status, on, off (hard), cycle, reset, soft (ACPI shutdown)')
    .addArgument(new Argument('<action>', 'what to do').choices(['status', ...POWER_ACTIONS]))
    .argument('[nodes...]', 'node names')
    .option('--label <selector>', 'also every node with power control matching k=v or k; repeatable, all must match', (v: string, p: string[] = []) => [...p, v])
    .addOption(concurrencyOption())
    .action(async (action: string, names: string[], o, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOpts>();
      const api = new ApiClient(g);
      const nodes = await targets(api, names, o.label);
      const results = await forEachNode(nodes, o.concurrency, async (node) => {
        const path = `/nodes/${encodeURIComponent(node)}/power`;
        if (action === 'status') return (await api.request<{ power: string }>('GET', path)).power;
        await api.request('POST', path, { action });
        return action;
      });
      report(results, action === 'status' ? 'POWER' : 'DONE', g.output);
      if (results.some((r) => !r.ok)) process.exitCode = 1;
    });
}

export function bootDeviceCommand(): Command {
  return new Command('boot-device')
    .description('choose what nodes boot from (next boot only unless --persistent)')
    .argument('<node>', 'node name')
    .addArgument(new Argument('<device>', 'boot device').choices([...BOOT_DEVICES]))
    .argument('[more...]', 'more node names')
    .option('--persistent', 'every boot from now on, not just the next one', false)
    .option('--efi', 'boot the device in UEFI mode', false)
    .addOption(concurrencyOption())
    .action(async (node: string, device: string, more: string[], o, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOpts>();
      const api = new ApiClient(g);
      const what = `${device}${o.persistent ? ' (persistent)' : ' (next boot)'}${o.efi ? ' efi' : ''}`;
      const results = await forEachNode([node, ...more], o.concurrency, async (n) => {
        await api.request('PUT', `/nodes/${encodeURIComponent(n)}/boot-device`, { device, persistent: o.persistent, efi: o.efi });
        return what;
      });
      report(results, 'BOOT DEVICE', g.output);
      if (results.some((r) => !r.ok)) process.exitCode = 1;
    });
}
