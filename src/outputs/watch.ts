// Watch patterns: console lines matching a named regex (the config's, by label selector, and each
// node's own) become events, per-node counters and webhook calls. Matching runs in a worker thread
// over batches of lines with a time budget, so the console never waits for it: onLine only queues
// (bounded, oldest dropped and counted), and a pattern that blows the budget is disabled and its
// worker replaced, the other patterns carry on.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { NodeSpec } from '../model/node.js';
import { samePattern, type NodeWatchPattern } from '../model/watch-pattern.js';
import type { SessionEvent } from './types.js';
import { watchesNode, type WatchPatternSpec } from './watch-patterns.js';
import { COMBINED, LINE_END, PROGRESS_PATTERN, WATCH_WORKER_SOURCE, type WorkerBatch, type WorkerGroup, type WorkerReply } from './watch-worker.js';
import { DropOldestQueue } from './drop-oldest-queue.js';
import { MAX_BEHIND_BYTES } from './hub.js';
import { Lines } from './line-splitter.js';
import { WatchCounterFile, type WatchCounters } from './watch-counters.js';
import { WebhookSender, type WebhookOptions } from './webhook.js';

/** How long lines gather before a batch goes to the worker (unless batchLines are waiting). */
const GATHER_MS = 10;

/** What decides the patterns watching a node: its labels select the config's, and it has its own. */
export type WatchedNode = Pick<NodeSpec, 'labels' | 'watchPatterns'>;

export interface WatchEngineOptions {
  /** The config's patterns. */
  patterns: WatchPatternSpec[];
  /**
   * The node as its console session has it now (undefined without one): the source the output hub
   * selects sinks by, so a relabelled node is watched by the right patterns from its next line.
   * A changed node comes as a new object.
   */
  nodeOf(node: string): WatchedNode | undefined;
  logger: Logger;
  /** Where match and disable events go (the output hub's event()). */
  onEvent(node: string, event: SessionEvent): void;
  /** A batch taking longer than this disables the pattern it was stuck in. */
  budgetMs?: number;
  /** Lines per batch handed to the worker. */
  batchLines?: number;
  /** Lines waiting at most; beyond it the oldest are dropped (matching fell behind). No bound by default: maxQueuedChars bounds them. */
  maxQueuedLines?: number;
  /** Characters of the lines waiting, at most; beyond it the oldest chunks are dropped. */
  maxQueuedChars?: number;
  /** Longer lines are cut to this many characters before matching. */
  maxLineLength?: number;
  webhook?: Partial<WebhookOptions>;
  /** Where the counters are kept across restarts (watch-counters.ts); without it they live in memory only. */
  countersFile?: string;
}

/** One pattern as a node view shows it. */
export interface WatchState {
  pattern: string;
  count: number;
  last: { line: string; time: string } | null;
  /** Why the pattern no longer runs (it blew the time budget); null while it runs. */
  disabled: string | null;
}

export interface WatchStats {
  queued: number;
  /** Lines never matched because the queue was full. */
  dropped: number;
  matches: number;
  /** Workers replaced after a pattern blew the budget. */
  restarts: number;
}

/** The lines of one console chunk. */
interface QueuedChunk {
  node: string;
  lines: Lines;
  time: Date;
}

interface Pattern {
  spec: NodeWatchPattern;
  /** The node whose own pattern this is; absent for the config's. */
  node?: string;
}

/** The patterns watching one node, worked out from the node object they were worked out for. */
interface Watching {
  node: WatchedNode | undefined;
  /** Ids of the node's own patterns, in its order. */
  own: number[];
  /** Ids of every pattern that runs on its lines (disabled ones left out). */
  ids: number[];
}

/** Per group of a batch: the node, and where each chunk's lines start in the group's text with the chunk's time. */
interface GroupMeta {
  node: string;
  /** The group's lines, split from its text when a match needs one. */
  lines?: string[];
  starts: number[];
  times: Date[];
}

interface InFlight {
  batch: WorkerBatch;
  meta: GroupMeta[];
  /** Set once the worker runs: see send(). */
  timer?: NodeJS.Timeout;
}

export class WatchEngine {
  /** By id: the config's are 0..n-1, a node's own get the next free id (never reused). */
  private readonly patterns = new Map<number, Pattern>();
  private nextId: number;
  private readonly disabled = new Map<number, string>();
  private readonly watching = new Map<string, Watching>();
  private readonly state = new Map<string, Map<number, { count: number; last: { line: string; time: string } }>>();
  /** Counters from before the last restart, by node and pattern name, until the pattern matches again. */
  private restored: WatchCounters = new Map();
  private readonly countersFile?: WatchCounterFile;
  private readonly webhooks = new Map<string, WebhookSender>();
  /** Lines waiting for the worker, a chunk at a time; when matching falls behind, the oldest go (counted). */
  private readonly queue: DropOldestQueue<QueuedChunk>;
  private worker?: Worker;
  /** A node's pattern was added since the worker started: the next batch goes to a new worker that compiles it. */
  private workerStale = false;
  private progress = new Int32Array(new SharedArrayBuffer(4));
  private inFlight?: InFlight;
  /** A dispatch is due at the end of this turn of the event loop, or after GATHER_MS. */
  private immediate = false;
  private gatherTimer?: NodeJS.Timeout;
  private closed = false;
  /** Whether the worker tests patterns of the same flags as one prefilter (off to find the pattern that blew the budget). */
  private combine = true;
  /** Workers whose thread has started. */
  private readonly online = new WeakSet<Worker>();
  private seq = 0;
  private readonly counts = { matches: 0, restarts: 0 };
  private readonly budgetMs: number;
  private readonly batchLines: number;
  private readonly maxLineLength: number;

  constructor(private readonly opts: WatchEngineOptions) {
    if (opts.countersFile) {
      this.countersFile = new WatchCounterFile(opts.countersFile, () => this.counters(), opts.logger);
      this.restored = this.countersFile.load();
    }
    opts.patterns.forEach((spec, id) => this.patterns.set(id, { spec }));
    this.nextId = opts.patterns.length;
    this.budgetMs = opts.budgetMs ?? 1000;
    this.batchLines = opts.batchLines ?? 8192;
    // As many characters as the lines' thread may be behind in console bytes: it hands its backlog
    // over in a burst when it catches up (it gives way to the daemon's thread on a busy machine),
    // and a burst it took in whole is matched whole. A bound of 50,000 lines dropped 28,676 lines of
    // a 27 MB flood with both cores busy.
    this.queue = new DropOldestQueue<QueuedChunk>(opts.maxQueuedLines ?? Infinity, {
      count: (c) => c.lines.count,
      last: (c, n) => ({ ...c, lines: Lines.of(c.lines.all.slice(c.lines.count - n), c.lines.plain) }),
      weight: (c) => c.lines.chars,
    }, opts.maxQueuedChars ?? MAX_BEHIND_BYTES);
    this.maxLineLength = opts.maxLineLength ?? 4096;
    // Up before the first lines come (a thread takes a while to start), when patterns are configured.
    if (opts.patterns.length > 0) this.startWorker();
  }

  /** A deleted node: its own patterns and its counters go. */
  forget(node: string): void {
    for (const id of this.watching.get(node)?.own ?? []) this.drop(id);
    this.watching.delete(node);
    this.state.delete(node);
    this.restored.delete(node);
    this.countersFile?.changed();
  }

  /** Every counter by node and pattern name: what the counters file keeps. */
  private counters(): WatchCounters {
    const out: WatchCounters = new Map();
    for (const [node, patterns] of this.restored) out.set(node, new Map(patterns));
    for (const [node, perId] of this.state) {
      const m = out.get(node) ?? new Map();
      for (const [id, c] of perId) {
        const name = this.patterns.get(id)?.spec.name;
        if (name) m.set(name, { count: c.count, last: c.last });
      }
      if (m.size) out.set(node, m);
    }
    return out;
  }

  /** The console lines of one chunk (no line endings). Only queues: the console never waits for matching. */
  onLines(node: string, lines: Lines | readonly string[], time: Date): void {
    if (!this.watches(node)) return;
    const chunk = Lines.from(lines);
    if (chunk.count === 0) return;
    this.queue.push({ node, lines: chunk, time });
    this.schedule();
  }

  /** Whether any pattern runs on the node's lines now: a node none watches need not be split into lines. */
  watches(node: string): boolean {
    return !this.closed && this.watchingNode(node).length > 0;
  }

  /** One console line: onLines with one line. */
  onLine(node: string, line: string, time: Date): void {
    this.onLines(node, [line], time);
  }

  /** Every pattern watching the node with its counters: the config's its labels select, then its own. */
  status(node: string, spec: WatchedNode): WatchState[] {
    const seen = this.state.get(node);
    const own = this.watching.get(node)?.own ?? [];
    // A pattern of the node the engine has not run yet (its lines are still to come) has counted nothing.
    const row = (id: number | undefined, pattern: string): WatchState => {
      const s = (id === undefined ? undefined : seen?.get(id)) ?? this.restored.get(node)?.get(pattern);
      return { pattern, count: s?.count ?? 0, last: s?.last ?? null, disabled: (id !== undefined && this.disabled.get(id)) || null };
    };
    return [
      ...this.configIds(spec.labels).map((id) => row(id, this.opts.patterns[id].name)),
      ...spec.watchPatterns.map((p) => row(own.find((id) => samePattern(this.patterns.get(id)!.spec, p)), p.name)),
    ];
  }

  stats(): WatchStats {
    return { ...this.counts, dropped: this.queue.dropped, queued: this.queue.size };
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.gatherTimer);
    if (this.inFlight) clearTimeout(this.inFlight.timer);
    this.inFlight = undefined;
    for (const w of this.webhooks.values()) w.close();
    await this.countersFile?.flush();
    await this.worker?.terminate();
    this.worker = undefined;
  }

  /**
   * A batch goes to the worker once batchLines wait, else after GATHER_MS: a worker that answers at
   * once would otherwise be handed each console chunk on its own, a message (and a copy) per chunk.
   */
  private schedule(): void {
    if (this.inFlight || this.immediate) return;
    if (this.queue.size >= this.batchLines) {
      clearTimeout(this.gatherTimer);
      this.gatherTimer = undefined;
      this.immediate = true;
      setImmediate(() => {
        this.immediate = false;
        this.dispatch();
      });
    } else if (!this.gatherTimer) {
      this.gatherTimer = setTimeout(() => {
        this.gatherTimer = undefined;
        this.dispatch();
      }, GATHER_MS);
      this.gatherTimer.unref();
    }
  }

  private dispatch(): void {
    if (this.closed || this.inFlight || this.queue.size === 0) return;
    const byNode = new Map<string, { group: WorkerGroup; parts: string[]; count: number; starts: number[]; times: Date[] }>();
    for (let taken = 0; taken < this.batchLines;) {
      const chunk = this.queue.shift();
      if (!chunk) break;
      const { node, lines, time } = chunk;
      taken += lines.count;
      let entry = byNode.get(node);
      if (!entry) {
        entry = { group: { patterns: this.watchingNode(node), text: '' }, parts: [], count: 0, starts: [], times: [] };
        byNode.set(node, entry);
      }
      if (entry.group.patterns.length === 0) continue;
      entry.starts.push(entry.count);
      entry.times.push(time);
      entry.count += lines.count;
      // A chunk's lines as one text, their line ends as they came (LINE_END).
      const max = this.maxLineLength;
      entry.parts.push(lines.longest <= max ? lines.lineText : lines.all.map((l) => (l.length > max ? l.slice(0, max) : l)).join('\n'));
    }
    const groups = [...byNode].filter(([, e]) => e.count > 0);
    if (groups.length === 0) return this.schedule();
    // One string per group crosses to the worker, not an array of lines: far cheaper to copy.
    for (const [, e] of groups) e.group.text = e.parts.join('\n');
    this.send(
      { seq: ++this.seq, groups: groups.map(([, e]) => e.group) },
      groups.map(([node, e]) => ({ node, starts: e.starts, times: e.times })),
    );
  }

  private send(batch: WorkerBatch, meta: InFlight['meta']): void {
    if (this.workerStale && this.worker) {
      // Not a restart for the metrics: nothing went wrong, the worker only lacks a node's new pattern.
      void this.worker.terminate();
      this.worker = undefined;
    }
    const worker = this.worker ?? this.startWorker();
    this.progress[PROGRESS_PATTERN] = -1;
    const flight: InFlight = { batch, meta };
    this.inFlight = flight;
    // The budget is the matching's, not the thread's start-up: on a loaded machine a new worker can
    // take longer to start than the budget, and that is no reason to skip a batch.
    const arm = () => {
      if (this.inFlight === flight) flight.timer = setTimeout(() => this.overBudget(), this.budgetMs);
    };
    if (this.online.has(worker)) arm();
    else worker.once('online', arm);
    worker.postMessage(batch);
  }

  private startWorker(): Worker {
    this.progress = new Int32Array(new SharedArrayBuffer(4));
    this.workerStale = false;
    const patterns = [...this.patterns].map(([id, p]) => ({ id, regex: p.spec.regex, flags: p.spec.flags ?? '' }));
    const worker = new Worker(WATCH_WORKER_SOURCE, { eval: true, workerData: { patterns, progress: this.progress.buffer, combine: this.combine } });
    worker.unref(); // an idle matcher does not keep the process alive
    worker.once('online', () => this.online.add(worker));
    worker.on('message', (reply: WorkerReply) => this.onReply(reply));
    worker.on('error', (err) => {
      this.opts.logger.error({ err: err.message }, 'watch pattern worker failed; restarting it');
      this.replaceWorker(worker);
    });
    this.worker = worker;
    return worker;
  }

  private onReply(reply: WorkerReply): void {
    const flight = this.inFlight;
    if (!flight || reply.seq !== flight.batch.seq) return;
    clearTimeout(flight.timer);
    this.inFlight = undefined;
    for (const [g, i, id] of reply.matches) {
      const m = flight.meta[g];
      m.lines ??= flight.batch.groups[g].text.split(LINE_END);
      this.matched(m.node, id, m.lines[i], m.times[chunkOf(m.starts, i)]);
    }
    this.schedule();
  }

  /**
   * The worker is stuck inside one pattern: disable that pattern, replace the worker and run the
   * same batch again without it (none of its matches were reported, so none are counted twice).
   */
  private overBudget(): void {
    const flight = this.inFlight;
    if (!flight || this.closed) return;
    this.inFlight = undefined;
    const id = Atomics.load(this.progress, PROGRESS_PATTERN);
    this.replaceWorker(this.worker);
    if (id === COMBINED) {
      // Stuck in a prefilter of several patterns: run the batch again pattern by pattern to find which.
      this.combine = false;
      return this.send({ ...flight.batch, seq: ++this.seq }, flight.meta);
    }
    if (!this.patterns.has(id)) {
      this.opts.logger.error({ budgetMs: this.budgetMs }, 'watch pattern worker did not answer in time; a batch of lines was skipped');
      return this.schedule();
    }
    this.disable(id, `took longer than ${this.budgetMs} ms on a batch of console lines`);
    const groups = flight.batch.groups.map((g) => ({ ...g, patterns: g.patterns.filter((p) => p !== id) }));
    this.send({ seq: ++this.seq, groups }, flight.meta);
  }

  private replaceWorker(worker: Worker | undefined): void {
    if (!worker || worker !== this.worker) return;
    this.worker = undefined;
    this.counts.restarts++;
    void worker.terminate();
    if (this.inFlight) {
      // A crash mid-batch: that batch is lost, the next one gets a fresh worker.
      clearTimeout(this.inFlight.timer);
      this.inFlight = undefined;
      this.schedule();
    }
  }

  private disable(id: number, why: string): void {
    const name = this.patterns.get(id)!.spec.name;
    this.disabled.set(id, why);
    this.combine = true; // the culprit is out; the next worker may combine again
    this.opts.logger.error({ pattern: name, budgetMs: this.budgetMs }, `watch pattern disabled: ${why}`);
    // Every node it watched (of those whose lines it has run on) hears of it, so its page and the sinks say why it went quiet.
    for (const [node, w] of this.watching) {
      if (!w.ids.includes(id)) continue;
      w.ids = w.ids.filter((other) => other !== id);
      this.emit(node, { event: 'watch-disabled', message: `watch pattern ${name} disabled: ${why}`, pattern: name });
    }
  }

  private matched(node: string, id: number, line: string, time: Date): void {
    const spec = this.patterns.get(id)?.spec;
    if (!spec) return; // a node's pattern removed while its batch was out
    const iso = time.toISOString();
    let perNode = this.state.get(node);
    if (!perNode) this.state.set(node, (perNode = new Map()));
    const s = perNode.get(id);
    if (s) {
      s.count++;
      s.last = { line, time: iso };
    } else {
      // Its first match since the restart carries on from the count kept before it.
      const before = this.restored.get(node)?.get(spec.name);
      this.restored.get(node)?.delete(spec.name);
      perNode.set(id, { count: (before?.count ?? 0) + 1, last: { line, time: iso } });
    }
    this.countersFile?.changed();
    this.counts.matches++;
    this.emit(node, { event: 'watch', message: `watch ${spec.name}: ${line}`, pattern: spec.name, line, time: iso });
    if (spec.webhook) this.webhook(spec.webhook).send({ node, pattern: spec.name, line, time: iso });
  }

  private emit(node: string, event: SessionEvent): void {
    try {
      this.opts.onEvent(node, event);
    } catch (err) {
      this.opts.logger.error({ node, err: (err as Error).message }, 'watch event handler failed');
    }
  }

  private webhook(url: string): WebhookSender {
    let sender = this.webhooks.get(url);
    if (!sender) this.webhooks.set(url, (sender = new WebhookSender(url, this.opts.logger, this.opts.webhook)));
    return sender;
  }

  /** Ids of the patterns that run on the node's lines, worked out again whenever its session has a new node object. */
  private watchingNode(node: string): number[] {
    const spec = this.opts.nodeOf(node);
    const prev = this.watching.get(node);
    if (prev && prev.node === spec) return prev.ids;
    const own = this.ownPatterns(node, prev?.own ?? [], spec?.watchPatterns ?? []);
    const ids = [...this.configIds(spec?.labels), ...own].filter((id) => !this.disabled.has(id));
    this.watching.set(node, { node: spec, own, ids });
    return ids;
  }

  private configIds(labels: Record<string, string> | undefined): number[] {
    return this.opts.patterns.flatMap((spec, id) => (watchesNode(spec, labels) ? [id] : []));
  }

  /** Ids for a node's own patterns: an unchanged one keeps its id and counters, a new or changed one gets a new id. */
  private ownPatterns(node: string, prev: number[], specs: NodeWatchPattern[]): number[] {
    const ids = specs.map((spec) => {
      const kept = prev.find((id) => samePattern(this.patterns.get(id)!.spec, spec));
      if (kept !== undefined) return kept;
      const id = this.nextId++;
      this.patterns.set(id, { spec, node });
      this.workerStale = true;
      return id;
    });
    for (const id of prev) if (!ids.includes(id)) this.drop(id);
    return ids;
  }

  /** A node's own pattern that is gone (or changed): its definition, counters — also those kept from before a restart — and disabled mark. */
  private drop(id: number): void {
    const p = this.patterns.get(id);
    if (p?.node !== undefined) {
      this.state.get(p.node)?.delete(id);
      if (this.restored.get(p.node)?.delete(p.spec.name)) this.countersFile?.changed();
    }
    this.patterns.delete(id);
    this.disabled.delete(id);
  }

}

/** Index of the chunk holding line i, given each chunk's first line (ascending). */
function chunkOf(starts: number[], i: number): number {
  let [lo, hi] = [0, starts.length - 1];
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= i) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
