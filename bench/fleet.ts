// The fleet over a real nats-server with JetStream: messages per second with ack and reply at 1,
// 10 and 100 agents (each a `switchboard agent` process), submit→reply latency on an idle fleet,
// and how long an agent that was offline takes to work off its queue.
//   npm run bench:fleet
//     BENCH_FLEET_NATS (nats://127.0.0.1:4222)   BENCH_FLEET_AGENTS (1,10,100)
//     BENCH_FLEET_PER_AGENT (50) BENCH_FLEET_MIN (500): messages per step, max(MIN, agents × PER_AGENT)
//     BENCH_FLEET_SUSTAINED (500): then `hello, sustained` at the largest fleet, agents × SUSTAINED messages (0: none)
//     BENCH_FLEET_BATCH (1000 messages per POST)  BENCH_FLEET_SAMPLES (200)  BENCH_FLEET_DRAIN (10000)
//     BENCH_FLEET_TMPFS=1: data dirs on /dev/shm (no fsync cost) instead of the disk under os.tmpdir()
//     BENCH_FLEET_QUIET_PCT (10): latency is sampled once the machine is at most this busy (an idle fleet)
//     BENCH_FLEET_METHODS (cliCommand,hello): the throughput steps, each method in turn
//     BENCH_FLEET_KEEP=1: the data dirs are kept (the daemon's fleet/audit.jsonl times every message's steps)
// Messages are cliCommand `true` with replyMethod console (the agent forks a process for each), and
// for throughput also `hello` (no process: the messaging path alone). Data dirs are on disk by default, so
// the agents' fsync of the seen-ids file and the daemon's SQLite writes cost what they would.
// Prints markdown tables on stdout; progress on stderr. Uses a fleet prefix of its own and deletes
// its two streams at the end.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect } from 'nats';
import {
  allProcs, CLK_TCK, cleanupAll, fmt, log, machineBusyPct, markdownTable, percentile, readStat, removeDir, runDeltaMs, runNsByPid,
} from './lib.js';
import { FleetAgentPeer } from './peers/fleet-agent.js';
import { Switchboard } from './peers/switchboard.js';

const NATS = process.env.BENCH_FLEET_NATS ?? 'nats://127.0.0.1:4222';
const AGENT_STEPS = (process.env.BENCH_FLEET_AGENTS ?? '1,10,100').split(',').map(Number);
const PER_AGENT = Number(process.env.BENCH_FLEET_PER_AGENT ?? 50);
const MIN_MESSAGES = Number(process.env.BENCH_FLEET_MIN ?? 500);
const BATCH = Number(process.env.BENCH_FLEET_BATCH ?? 1000);
const SUSTAINED = Number(process.env.BENCH_FLEET_SUSTAINED ?? 500);
const SAMPLES = Number(process.env.BENCH_FLEET_SAMPLES ?? 200);
const DRAIN = Number(process.env.BENCH_FLEET_DRAIN ?? 10_000);
const TMPFS = process.env.BENCH_FLEET_TMPFS === '1';
const METHODS = (process.env.BENCH_FLEET_METHODS ?? 'cliCommand,hello').split(',');
const STEP_TIMEOUT_MS = Number(process.env.BENCH_FLEET_STEP_TIMEOUT_S ?? 900) * 1000;

const PREFIX = `bench${randomBytes(3).toString('hex')}`;
const nodeName = (i: number) => `n-${String(i).padStart(3, '0')}`;

interface Submitted {
  id: string;
  node: string;
}

interface MessageView {
  id: string;
  state: string;
  error: string | null;
}

const FINAL = new Set(['replied', 'failed', 'expired']);

function command(node: string, method = 'cliCommand') {
  return method === 'cliCommand'
    ? { toNode: node, method, methodArgs: ['true'], replyMethod: 'console' }
    : { toNode: node, method, replyMethod: 'console' };
}

/** Posts `nodes[i]`'s messages in batches of BATCH, in order; returns the ids in submission order. */
async function submitAll(sb: Switchboard, nodes: string[], method = 'cliCommand'): Promise<Submitted[]> {
  const out: Submitted[] = [];
  for (let i = 0; i < nodes.length; i += BATCH) {
    const batch = nodes.slice(i, i + BATCH).map((node) => command(node, method));
    out.push(...(await sb.api<Submitted[]>('POST', '/fleet/messages', batch)));
  }
  return out;
}

/**
 * Waits for every node's last message to be final: an agent takes its messages one at a time and
 * in order (max_ack_pending 1), so its last one final means all of its are.
 */
async function waitAllFinal(sb: Switchboard, submitted: Submitted[], timeoutMs: number): Promise<void> {
  const last = new Map<string, string>();
  for (const s of submitted) last.set(s.node, s.id);
  const deadline = Date.now() + timeoutMs;
  let done = 0;
  const progress = setInterval(() => log(`  ${done}/${last.size} nodes done`), 10_000);
  try {
    await Promise.all([...last.values()].map(async (id) => {
      for (;;) {
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for message ${id}`);
        const m = await sb.api<MessageView>('GET', `/fleet/messages/${id}?wait=60`, undefined, 90_000);
        if (FINAL.has(m.state)) break;
      }
      done++;
    }));
  } finally {
    clearInterval(progress);
  }
}

/** Final states of `ids`: how many replied, and the first few other outcomes. */
async function outcomes(sb: Switchboard, ids: string[]): Promise<{ replied: number; other: string[] }> {
  let replied = 0;
  const other: string[] = [];
  for (let i = 0; i < ids.length; i += 50) {
    const views = await Promise.all(ids.slice(i, i + 50).map((id) => sb.api<MessageView>('GET', `/fleet/messages/${id}`)));
    for (const v of views) {
      if (v.state === 'replied') replied++;
      else if (other.length < 5) other.push(`${v.id}: ${v.state} ${v.error ?? ''}`);
    }
  }
  return { replied, other };
}

/** CPU of the processes taking part, from schedstat (every thread), and of the agents' reaped children. */
class CpuWindow {
  private readonly run: Map<number, number>;
  private readonly kids: number;
  private readonly machine: { busy: number; total: number };

  constructor(private readonly groups: { daemon: number[]; agents: number[]; nats: number[]; bench: number[] }) {
    this.run = runNsByPid(Object.values(groups).flat());
    this.kids = childrenMs(groups.agents);
    this.machine = machineTicks();
  }

  /** ms of CPU per group over the window, plus `true` (the agents' children) and the machine's busy %. */
  end(): Record<'daemon' | 'agents' | 'nats' | 'bench' | 'children', number> & { busyPct: number } {
    const after = runNsByPid(Object.values(this.groups).flat());
    const only = (pids: number[]) => new Map([...after].filter(([pid]) => pids.includes(pid)));
    const m = machineTicks();
    const total = m.total - this.machine.total;
    return {
      daemon: runDeltaMs(this.run, only(this.groups.daemon)),
      agents: runDeltaMs(this.run, only(this.groups.agents)),
      nats: runDeltaMs(this.run, only(this.groups.nats)),
      bench: runDeltaMs(this.run, only(this.groups.bench)),
      children: childrenMs(this.groups.agents) - this.kids,
      busyPct: total > 0 ? (100 * (m.busy - this.machine.busy)) / total : 0,
    };
  }
}

/** utime and stime of processes (all their threads), in ms: how much of their CPU the kernel spent for them. */
function userSysMs(pids: number[]): [number, number] {
  const stats = pids.flatMap((pid) => readStat(pid) ?? []);
  const ms = (ticks: number) => (ticks * 1000) / CLK_TCK;
  return [ms(stats.reduce((n, s) => n + s.userTicks, 0)), ms(stats.reduce((n, s) => n + s.sysTicks, 0))];
}

/** cutime + cstime: CPU of children a process has reaped (the `true` commands), in ms. */
function childrenMs(pids: number[]): number {
  return (pids.reduce((n, pid) => n + (readStat(pid)?.childTicks ?? 0), 0) * 1000) / CLK_TCK;
}

function machineTicks(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3] - (f[4] ?? 0), total };
}

/** Envelopes (JetStream messages) stored so far on the command stream: the agents' deliveries, less redeliveries. */
async function envelopesStored(): Promise<number> {
  const nc = await connect({ servers: NATS });
  try {
    return (await (await nc.jetstreamManager()).streams.info(`fleet-${PREFIX}-cmd`)).state.last_seq;
  } finally {
    await nc.close();
  }
}

function dataRoot(): string {
  const base = TMPFS ? '/dev/shm' : os.tmpdir();
  return mkdtempSync(path.join(base, 'sbbench-fleet-'));
}

/** The machine's busy share at most for an idle fleet (BENCH_FLEET_QUIET_PCT), waited for up to a minute. */
const QUIET_PCT = Number(process.env.BENCH_FLEET_QUIET_PCT ?? 10);

async function quiet(maxMs = 60_000): Promise<number> {
  const t0 = performance.now();
  let busy = await machineBusyPct(1000);
  while (busy > QUIET_PCT && performance.now() - t0 < maxMs) busy = await machineBusyPct(1000);
  log(`machine ${fmt(busy, 0)} % busy after ${fmt((performance.now() - t0) / 1000, 0)} s`);
  return busy;
}

async function latency(sb: Switchboard, node: string, n: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const [s] = await sb.api<Submitted[]>('POST', '/fleet/messages', [command(node)]);
    const m = await sb.api<MessageView>('GET', `/fleet/messages/${s.id}?wait=30`);
    const t = performance.now() - t0;
    if (m.state !== 'replied') throw new Error(`latency sample ${i}: message ${s.id} ended ${m.state} ${m.error ?? ''}`);
    ms.push(t);
  }
  return ms.sort((a, b) => a - b);
}

function latencyRow(what: string, xs: number[]): string[] {
  return [what, String(xs.length), fmt(percentile(xs, 50)), fmt(percentile(xs, 90)), fmt(percentile(xs, 99)), fmt(xs[xs.length - 1])];
}

async function main(): Promise<void> {
  const root = dataRoot();
  const sb = new Switchboard({ dataDir: path.join(root, 'daemon'), args: ['--nats', NATS, '--fleet-prefix', PREFIX] });
  const agents: FleetAgentPeer[] = [];
  const natsPids = [...allProcs().values()].filter((p) => p.comm === 'nats-server').map((p) => p.pid);
  log(`data under ${root}${TMPFS ? ' (tmpfs)' : ' (disk)'}; fleet prefix ${PREFIX}; nats-server pid(s) ${natsPids.join(',') || 'not on this machine'}`);
  try {
    await sb.start();
    const { publicKey } = await sb.api<{ publicKey: string }>('GET', '/fleet/signer');
    const peer = (node: string) => new FleetAgentPeer({ node, natsUrl: NATS, prefix: PREFIX, allowSigner: publicKey, dataDir: path.join(root, 'agents', node) });

    const growTo = async (n: number) => {
      const t0 = performance.now();
      const fresh: FleetAgentPeer[] = [];
      for (let i = agents.length; i < n; i++) {
        const a = peer(nodeName(i));
        a.launch();
        agents.push(a);
        fresh.push(a);
        // A few at a time: 100 node processes booting at once on two cores starve the ones already up.
        if (fresh.length % 10 === 0) await FleetAgentPeer.allReady(sb, fresh);
      }
      await FleetAgentPeer.allReady(sb, fresh);
      log(`${n} agents up (${fresh.length} started in ${fmt(performance.now() - t0, 0)} ms)`);
    };

    const latencyRows: string[][] = [];
    const throughputRows: string[][] = [];
    const notes: string[] = [];
    const groups = () => ({ daemon: [sb.pid], agents: agents.map((a) => a.pid), nats: natsPids, bench: [process.pid] });

    for (const n of AGENT_STEPS) {
      await growTo(n);
      // An idle fleet: agents just started spend their first seconds in start-up work and V8's
      // memory-reducing collections (an agent: ~60 ms of CPU in its first 20 s, ~0 after), which
      // 90 of them at once make a busy machine. Measured once the machine is quiet.
      const busy = await quiet();
      if (n === AGENT_STEPS[0] || n === AGENT_STEPS[AGENT_STEPS.length - 1]) {
        await latency(sb, agents[0].opts.node, 10); // warm-up
        const xs = await latency(sb, agents[0].opts.node, SAMPLES);
        latencyRows.push(latencyRow(`${n} agent${n === 1 ? '' : 's'} up, idle (machine ${fmt(busy, 0)} % busy before); one message at a time to ${agents[0].opts.node}`, xs));
        log(`latency at ${n} agents: p50 ${fmt(percentile(xs, 50))} ms, p99 ${fmt(percentile(xs, 99))} ms`);
      }

      // The sustained step: hello only, at the largest fleet, long enough that the start of a run
      // (agents' code not optimised yet, the first envelope of each lane on its own) weighs little.
      const steps = METHODS.map((method) => ({ method, perAgent: PER_AGENT }));
      if (n === AGENT_STEPS[AGENT_STEPS.length - 1] && SUSTAINED > 0) steps.push({ method: 'hello', perAgent: SUSTAINED });
      for (const { method, perAgent } of steps) {
        const total = Math.max(MIN_MESSAGES, n * perAgent);
        const targets = Array.from({ length: total }, (_, i) => agents[i % n].opts.node);
        log(`throughput: ${total} ${method} messages to ${n} agents in POSTs of ${BATCH}`);
        const stored = await envelopesStored();
        const cpu = new CpuWindow(groups());
        const [agents0, daemon0] = [userSysMs(agents.map((a) => a.pid)), userSysMs([sb.pid])];
        const t0 = performance.now();
        const submitted = await submitAll(sb, targets, method);
        const submitMs = performance.now() - t0;
        await waitAllFinal(sb, submitted, STEP_TIMEOUT_MS);
        const allMs = performance.now() - t0;
        const c = cpu.end();
        const [agents1, daemon1] = [userSysMs(agents.map((a) => a.pid)), userSysMs([sb.pid])];
        log(`  CPU user / kernel: agents ${agents1[0] - agents0[0]} / ${agents1[1] - agents0[1]} ms, daemon ${daemon1[0] - daemon0[0]} / ${daemon1[1] - daemon0[1]} ms`);
        const envelopes = (await envelopesStored()) - stored;
        const { replied, other } = await outcomes(sb, submitted.map((s) => s.id));
        if (other.length) notes.push(`${n} agents, ${method}: ${total - replied} not replied, e.g. ${other.join('; ')}`);
        const per = (x: number) => fmt(x / total, 2);
        throughputRows.push([
          `${method}${perAgent === PER_AGENT ? '' : ', sustained'}`, `${n}`, `${total}`, `${replied}`, `${envelopes}`, fmt(submitMs, 0), fmt(allMs, 0), fmt((1000 * replied) / allMs, 0),
          `${per(c.daemon)} / ${per(c.agents)} / ${per(c.children)} / ${per(c.nats)} / ${per(c.bench)}`, fmt(c.busyPct, 0),
        ]);
        log(`  ${replied}/${total} replied in ${fmt(allMs, 0)} ms (submit ${fmt(submitMs, 0)} ms): ${fmt((1000 * replied) / allMs, 0)} msgs/s, machine ${fmt(c.busyPct, 0)} % busy`);
      }
    }

    // Drain: the fleet stopped, one agent that has run once (its consumer exists) goes offline,
    // its queue fills, then it comes back.
    log(`stopping ${agents.length} agents`);
    await Promise.all(agents.map((a) => a.stop()));
    const drainer = peer('drain-0');
    agents.push(drainer); // stopped with the rest if the bench fails
    drainer.launch();
    await FleetAgentPeer.allReady(sb, [drainer]);
    await drainer.stop();
    log(`drain: ${DRAIN} messages for drain-0 while it is offline`);
    let t0 = performance.now();
    const queued = await submitAll(sb, Array.from({ length: DRAIN }, () => 'drain-0'));
    const drainSubmitMs = performance.now() - t0;
    log(`  submitted in ${fmt(drainSubmitMs, 0)} ms; starting drain-0`);
    t0 = performance.now();
    drainer.launch();
    const cpu = new CpuWindow({ daemon: [sb.pid], agents: [drainer.pid], nats: natsPids, bench: [process.pid] });
    await FleetAgentPeer.allReady(sb, [drainer]);
    const readyMs = performance.now() - t0;
    await waitAllFinal(sb, queued, STEP_TIMEOUT_MS);
    const drainMs = performance.now() - t0;
    const c = cpu.end();
    const drained = await outcomes(sb, queued.map((s) => s.id));
    if (drained.other.length) notes.push(`drain: ${DRAIN - drained.replied} not replied, e.g. ${drained.other.join('; ')}`);
    log(`  drained in ${fmt(drainMs, 0)} ms (${fmt((1000 * drained.replied) / drainMs, 0)} msgs/s)`);
    await drainer.stop();

    process.stdout.write(`## Fleet over NATS JetStream (${new Date().toISOString()}, ${os.cpus().length} cores, data on ${TMPFS ? 'tmpfs' : 'disk'})\n\n`);
    process.stdout.write('Throughput: cliCommand `true` (the agent forks a process for each) and `hello` (no process: ' +
      `the messaging path alone), replyMethod console, submitted in POSTs of ${BATCH}, timed from the first POST until every message replied. ` +
      'Envelopes: JetStream messages the daemon stored for the agents (a lane with an envelope out gathers later submissions into one). ' +
      `\`hello, sustained\`: ${SUSTAINED} per agent, where the other steps give each agent ${PER_AGENT} (at least ${MIN_MESSAGES} in all).\n\n`);
    process.stdout.write(`${markdownTable(
      ['method', 'agents (processes)', 'messages', 'replied', 'envelopes', 'submit ms', 'first POST → all replied ms', 'msgs/s', 'CPU ms per message: daemon / agents / commands / nats-server / bench', 'machine busy %'],
      throughputRows,
    )}\n\n`);
    process.stdout.write(`Latency: POST one message, then GET ?wait=30 until replied (two HTTP round trips included), ms.\n\n`);
    process.stdout.write(`${markdownTable(['fleet', 'samples', 'p50', 'p90', 'p99', 'max'], latencyRows)}\n\n`);
    process.stdout.write(`Drain: ${DRAIN} messages queued for drain-0 while its agent was down, then the agent started.\n\n`);
    const per = (x: number) => fmt(x / DRAIN, 2);
    process.stdout.write(`${markdownTable(['measure', 'value'], [
      [`submit ${DRAIN} (POSTs of ${BATCH}) while offline`, `${fmt(drainSubmitMs, 0)} ms`],
      ['agent start → its hello at the daemon', `${fmt(readyMs, 0)} ms`],
      [`agent start → all ${DRAIN} final`, `${fmt(drainMs, 0)} ms (${drained.replied} replied)`],
      ['drain rate', `${fmt((1000 * drained.replied) / drainMs, 0)} msgs/s`],
      ['CPU ms per message: daemon / agent / `true` / nats-server', `${per(c.daemon)} / ${per(c.agents)} / ${per(c.children)} / ${per(c.nats)}`],
      ['machine busy', `${fmt(c.busyPct, 0)} %`],
    ])}\n`);
    for (const note of notes) process.stdout.write(`\n- ${note}`);
    if (notes.length) process.stdout.write('\n');
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    await sb.stop().catch(() => undefined);
    await cleanupAll();
    const nc = await connect({ servers: NATS });
    const jsm = await nc.jetstreamManager();
    for (const stream of [`fleet-${PREFIX}-cmd`, `fleet-${PREFIX}-reply`]) await jsm.streams.delete(stream).catch(() => false);
    await nc.close();
    log(`deleted streams fleet-${PREFIX}-cmd/-reply`);
    if (process.env.BENCH_FLEET_KEEP !== '1') removeDir(root);
  }
}

process.on('SIGINT', () => {
  void cleanupAll().then(() => process.exit(130));
});

main().catch(async (err) => {
  log(`failed: ${(err as Error).stack ?? err}`);
  await cleanupAll();
  process.exit(1);
});
