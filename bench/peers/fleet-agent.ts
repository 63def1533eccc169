// `switchboard agent` as a benchmark peer: the real agent (bin/switchboard.js agent) in its own
// process, its log written to a file in its data dir (nothing for the bench to drain). It is ready
// once the daemon lists its hello with this pid: the agent says hello only after its consumer is up.
import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { start, stop, waitFor, type Started } from '../lib.js';
import { REPO, type Switchboard } from './switchboard.js';

export interface FleetAgentOptions {
  node: string;
  natsUrl: string;
  prefix: string;
  allowSigner: string;
  dataDir: string;
}

export class FleetAgentPeer {
  private proc?: Started;

  constructor(readonly opts: FleetAgentOptions) {}

  get pid(): number {
    if (!this.proc) throw new Error(`agent ${this.opts.node} is not running`);
    return this.proc.pid;
  }

  get running(): boolean {
    return this.proc !== undefined;
  }

  /** Starts the process; `ready` waits for its hello to reach the daemon. */
  launch(): void {
    const { node, natsUrl, prefix, allowSigner, dataDir } = this.opts;
    mkdirSync(dataDir, { recursive: true });
    const logFd = openSync(path.join(dataDir, 'agent.log'), 'a');
    try {
      this.proc = start(process.execPath, [
        // e.g. BENCH_AGENT_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile the agents, and
        // BENCH_AGENT_NODE_ARGS_FOR=n-000 for one of them only (100 profiling agents are another machine)
        ...(!process.env.BENCH_AGENT_NODE_ARGS_FOR || process.env.BENCH_AGENT_NODE_ARGS_FOR === node ? (process.env.BENCH_AGENT_NODE_ARGS ?? '').split(' ').filter(Boolean) : []),
        path.join(REPO, 'bin', 'switchboard.js'), 'agent', '--node', node, '--nats', natsUrl, '--prefix', prefix,
        '--allow-signer', allowSigner, '--data-dir', dataDir, '--log-level', process.env.BENCH_AGENT_LOG_LEVEL ?? 'info',
      ], { cwd: dataDir, stdio: ['ignore', logFd, logFd] });
    } finally {
      closeSync(logFd); // the child has its own copy
    }
  }

  /** Waits until the daemon has a hello from every one of `peers` with its current pid (one poll for all). */
  static async allReady(sb: Switchboard, peers: FleetAgentPeer[], timeoutMs = 120_000): Promise<void> {
    await waitFor(`${peers.length} agents' hellos`, timeoutMs, async () => {
      const { agents } = await sb.api<{ agents: { node: string; pid: number }[] }>('GET', '/fleet/agents');
      const heard = new Map(agents.map((a) => [a.node, a.pid]));
      return peers.every((p) => heard.get(p.opts.node) === p.pid);
    }, 200);
  }

  async stop(): Promise<void> {
    if (!this.proc) return;
    await stop(this.proc, 'SIGTERM', 10_000);
    this.proc = undefined;
  }
}
