// A tcp output: one JSON record per line (newline-delimited JSON, as logstash's json_lines codec,
// vector's and fluent-bit's tcp inputs take it), over TLS when configured. Records wait in a
// bounded queue while the receiver is away or slow; the socket never holds more than its own
// high-water mark, so a receiver that stops reading costs dropped records, not memory.
import net from 'node:net';
import tls from 'node:tls';
import { DEFAULT_BACKOFF, Reconnector, type BackoffOptions } from './backoff.js';
import { RecordQueue, type RecordBatch } from './record-batch.js';
import type { Sink, SinkStats, SinkLogger } from './types.js';

/**
 * Records wait up to FLUSH_MS to leave together unless FLUSH_CHARS are queued: a flooding console
 * would otherwise cost a system call (and a wake-up of the receiver) per chunk per sink, the
 * largest share of a sink's cost. A log stack does not notice 5 ms.
 */
const FLUSH_MS = 5;
const FLUSH_CHARS = 64 * 1024;

export interface TcpSinkOptions {
  name: string;
  host: string;
  port: number;
  /** Speak TLS: ca (PEM text) to trust instead of the system's, or insecure to accept any certificate. */
  tls?: { ca?: string; insecure?: boolean };
  maxQueued: number;
  logger: SinkLogger;
  backoff?: BackoffOptions;
}

export class TcpSink implements Sink {
  readonly name: string;
  private readonly queue: RecordQueue;
  private readonly reconnector: Reconnector;
  private socket?: net.Socket;
  private connected = false;
  private flushTimer?: NodeJS.Timeout;
  private pumpNow = false;
  private sent = 0;
  /** Whether the last failure was logged: a receiver that stays away is reported once, not per retry. */
  private reportedDown = false;

  constructor(private readonly opts: TcpSinkOptions) {
    this.name = opts.name;
    this.queue = new RecordQueue(opts.maxQueued);
    this.reconnector = new Reconnector(() => this.connect(), opts.backoff ?? DEFAULT_BACKOFF);
    this.connect();
  }

  send(batch: RecordBatch): void {
    this.queue.push(batch);
    if (this.queue.weight >= FLUSH_CHARS) {
      // Enough for a full write: once the caller's message is handled, not at the end of this turn
      // of the event loop. The lines' thread, behind on a flood, handles a pile of chunks in one
      // turn; writing only after it, the queue would pass its bound while the receiver had room.
      if (this.pumpNow) return;
      this.pumpNow = true;
      process.nextTick(() => {
        this.pumpNow = false;
        this.pump();
      });
    } else this.flushTimer ??= setTimeout(() => this.pump(), FLUSH_MS);
  }

  stats(): SinkStats {
    return { sent: this.sent, dropped: this.queue.dropped, queued: this.queue.size, connected: this.connected };
  }

  private connect(): void {
    const { host, port } = this.opts;
    const t = this.opts.tls;
    const socket = t
      ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ca: t.ca, rejectUnauthorized: !t.insecure })
      : net.connect({ host, port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.once(t ? 'secureConnect' : 'connect', () => {
      this.connected = true;
      this.reconnector.connected();
      this.reportedDown = false;
      this.opts.logger.info({ output: this.name, type: 'tcp', tls: !!t }, 'output connected');
      this.pump();
    });
    socket.on('drain', () => this.pump());
    // What the receiver says is not ours to read; reading it keeps its window open.
    socket.on('data', () => {});
    socket.on('error', (err) => {
      if (!this.reportedDown) this.opts.logger.warn({ output: this.name, type: 'tcp', err: err.message }, 'output unreachable; retrying');
      this.reportedDown = true;
    });
    socket.once('close', () => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.connected = false;
      this.reconnector.retry();
    });
  }

  /**
   * Write queued batches while the socket takes them; 'drain' resumes. Corked, so what is queued
   * leaves in one system call (writev), not one per batch.
   */
  private pump(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const socket = this.socket;
    if (!this.connected || !socket || socket.writableNeedDrain) return;
    socket.cork();
    for (let batch = this.queue.shift(); batch; batch = this.queue.shift()) {
      this.sent += batch.count;
      if (!socket.write(batch.bytes)) break;
    }
    socket.uncork();
  }

  async close(): Promise<void> {
    this.pump(); // what waits for its flush time leaves now
    clearTimeout(this.flushTimer);
    this.reconnector.stop();
    const socket = this.socket;
    this.socket = undefined;
    this.connected = false;
    if (!socket || socket.destroyed) return;
    // What was already written gets a moment to leave; a receiver that stopped reading does not hold the daemon.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => socket.destroy(), 1000);
      timer.unref();
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.end();
    });
  }
}
