// A nats output: each record published on core NATS (no stream) as `switchboard.console.<node>`,
// so `nats sub 'switchboard.console.>'` shows every console. Core NATS has no back-pressure for a
// publisher; what bounds us is the queue, used while the server is away: nats.js reconnects an
// established connection itself; a first connection that fails, or one that closed for good, is
// retried here with backoff.
import { connect, type NatsConnection } from 'nats';
import { nodeToken } from '../fleet/nats-transport.js';
import { DEFAULT_BACKOFF, Reconnector, type BackoffOptions } from './backoff.js';
import { RecordQueue, type RecordBatch } from './record-batch.js';
import type { Sink, SinkStats, SinkLogger } from './types.js';

export const CONSOLE_SUBJECT_PREFIX = 'switchboard.console';

/** The subject a node's records go to ('.' in a node name would split the token). */
export function consoleSubject(node: string): string {
  return `${CONSOLE_SUBJECT_PREFIX}.${nodeToken(node)}`;
}

export interface NatsSinkOptions {
  name: string;
  /** nats:// or tls://, may hold user:password. */
  url: string;
  tls?: { ca?: string; insecure?: boolean };
  maxQueued: number;
  logger: SinkLogger;
  backoff?: BackoffOptions;
}

export class NatsSink implements Sink {
  readonly name: string;
  private readonly queue: RecordQueue;
  private readonly reconnector: Reconnector;
  private readonly server: string;
  private nc?: NatsConnection;
  private connected = false;
  private sent = 0;
  private reportedDown = false;

  constructor(private readonly opts: NatsSinkOptions) {
    this.name = opts.name;
    this.queue = new RecordQueue(opts.maxQueued);
    this.reconnector = new Reconnector(() => void this.connect(), opts.backoff ?? DEFAULT_BACKOFF);
    const u = new URL(opts.url);
    this.server = `${u.protocol}//${u.host}`; // never the credentials, in logs or anywhere
    void this.connect();
  }

  send(batch: RecordBatch): void {
    this.queue.push(batch);
    this.pump();
  }

  stats(): SinkStats {
    return { sent: this.sent, dropped: this.queue.dropped, queued: this.queue.size, connected: this.connected };
  }

  private async connect(): Promise<void> {
    const u = new URL(this.opts.url);
    const t = this.opts.tls ?? (u.protocol === 'tls:' ? {} : undefined);
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: `${u.hostname.includes(':') ? `[${u.hostname}]` : u.hostname}:${u.port || 4222}`,
        ...(u.username ? { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } : {}),
        ...(t ? { tls: { ...(t.ca ? { ca: t.ca } : {}), ...(t.insecure ? { rejectUnauthorized: false } : {}) } } : {}),
        name: `switchboard output ${this.name}`,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
      });
    } catch (err) {
      this.down((err as Error).message);
      this.reconnector.retry();
      return;
    }
    if (this.reconnector.isStopped) return void nc.close();
    this.nc = nc;
    this.up();
    void this.watch(nc);
    void nc.closed().then((err) => {
      if (this.nc !== nc) return;
      this.nc = undefined;
      this.down(err?.message ?? 'connection closed');
      this.reconnector.retry();
    });
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') this.down('disconnected');
      else if (s.type === 'reconnect') this.up();
    }
  }

  private up(): void {
    this.connected = true;
    this.reportedDown = false;
    this.reconnector.connected();
    this.opts.logger.info({ output: this.name, type: 'nats', server: this.server }, 'output connected');
    this.pump();
  }

  private down(reason: string): void {
    this.connected = false;
    if (!this.reportedDown) this.opts.logger.warn({ output: this.name, type: 'nats', server: this.server, err: reason }, 'output unreachable; retrying');
    this.reportedDown = true;
  }

  private pump(): void {
    const nc = this.nc;
    if (!this.connected || !nc) return;
    for (let batch = this.queue.shift(); batch; batch = this.queue.shift()) {
      const subject = consoleSubject(batch.node);
      for (const record of batch.records()) nc.publish(subject, record);
      this.sent += batch.count;
    }
  }

  async close(): Promise<void> {
    this.reconnector.stop();
    const nc = this.nc;
    this.nc = undefined;
    this.connected = false;
    // drain() sends what was published before closing.
    if (nc && !nc.isClosed()) await nc.drain().catch(() => nc.close());
  }
}
