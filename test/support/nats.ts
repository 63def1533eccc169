// A NATS server with JetStream for the fleet tests: the one on 127.0.0.1:4222 when it runs,
// else our own `nats-server -js` on a free port. Each test file takes its own subject prefix and
// deletes its streams when it ends.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import { api, BIN, DaemonHandle, tempDir } from './daemon.js';
import { freePort } from './ports.js';
import { spawnTracked } from './processes.js';
import { waitUntil } from './wait.js';

const SHARED = { host: '127.0.0.1', port: 4222 };
let server: Promise<string> | undefined;

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function startServer(): Promise<string> {
  const port = await freePort();
  await spawnNatsServer(['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', tempDir('nats')]);
  return `nats://127.0.0.1:${port}`;
}

/** A `nats-server` with these arguments, once it says it is ready; stopped by PID when the file's tests end. */
export async function spawnNatsServer(args: string[]): Promise<ChildProcess> {
  const proc = spawnTracked('nats-server', args);
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  for (const stream of [proc.stdout!, proc.stderr!]) {
    createInterface({ input: stream }).on('line', (l) => {
      lines.push(l);
      for (const w of waiters) w();
    });
  }
  await waitUntil(() => lines.some((l) => l.includes('Server is ready')), {
    what: 'nats-server ready',
    subscribe: (wake) => {
      waiters.add(wake);
      proc.on('exit', wake);
      return () => {
        waiters.delete(wake);
        proc.off('exit', wake);
      };
    },
    failIf: () => (proc.exitCode !== null ? `nats-server exited: ${lines.slice(-3).join('\n')}` : undefined),
    describe: () => lines.slice(-5).join('\n'),
  });
  return proc;
}

export function natsUrl(): Promise<string> {
  server ??= reachable(SHARED.host, SHARED.port).then((up) => (up ? `nats://${SHARED.host}:${SHARED.port}` : startServer()));
  return server;
}

/** A prefix no other test file uses; its streams are deleted when this file's tests end. */
export function fleetPrefix(name: string): string {
  const prefix = `t${name}${randomBytes(4).toString('hex')}`;
  after(async () => {
    const nc = await connect({ servers: await natsUrl() });
    const jsm = await nc.jetstreamManager();
    for (const stream of [`fleet-${prefix}-cmd`, `fleet-${prefix}-reply`]) await jsm.streams.delete(stream).catch(() => false);
    await nc.close();
  });
  return prefix;
}

/** A plain client connection, for publishing straight to the fleet's subjects; close it when done. */
export async function natsConnection(): Promise<NatsConnection> {
  return connect({ servers: await natsUrl() });
}

export interface AgentOptions {
  node: string;
  prefix: string;
  allowSigner: string;
  dataDir?: string;
  args?: string[];
  /** Another server than the shared one (natsUrl()). */
  nats?: string;
  env?: Record<string, string>;
  /** Many agents starting at once on a small machine take longer than one. */
  readyTimeoutMs?: number;
}

/**
 * A real `switchboard agent` process; its JSON log lines are read like a daemon's. It runs in
 * `dataDir` when one is given; else in a fresh folder, with a data dir that does not exist yet
 * (the agent makes it, as on a machine's first run).
 */
export async function startAgent(opts: AgentOptions): Promise<DaemonHandle> {
  const agent = await spawnAgent(opts);
  await agent.waitForLog((l) => l.msg === 'fleet agent ready', `agent ${opts.node} ready`, opts.readyTimeoutMs);
  return agent;
}

/** For an agent that may stop at start: resolves once it is ready, or once it has exited with all its output read. */
export async function tryStartAgent(opts: AgentOptions): Promise<{ agent: DaemonHandle; ready: boolean }> {
  const agent = await spawnAgent(opts);
  // 'close', not 'exit': an agent that stops at start has its last words still in the pipes at 'exit'.
  const closed = once(agent.proc, 'close').then(() => false);
  const started = agent.waitForLog((l) => l.msg === 'fleet agent ready', `agent ${opts.node} ready`, opts.readyTimeoutMs)
    .then(() => true, (err: Error) => (agent.proc.exitCode === null && agent.proc.signalCode === null ? Promise.reject(err) : closed));
  return { agent, ready: await Promise.race([started, closed]) };
}

/** A `switchboard agent` process, not waited for: its log says how it gets on. */
export async function spawnAgent(opts: AgentOptions): Promise<DaemonHandle> {
  const home = opts.dataDir ?? tempDir('agent');
  const dataDir = opts.dataDir ?? path.join(home, 'agent-data');
  const args = [BIN, 'agent', '--node', opts.node, '--nats', opts.nats ?? await natsUrl(), '--prefix', opts.prefix, '--allow-signer', opts.allowSigner, '--data-dir', dataDir, ...(opts.args ?? [])];
  return new DaemonHandle(spawnTracked(process.execPath, args, { cwd: home, env: { ...process.env, ...opts.env } }), dataDir, undefined);
}

/** The fleet's REST calls of a test, made on the daemon `current()` returns at the time (it may be restarted). */
export function fleetCalls(current: () => DaemonHandle) {
  return {
    /** One POST, which must be taken (202); the ids of its messages. */
    submit: async (messages: unknown[]): Promise<string[]> => {
      const r = await api(current(), 'POST', '/api/v1/fleet/messages', messages);
      assert.equal(r.status, 202, JSON.stringify(r.body));
      return r.body.map((m: { id: string }) => m.id);
    },
    /** A message's view now. */
    view: async (id: string) => (await api(current(), 'GET', `/api/v1/fleet/messages/${id}`)).body,
    /** A message's view once final, waited for up to 30 s. */
    final: async (id: string) => (await api(current(), 'GET', `/api/v1/fleet/messages/${id}?wait=30`)).body,
  };
}
