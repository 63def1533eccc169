// Switchboard as a benchmark peer: the real daemon (bin/switchboard.js serve) in its own process,
// driven over its REST API and TCP attach port.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { start, stop, waitFor, withTimeout, type Started } from '../lib.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface SwitchboardOptions {
  dataDir: string;
  /** Rotate console logs at this size (bench default: never within a run). */
  logMaxBytes?: number;
  readyTimeoutMs?: number;
}

export interface NodeView {
  name: string;
  session?: { state: string; lastError: string | null; clients: number; info: { pid?: number } };
}

export class Switchboard {
  readonly token = randomBytes(24).toString('hex');
  http = '';
  consolePort = 0;
  private proc?: Started;
  private tail: string[] = [];

  constructor(private readonly opts: SwitchboardOptions) {}

  get pid(): number {
    if (!this.proc) throw new Error('switchboard is not running');
    return this.proc.pid;
  }

  async start(): Promise<void> {
    const args = [
      // e.g. BENCH_SB_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile the daemon
      ...(process.env.BENCH_SB_NODE_ARGS ?? '').split(' ').filter(Boolean),
      path.join(REPO, 'bin', 'switchboard.js'), 'serve',
      '--listen', '127.0.0.1:0', '--console-port', '0',
      '--data-dir', this.opts.dataDir, '--admin-token', this.token, '--log-level', 'info',
    ];
    const env = { ...process.env, SWITCHBOARD_LOG_MAX_BYTES: String(this.opts.logMaxBytes ?? 1024 ** 4) };
    const p = start(process.execPath, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = p;
    let ready: ((v: { http: string; consolePort: number }) => void) | undefined;
    const readyP = new Promise<{ http: string; consolePort: number }>((resolve) => (ready = resolve));
    let buf = '';
    // Keep draining stdout for the daemon's whole life: a full pipe would stall it.
    p.proc.stdout?.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        this.remember(line);
        if (ready && line.includes('"msg":"switchboard ready"')) {
          const j = JSON.parse(line) as { http: string; consolePort: number };
          ready({ http: j.http, consolePort: j.consolePort });
          ready = undefined;
        }
      }
    });
    p.proc.stderr?.on('data', (chunk: Buffer) => this.remember(chunk.toString('utf8').trimEnd()));
    const exitedEarly = p.exited.then(({ code, signal }) => {
      throw new Error(`switchboard exited before it was ready (code ${code}, signal ${signal}):\n${this.tail.join('\n')}`);
    });
    const r = await withTimeout(Promise.race([readyP, exitedEarly]), this.opts.readyTimeoutMs ?? 20_000, `switchboard ready line\n${this.tail.join('\n')}`);
    this.http = r.http;
    this.consolePort = r.consolePort;
  }

  private remember(line: string) {
    this.tail.push(line);
    if (this.tail.length > 30) this.tail.shift();
  }

  lastLines(): string {
    return this.tail.join('\n');
  }

  /** SIGTERM and wait; returns the exit code (null if it had to be killed). */
  async stop(graceMs = 30_000): Promise<{ code: number | null; killed: boolean; ms: number }> {
    if (!this.proc) return { code: 0, killed: false, ms: 0 };
    const t0 = Date.now();
    const r = await stop(this.proc, 'SIGTERM', graceMs);
    this.proc = undefined;
    return { code: r.code, killed: r.killed, ms: Date.now() - t0 };
  }

  async api<T>(method: string, p: string, body?: unknown, timeoutMs = 60_000): Promise<T> {
    const res = await fetch(`${this.http}/api/v1${p}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${p}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return JSON.parse(text) as T;
  }

  async createNode(name: string, argv: string[]): Promise<void> {
    await this.api('POST', '/nodes', { name, driver: 'cmd', params: { cmd: argv } });
  }

  node(name: string): Promise<NodeView> {
    return this.api<NodeView>('GET', `/nodes/${encodeURIComponent(name)}`);
  }

  async nodes(): Promise<NodeView[]> {
    const r = await this.api<NodeView[] | { nodes: NodeView[] }>('GET', '/nodes');
    return Array.isArray(r) ? r : r.nodes;
  }

  /** Wait until the node's console is connected; returns the console program's pid. */
  async waitConnected(name: string, timeoutMs = 10_000): Promise<number> {
    return waitFor(`node ${name} connected`, timeoutMs, async () => {
      const v = await this.node(name);
      return v.session?.state === 'connected' && v.session.info.pid ? v.session.info.pid : undefined;
    }, 50);
  }

  /**
   * Wait until `count` nodes exist and all are connected; returns their views. On timeout the
   * error counts the nodes per state and shows a few distinct last errors.
   */
  async waitAllConnected(count: number, what: string, timeoutMs: number, intervalMs: number): Promise<NodeView[]> {
    let last: NodeView[] = [];
    await waitFor(what, timeoutMs, async () => {
      last = await this.nodes();
      return last.length === count && last.every((n) => n.session?.state === 'connected');
    }, intervalMs).catch((err: Error) => {
      const states = new Map<string, number>();
      for (const n of last) states.set(n.session?.state ?? '?', (states.get(n.session?.state ?? '?') ?? 0) + 1);
      const errors = [...new Set(last.map((n) => n.session?.lastError).filter(Boolean))].slice(0, 3);
      throw new Error(`${err.message}; states: ${JSON.stringify(Object.fromEntries(states))}; errors: ${JSON.stringify(errors)}`);
    });
    return last;
  }

  hello(node: string, mode: 'ro' | 'rw'): string {
    return `${JSON.stringify({ node, mode, token: this.token, replay: false })}\n`;
  }

  /** A TCP attach from this process (for latency): resolves once the server said ok. */
  attachTcp(node: string, mode: 'ro' | 'rw'): Promise<net.Socket> {
    return withTimeout(new Promise<net.Socket>((resolve, reject) => {
      const sock = net.connect({ host: '127.0.0.1', port: this.consolePort });
      sock.setNoDelay(true);
      let buf = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        const nl = buf.indexOf(0x0a);
        if (nl < 0) return;
        sock.off('data', onData);
        sock.off('error', reject);
        const answer = JSON.parse(buf.subarray(0, nl).toString('utf8')) as { ok: boolean; message?: string };
        if (!answer.ok) {
          sock.destroy();
          reject(new Error(`attach refused: ${answer.message}`));
          return;
        }
        const rest = buf.subarray(nl + 1);
        sock.pause();
        if (rest.length) sock.unshift(rest);
        resolve(sock);
      };
      sock.on('data', onData);
      sock.once('error', reject);
      sock.once('connect', () => sock.write(this.hello(node, mode)));
    }), 10_000, `TCP attach to ${node}`);
  }
}
