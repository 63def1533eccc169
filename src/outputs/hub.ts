// Where a console's output and events go besides its clients: the node's log file, and the
// configured sinks (tcp, udp, nats) as one JSON record per line or event, each sink taking the
// nodes its label selector matches. Lines are split, and the sinks run, in a thread of their own
// (sink-thread.ts), which gets each console chunk's bytes; nothing here waits on a sink. Line
// observers (the watch-pattern engine) get the lines of the nodes they want back from that thread.
import type { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { startModuleWorker } from '../util/module-worker.js';
import { DEFAULT_BACKOFF, Reconnector } from './backoff.js';
import { selects, type OutputConfig, type OutputType } from './config.js';
import { Lines } from './line-splitter.js';
import { RecordBatch } from './record-batch.js';
import type { FromSinkThread, SinkThreadData, ToSinkThread } from './sink-thread.js';
import { resolveOutputs } from './sinks.js';
import type { ConsoleOutput, OutputRecord, SessionEvent, SinkStats } from './types.js';

export interface OutputHubOptions {
  outputs: OutputConfig[];
  /** A console line longer than this is cut into records of this size. */
  maxLineBytes: number;
  /** A partial line (a prompt) is sent after this long without more output. */
  idleFlushMs: number;
  /** The node's log file, opened with every session. */
  openLog(node: string): ConsoleOutput;
  /** The node's labels now, for the sinks' selectors; undefined for a node without a session. */
  labelsOf(node: string): Record<string, string> | undefined;
  logger: Logger;
  /** Console bytes handed to the lines' thread and not yet taken in, at most; beyond, chunks are skipped (counted). */
  maxBehindBytes?: number;
}

/** 32 MiB: seconds of a flooding console, or a burst of every console at once. */
export const MAX_BEHIND_BYTES = 32 * 1024 * 1024;

/** Sees every console line (ANSI stripped) of the nodes it wants (addLineObserver), a chunk's lines at a time, e.g. to match watch patterns. */
export type LineObserver = (node: string, lines: Lines, time: Date) => void;

export interface OutputStats extends SinkStats {
  name: string;
  type: OutputType;
}

export class OutputHub {
  private readonly observers = new Map<LineObserver, (node: string) => boolean>();
  /** The output of each running session, so events from outside (power, notes) land in its log too. */
  private readonly sessions = new Map<string, SessionOutput>();
  /** Started with the sinks, or when a node is first watched. */
  private thread?: SinkThread;
  private closing = false;

  private constructor(private readonly opts: OutputHubOptions, private readonly threadData: Omit<SinkThreadData, 'taken'>) {
    if (opts.outputs.length > 0) this.startThread();
  }

  /** Reads the CA files the outputs name and starts the sinks' thread; a receiver that is down is retried, not fatal. */
  static async create(opts: OutputHubOptions): Promise<OutputHub> {
    return new OutputHub(opts, { outputs: await resolveOutputs(opts.outputs), maxLineBytes: opts.maxLineBytes, idleFlushMs: opts.idleFlushMs });
  }

  private startThread(): SinkThread {
    return (this.thread ??= new SinkThread(this.threadData, this.opts.maxBehindBytes ?? MAX_BEHIND_BYTES, this.opts.logger, (node, lines, time) => this.lines(node, lines, time)));
  }

  /** The ConsoleOutput a session writes to (SessionDeps.openOutput). */
  open(node: string): ConsoleOutput {
    const output = new SessionOutput(node, this.opts.openLog(node), this);
    this.sessions.set(node, output);
    return output;
  }

  /**
   * An event from outside a session (a power action, an operator note): into the node's log when
   * its session runs, and to the sinks. `labels` when the caller has the node at hand (a node
   * without a session has none here).
   */
  event(node: string, event: SessionEvent, labels?: Record<string, string>): void {
    const output = this.sessions.get(node);
    if (output) output.event(event);
    else this.deliver(node, RecordBatch.of(eventRecord(node, event, new Date())), false, labels);
  }

  /** `wants`: whether the observer wants a node's lines (a console no one watches is not split for nothing). Returns the removal. An observer that throws is logged and kept. */
  addLineObserver(observer: LineObserver, wants: (node: string) => boolean = () => true): () => void {
    this.observers.set(observer, wants);
    return () => this.observers.delete(observer);
  }

  /**
   * Starts the lines' thread now, not at the first chunk of a watched node: started then, it takes
   * a few hundred ms to come up while a flooding console's chunks wait, and hands them all over at
   * once, more than the watch patterns' queue holds.
   */
  startLines(): void {
    if (!this.closing) this.startThread();
  }

  async stats(): Promise<OutputStats[]> {
    if (this.opts.outputs.length === 0) return [];
    const stats = await this.startThread().stats();
    return this.opts.outputs.map((config, i) => ({ name: config.name, type: config.type, ...stats[i] }));
  }

  /** Console bytes never split into lines (for the sinks and the watch patterns) because the lines' thread was behind. */
  get skippedBytes(): number {
    return this.thread?.skipped ?? 0;
  }

  /** After the sessions have stopped: what is queued gets a last chance to leave. */
  async close(): Promise<void> {
    this.closing = true;
    await this.thread?.close();
  }

  // --- for SessionOutput ---------------------------------------------------------------------

  /** The console lines of one chunk, all of one time, to the observers. */
  private lines(node: string, lines: Lines, time: Date): void {
    for (const observer of this.observers.keys()) {
      try {
        observer(node, lines, time);
      } catch (err) {
        this.opts.logger.error({ node, err: (err as Error).message }, 'line observer failed');
      }
    }
  }

  /** A console chunk to the lines' thread, when a sink takes the node or an observer wants its lines. */
  bytes(node: string, chunk: Buffer): void {
    if (this.closing) return;
    const sinks = this.sinksFor(node);
    let watch = false;
    for (const wants of this.observers.values()) if ((watch = wants(node))) break;
    if (sinks.length > 0 || watch) this.startThread().bytes(node, chunk, sinks, watch);
  }

  /** Records made here (events) to the sinks that take the node; `flush`: after the node's partial line (its observers get it too). */
  deliver(node: string, batch: RecordBatch, flush: boolean, labels?: Record<string, string>): void {
    const sinks = this.sinksFor(node, labels);
    if (sinks.length > 0 || (flush && this.thread)) this.startThread().post({ t: 'records', node, text: batch.text, count: batch.count, sinks, flush });
  }

  /** The indices of the outputs whose label selector takes the node (its labels as given, else its session's). */
  private sinksFor(node: string, labels?: Record<string, string>): number[] {
    const outputs = this.opts.outputs;
    if (outputs.length === 0) return [];
    const nodeLabels = labels ?? this.opts.labelsOf(node) ?? {};
    const out: number[] = [];
    for (let i = 0; i < outputs.length; i++) if (selects(outputs[i], nodeLabels)) out.push(i);
    return out;
  }

  closed(node: string, output: SessionOutput): void {
    this.thread?.post({ t: 'end', node });
    if (this.sessions.get(node) === output) this.sessions.delete(node);
  }
}

/** One session's output: every byte to the log file and the lines' thread, events to both. */
class SessionOutput implements ConsoleOutput {
  constructor(private readonly node: string, private readonly log: ConsoleOutput, private readonly hub: OutputHub) {}

  write(chunk: Buffer): void {
    this.log.write(chunk);
    this.hub.bytes(this.node, chunk);
  }

  /** After the console's words before it (the lines' thread sends the partial line first). */
  event(event: SessionEvent): void {
    const time = new Date();
    if (this.log.event) this.log.event(event);
    else this.log.write(Buffer.from(`[-- ${time.toISOString()} ${event.message} --]\r\n`));
    this.hub.deliver(this.node, RecordBatch.of(eventRecord(this.node, event, time)), true);
  }

  async close(): Promise<void> {
    this.hub.closed(this.node, this);
    await this.log.close();
  }
}

function eventRecord(node: string, event: SessionEvent, time: Date): OutputRecord {
  // The record's own keys are not the event's to change.
  const { message, node: _node, type: _type, time: _time, ...fields } = event;
  return { node, type: 'event', message, time: time.toISOString(), ...fields };
}

/** How long the sinks' thread has to send what it holds when the daemon stops. */
const CLOSE_MS = 5000;

/** A replacement that ran this long was healthy: the next one that ends is replaced after the shortest wait again. */
const STABLE_MS = 60_000;

/**
 * The daemon's side of sink-thread.ts. A chunk's bytes are copied once into a buffer of their own,
 * which is moved (not copied again) to the thread. A thread that fails is logged and replaced (its
 * sinks reconnect; what they held is lost), with backoff: one that fails as it starts does not
 * spin. Meanwhile chunks are skipped (counted) once maxBehind is reached.
 */
class SinkThread {
  private worker: Worker;
  /** What the thread has taken in (its Int32Array slot 0), and what was handed to it, both wrapping at 2^32. */
  private taken!: Int32Array;
  private handed = 0;
  /** Nodes whose bytes were skipped since their last chunk went over. */
  private readonly gaps = new Set<string>();
  skipped = 0;
  private readonly waiting = new Map<number, (stats: SinkStats[]) => void>();
  private nextId = 0;
  /** The last stats the thread gave: what stats() answers while a failed thread is being replaced. */
  private last: SinkStats[];
  private closing?: Promise<void>;
  /** The thread has ended and its replacement waits for the backoff (the sinks' reconnect backoff: 250 ms doubling to 30 s). */
  private down = false;
  private startedAt = 0;
  private readonly restarts = new Reconnector(() => {
    this.down = false;
    this.worker = this.start();
  }, DEFAULT_BACKOFF);

  constructor(private readonly data: Omit<SinkThreadData, 'taken'>, private readonly maxBehind: number, private readonly logger: Logger, private readonly onLines: LineObserver) {
    this.last = data.outputs.map(() => ({ sent: 0, dropped: 0, queued: 0, connected: false }));
    this.worker = this.start();
  }

  /**
   * A chunk, unless the thread is more than maxBehind bytes behind: then it is skipped and counted
   * (reported once per spell), and the node's next chunk says so. The bytes are copied once into a
   * buffer of their own (a Buffer may be a slice of a larger pool), which is moved, not copied again.
   */
  bytes(node: string, chunk: Buffer, sinks: number[], watch: boolean): void {
    if ((this.handed - Atomics.load(this.taken, 0)) >>> 0 > this.maxBehind) {
      if (this.gaps.size === 0) this.logger.warn({ node, behindBytes: this.maxBehind }, 'console lines fell behind; skipping console output for the sinks and watch patterns until they catch up');
      this.gaps.add(node);
      this.skipped += chunk.length;
      return;
    }
    const data = new Uint8Array(chunk);
    this.handed = (this.handed + data.length) | 0;
    const gap = this.gaps.delete(node);
    this.worker.postMessage({ t: 'bytes', node, data, time: Date.now(), sinks, watch, gap } satisfies ToSinkThread, [data.buffer]);
  }

  post(m: Exclude<ToSinkThread, { t: 'bytes' }>): void {
    this.worker.postMessage(m);
  }

  stats(): Promise<SinkStats[]> {
    if (this.closing || this.down) return Promise.resolve(this.last);
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.post({ t: 'stats', id });
    });
  }

  /** The thread closes its sinks and ends; one that has not within CLOSE_MS is stopped. */
  close(): Promise<void> {
    this.restarts.stop();
    return (this.closing ??= new Promise<void>((resolve) => {
      if (this.down) return resolve();
      const worker = this.worker;
      const timer = setTimeout(() => void worker.terminate(), CLOSE_MS);
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.post({ t: 'close' });
    }));
  }

  private start(): Worker {
    const taken = new SharedArrayBuffer(4);
    this.taken = new Int32Array(taken);
    this.handed = 0;
    this.startedAt = Date.now();
    const worker = startModuleWorker(import.meta.url, 'sink-thread', { workerData: { ...this.data, taken } satisfies SinkThreadData });
    worker.on('message', (m: FromSinkThread) => {
      if (m.t === 'lines') for (const c of m.chunks) this.onLines(c.node, Lines.fromData(c.lines), new Date(c.time));
      else if (m.t === 'log') this.logger[m.level](m.fields, m.message);
      else if (m.t === 'stats') {
        this.last = m.stats;
        this.waiting.get(m.id)?.(m.stats);
        this.waiting.delete(m.id);
      }
    });
    worker.on('error', (err) => this.logger.error({ err }, 'output sink thread failed'));
    worker.on('exit', () => {
      this.answerWaiting();
      if (this.closing) return;
      this.down = true;
      if (Date.now() - this.startedAt >= STABLE_MS) this.restarts.connected();
      this.logger.warn('output sink thread ended; starting a new one');
      this.restarts.retry();
    });
    return worker;
  }

  private answerWaiting(): void {
    for (const resolve of this.waiting.values()) resolve(this.last);
    this.waiting.clear();
  }
}
