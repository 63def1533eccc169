// Start the real `switchboard serve` binary on free loopback ports with a temp data dir.
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, watch } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after } from 'node:test';
import { exited, spawnTracked, stopProcess, type ExitStatus } from './processes.js';
import { waitUntil } from './wait.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = path.join(ROOT, 'bin', 'switchboard.js');
export const TOKEN = 'test-admin-token-0123456789abcdef';

const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `sb-${prefix}-`));
  tempDirs.push(dir);
  return dir;
}

export interface DaemonOptions {
  dataDir?: string;
  /** null: no --listen flag (the address comes from the environment). */
  listen?: string | null;
  consolePort?: number;
  /** Extra SWITCHBOARD_* settings. */
  env?: Record<string, string>;
  args?: string[];
  token?: string | null;
  /** The CA (PEM) that signed the daemon's certificate, for clients of a daemon started with TLS flags. */
  ca?: Buffer;
}

export interface LogLine {
  msg: string;
  [k: string]: unknown;
}

export class DaemonHandle {
  readonly logs: LogLine[] = [];
  readonly rawOutput: string[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(readonly proc: ChildProcess, readonly dataDir: string, readonly token: string | undefined) {
    const onLine = (line: string) => {
      this.rawOutput.push(line);
      try {
        this.logs.push(JSON.parse(line) as LogLine);
      } catch { /* not a log line */ }
      for (const w of this.waiters) w();
    };
    createInterface({ input: proc.stdout! }).on('line', onLine);
    createInterface({ input: proc.stderr! }).on('line', onLine);
  }

  url = '';
  consolePort = 0;
  /** Set for a TLS daemon: WsConsole and TcpConsole then connect over TLS trusting it. */
  ca?: Buffer;

  get pid(): number {
    return this.proc.pid!;
  }

  get listen(): string {
    return this.url.replace(/^https?:\/\//, '');
  }

  /** Resolves with the first log line matching, including lines already seen. */
  waitForLog(pred: (l: LogLine) => boolean, what: string, timeoutMs = 15_000): Promise<LogLine> {
    return waitUntil(() => this.logs.find(pred), {
      what: `daemon log: ${what}`,
      timeoutMs,
      subscribe: (wake) => {
        this.waiters.add(wake);
        return () => this.waiters.delete(wake);
      },
      failIf: () => (this.proc.exitCode !== null ? `daemon exited (${this.proc.exitCode}): ${this.rawOutput.slice(-5).join('\n')}` : undefined),
    });
  }

  stop(): Promise<ExitStatus> {
    return stopProcess(this.proc);
  }

  exited(): Promise<ExitStatus> {
    return exited(this.proc);
  }
}

export async function startDaemon(opts: DaemonOptions = {}): Promise<DaemonHandle> {
  const dataDir = opts.dataDir ?? tempDir('data');
  mkdirSync(dataDir, { recursive: true });
  const token = opts.token === null ? undefined : (opts.token ?? TOKEN);
  const args = [
    BIN, 'serve',
    ...(opts.listen === null ? [] : ['--listen', opts.listen ?? '127.0.0.1:0']),
    '--console-port', String(opts.consolePort ?? 0),
    '--data-dir', dataDir,
    ...(token ? ['--admin-token', token] : []),
    ...(opts.args ?? []),
  ];
  const env: NodeJS.ProcessEnv = { ...process.env, SWITCHBOARD_RECONNECT_MIN_MS: '200', SWITCHBOARD_RECONNECT_MAX_MS: '2000', ...opts.env };
  for (const k of ['SWITCHBOARD_URL', 'SWITCHBOARD_TOKEN', 'SWITCHBOARD_CONFIG']) if (!opts.env?.[k]) delete env[k];
  const proc = spawnTracked(process.execPath, args, { env, cwd: dataDir });
  const d = new DaemonHandle(proc, dataDir, token);
  const ready = await d.waitForLog((l) => l.msg === 'switchboard ready', 'ready');
  d.url = ready.http as string;
  d.consolePort = ready.consolePort as number;
  d.ca = opts.ca;
  return d;
}

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  text: string;
  headers: Headers;
}

/** One HTTP call; the admin token is sent unless `headers` says otherwise. */
export async function api<T = any>(d: DaemonHandle, method: string, route: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse<T>> {
  const raw = typeof body === 'string' || body instanceof Uint8Array;
  const res = await fetch(`${d.url}${route}`, {
    method,
    headers: {
      ...(d.token ? { authorization: `Bearer ${d.token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : raw ? (body as string) : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch { /* not JSON */ }
  return { status: res.status, body: parsed as T, text, headers: res.headers };
}

/** Console logs are written asynchronously: resolves once `text` has reached the node's log file. */
export function waitForLogFile(d: DaemonHandle, node: string, text: string): Promise<true> {
  const file = path.join(d.dataDir, 'logs', `${node}.log`);
  return waitUntil(() => readFileSync(file, 'latin1').includes(text) || undefined, {
    what: `${JSON.stringify(text)} in ${node}.log`,
    subscribe: (wake) => {
      const w = watch(file, wake);
      return () => w.close();
    },
  });
}

/** A cmd node running `cat` in a pty: the pty echoes what is typed, cat prints the line again. */
export function catNode(name: string, extra: Record<string, unknown> = {}) {
  return { name, driver: 'cmd', params: { cmd: '/bin/cat' }, ...extra };
}
