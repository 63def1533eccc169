// The console lines' thread. The daemon's thread hands it each console chunk as bytes, once however
// many sinks take it, and goes back to reading consoles; here the chunk is split into lines, which
// are made into JSON records for every sink that takes the node and, for a node watch patterns
// watch, handed back (one string per chunk) for the watch engine. A console floods in a pty's
// 4 KiB reads, and its pace is set by how soon the daemon's thread reads again: splitting, the
// records and the sinks' socket writes (half that thread's time with three sinks and 20 patterns)
// now run beside it, on the other core, not in between.
import { parentPort, workerData } from 'node:worker_threads';
import { readlinkSync } from 'node:fs';
import os from 'node:os';
import { LineSplitter, type Lines, type LinesData } from './line-splitter.js';
import { RecordBatch } from './record-batch.js';
import { openSink, type ResolvedOutput } from './sinks.js';
import type { SinkLogger, SinkStats } from './types.js';

export interface SinkThreadData {
  outputs: ResolvedOutput[];
  maxLineBytes: number;
  idleFlushMs: number;
  /** Int32Array slot 0: console bytes this thread has taken in (wrapping at 2^32), for the daemon's bound on what it hands over. */
  taken: SharedArrayBuffer;
}

/** The daemon's thread → this one. `sinks`: indices into outputs, those whose selector takes the node. */
export type ToSinkThread =
  /**
   * Console bytes, read at `time` (ms since the epoch); `watch`: their lines go back for the watch
   * patterns; `gap`: bytes before these were skipped (the partial line before them goes out alone).
   */
  | { t: 'bytes'; node: string; data: Uint8Array; time: number; sinks: number[]; watch: boolean; gap: boolean }
  /** Records made already (events): after the node's partial line when `flush`. */
  | { t: 'records'; node: string; text: string; count: number; sinks: number[]; flush: boolean }
  /** The node's session ended: its partial line goes out. */
  | { t: 'end'; node: string }
  | { t: 'stats'; id: number }
  /** Queued records get a last chance to leave, then the thread ends. */
  | { t: 'close' };

export type FromSinkThread =
  /** Watched nodes' lines, a chunk (or a partial line sent after the idle time) each, gathered for WATCH_GATHER_MS. */
  | { t: 'lines'; chunks: WatchedChunk[] }
  | { t: 'log'; level: 'info' | 'warn'; fields: Record<string, unknown>; message: string }
  | { t: 'stats'; id: number; stats: SinkStats[] };

export interface WatchedChunk {
  node: string;
  lines: LinesData;
  time: number;
}

/**
 * A watched node's lines go back to the daemon's thread gathered, this long or until
 * WATCH_GATHER_LINES wait: a message per console chunk (thousands a second in a flood) woke the
 * daemon's thread that often, between its reads of the consoles. The watch engine gathers for
 * longer than this anyway.
 */
const WATCH_GATHER_MS = 5;
const WATCH_GATHER_LINES = 4096;

interface NodeLines {
  splitter: LineSplitter;
  sinks: number[];
  watch: boolean;
  /** The time of the chunk being split; undefined when a partial line goes out after the idle time. */
  time?: number;
}

function run(port: NonNullable<typeof parentPort>, data: SinkThreadData): void {
  const post = (m: FromSinkThread) => port.postMessage(m);
  const logger: SinkLogger = {
    info: (fields, message) => post({ t: 'log', level: 'info', fields, message }),
    warn: (fields, message) => post({ t: 'log', level: 'warn', fields, message }),
  };
  const sinks = data.outputs.map((o) => openSink(o, logger));
  const taken = new Int32Array(data.taken);
  const nodes = new Map<string, NodeLines>();
  let watched: WatchedChunk[] = [];
  let watchedLines = 0;
  let watchTimer: NodeJS.Timeout | undefined;
  const postWatched = () => {
    clearTimeout(watchTimer);
    watchTimer = undefined;
    if (watched.length === 0) return;
    post({ t: 'lines', chunks: watched });
    watched = [];
    watchedLines = 0;
  };
  const watch = (node: string, lines: Lines, time: number) => {
    watched.push({ node, lines: lines.data(), time });
    watchedLines += lines.count;
    if (watchedLines >= WATCH_GATHER_LINES) postWatched();
    else watchTimer ??= setTimeout(postWatched, WATCH_GATHER_MS);
  };
  const send = (batch: RecordBatch, to: number[]) => {
    for (const i of to) sinks[i].send(batch);
  };

  const linesOf = (node: string): NodeLines => {
    let n = nodes.get(node);
    if (!n) {
      const entry: NodeLines = {
        sinks: [],
        watch: false,
        splitter: new LineSplitter({ maxBytes: data.maxLineBytes, idleMs: data.idleFlushMs }, (lines) => {
          const time = entry.time ?? Date.now();
          if (entry.sinks.length > 0) send(RecordBatch.console(node, lines, new Date(time).toISOString()), entry.sinks);
          if (entry.watch) watch(node, lines, time);
        }),
      };
      nodes.set(node, (n = entry));
    }
    return n;
  };

  port.on('message', (m: ToSinkThread) => {
    switch (m.t) {
      case 'bytes': {
        const n = linesOf(m.node);
        n.sinks = m.sinks;
        n.watch = m.watch;
        if (m.gap) n.splitter.flush();
        n.time = m.time;
        n.splitter.push(m.data);
        n.time = undefined;
        Atomics.add(taken, 0, m.data.length);
        return;
      }
      case 'records':
        if (m.flush) nodes.get(m.node)?.splitter.flush();
        return send(new RecordBatch(m.node, m.text, m.count), m.sinks);
      case 'end':
        nodes.get(m.node)?.splitter.close();
        nodes.delete(m.node);
        return;
      case 'stats':
        return post({ t: 'stats', id: m.id, stats: sinks.map((s) => s.stats()) });
      case 'close':
        for (const n of nodes.values()) n.splitter.close();
        nodes.clear();
        postWatched();
        // A sink's timers would keep the thread alive: it ends here.
        void Promise.all(sinks.map((s) => s.close())).then(() => process.exit(0));
    }
  });
}

/**
 * Consoles come first: on a machine short of CPU this thread gives way to the daemon's (which reads
 * the consoles and writes their logs), and its sinks drop their oldest records, counted, rather
 * than slow a console down. Linux only (a thread's own nice value); elsewhere it runs as it is.
 */
const LINES_THREAD_NICE = 10;

function lowerPriority(): void {
  try {
    os.setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), LINES_THREAD_NICE);
  } catch {
    // not Linux, or not allowed: the same thread, at the daemon's priority
  }
}

if (parentPort) {
  lowerPriority();
  run(parentPort, workerData as SinkThreadData);
}
