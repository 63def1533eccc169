// Switchboard as a benchmark peer: the real daemon (bin/switchboard.js serve) in its own process,
// driven over its REST API and TCP attach port.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { start, stop, waitFor, withTimeout, type Started } from '../lib.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface SwitchboardOptions {
  dataDir: string;
  /** Rotate console logs at this size (bench default: never within a run). */
  logMaxBytes?: number;
  readyTimeoutMs?: number;
  /**
   * Open the V8 inspector on a free loopback port, so the bench can ask for a full garbage
   * collection before it reads memory (collectGarbage). Nothing attaches in between.
   */
  inspect?: boolean;
  /** More `serve` flags, e.g. ['--nats', url, '--fleet-prefix', p]. */
  args?: string[];
}

export interface NodeView {
  name: string;
  session?: { state: string; lastError: string | null; clients: number; info: { pid?: number } };
}

export class Switchboard {
  readonly token = randomBytes(24).toString('hex');
  http = '';
  consolePort = 0;
  /** Log lines the daemon wrote so far, per pino `msg` (e.g. 'session state', 'console failed'). */
  readonly logCounts = new Map<string, number>();
  /** The first warn/error lines (pino level ≥ 40), kept for reports. */
  readonly warnings: string[] = [];
  private proc?: Started;
  private tail: string[] = [];
  private inspectorUrl?: string;

  constructor(private readonly opts: SwitchboardOptions) {}

  get pid(): number {
    if (!this.proc) throw new Error('switchboard is not running');
    return this.proc.pid;
  }

  async start(): Promise<void> {
    const args = [
      // e.g. BENCH_SB_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile the daemon
      ...(process.env.BENCH_SB_NODE_ARGS ?? '').split(' ').filter(Boolean),
      ...(this.opts.inspect ? ['--inspect=127.0.0.1:0'] : []),
      path.join(REPO, 'bin', 'switchboard.js'), 'serve',
      '--listen', '127.0.0.1:0', '--console-port', '0',
      '--data-dir', this.opts.dataDir, '--admin-token', this.token, '--log-level', process.env.BENCH_SB_LOG_LEVEL ?? 'info',
      ...(this.opts.args ?? []),
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
    p.proc.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      this.inspectorUrl ??= /Debugger listening on (ws:\/\/\S+)/.exec(text)?.[1];
      this.remember(text.trimEnd());
    });
    const exitedEarly = p.exited.then(({ code, signal }) => {
      throw new Error(`switchboard exited before it was ready (code ${code}, signal ${signal}):\n${this.tail.join('\n')}`);
    });
    const r = await withTimeout(Promise.race([readyP, exitedEarly]), this.opts.readyTimeoutMs ?? 20_000, `switchboard ready line\n${this.tail.join('\n')}`);
    this.http = r.http;
    this.consolePort = r.consolePort;
  }

  private remember(line: string) {
    if (line.startsWith('{')) {
      try {
        const j = JSON.parse(line) as { msg?: string; level?: number };
        if (j.msg) this.logCounts.set(j.msg, (this.logCounts.get(j.msg) ?? 0) + 1);
        if ((j.level ?? 0) >= 40 && this.warnings.length < 50) this.warnings.push(line);
      } catch {
        // not a log line
      }
    }
    this.tail.push(line);
    if (this.tail.length > 30) this.tail.shift();
  }

  /**
   * Two full garbage collections through the inspector (start with `inspect`), then the V8 heap
   * in use: memory read afterwards is what the daemon holds, not garbage waiting for a GC.
   */
  async collectGarbage(): Promise<{ usedSize: number; totalSize: number }> {
    const url = this.inspectorUrl;
    if (!url) throw new Error('switchboard was not started with inspect: true (or its inspector URL was not seen)');
    const ws = new WebSocket(url);
    try {
      await withTimeout(new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      }), 10_000, `inspector ${url}`);
      let nextId = 1;
      const call = <T>(method: string) => withTimeout(new Promise<T>((resolve, reject) => {
        const id = nextId++;
        const onMessage = (data: WebSocket.RawData) => {
          const msg = JSON.parse(data.toString()) as { id?: number; result?: T; error?: { message: string } };
          if (msg.id !== id) return;
          ws.off('message', onMessage);
          if (msg.error) reject(new Error(`${method}: ${msg.error.message}`));
          else resolve(msg.result as T);
        };
        ws.on('message', onMessage);
        ws.send(JSON.stringify({ id, method }));
      }), 30_000, `inspector ${method}`);
      await call('HeapProfiler.collectGarbage');
      await call('HeapProfiler.collectGarbage');
      return await call<{ usedSize: number; totalSize: number }>('Runtime.getHeapUsage');
    } finally {
      ws.close();
    }
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
