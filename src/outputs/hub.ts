// Where a console's output and events go besides its clients: the node's log file, and the
// configured sinks (tcp, udp, nats) as one JSON record per line or event, each sink taking the
// nodes its label selector matches. Watchers (the watch-pattern engine) see every line too.
// Lines reach the sinks through a LineSplitter per session, a chunk's lines as one RecordBatch;
// nothing here waits on a sink.
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { errors } from '../errors.js';
import { DEFAULT_MAX_QUEUED, parseAddress, selects, tlsSetting, type OutputConfig, type OutputType } from './config.js';
import { LineSplitter, type Lines } from './line-splitter.js';
import { NatsSink } from './nats-sink.js';
import { RecordBatch } from './record-batch.js';
import { TcpSink } from './tcp-sink.js';
import type { ConsoleOutput, OutputRecord, SessionEvent, Sink, SinkStats } from './types.js';
import { UdpSink } from './udp-sink.js';

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
}

/** Sees every console line of every node (ANSI stripped), a chunk's lines at a time, e.g. to match watch patterns. */
export type LineObserver = (node: string, lines: Lines, time: Date) => void;

export interface OutputStats extends SinkStats {
  name: string;
  type: OutputType;
}

interface Entry {
  config: OutputConfig;
  sink: Sink;
}

export class OutputHub {
  private readonly observers = new Set<LineObserver>();
  /** The output of each running session, so events from outside (power, notes) land in its log too. */
  private readonly sessions = new Map<string, SessionOutput>();

  private constructor(private readonly opts: OutputHubOptions, private readonly entries: Entry[]) {}

  /** Reads the CA files the outputs name and starts connecting; a receiver that is down is retried, not fatal. */
  static async create(opts: OutputHubOptions): Promise<OutputHub> {
    const entries: Entry[] = [];
    for (const config of opts.outputs) entries.push({ config, sink: await createSink(config, opts.logger) });
    return new OutputHub(opts, entries);
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
    else this.deliver(node, RecordBatch.of(eventRecord(node, event, new Date())), labels);
  }

  /** Returns the removal. An observer that throws is logged and kept. */
  addLineObserver(observer: LineObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  stats(): OutputStats[] {
    return this.entries.map(({ config, sink }) => ({ name: config.name, type: config.type, ...sink.stats() }));
  }

  /** After the sessions have stopped: what is queued gets a last chance to leave. */
  async close(): Promise<void> {
    await Promise.all(this.entries.map(({ sink }) => sink.close()));
  }

  // --- for SessionOutput ---------------------------------------------------------------------

  /** Whether console bytes need splitting into lines at all: with no sink and no observer they do not. */
  get wantsLines(): boolean {
    return this.entries.length > 0 || this.observers.size > 0;
  }

  get splitterOptions() {
    return { maxBytes: this.opts.maxLineBytes, idleMs: this.opts.idleFlushMs };
  }

  /** The console lines of one chunk, all of one time. */
  lines(node: string, lines: Lines, time: Date): void {
    for (const observer of this.observers) {
      try {
        observer(node, lines, time);
      } catch (err) {
        this.opts.logger.error({ node, err: (err as Error).message }, 'line observer failed');
      }
    }
    // The records are made only for a node some sink takes.
    const sinks = this.sinksFor(node);
    if (sinks.length === 0) return;
    const batch = RecordBatch.console(node, lines, time.toISOString());
    for (const sink of sinks) sink.send(batch);
  }

  deliver(node: string, batch: RecordBatch, labels?: Record<string, string>): void {
    for (const sink of this.sinksFor(node, labels)) sink.send(batch);
  }

  /** The sinks whose label selector takes the node (its labels as given, else its session's). */
  private sinksFor(node: string, labels?: Record<string, string>): Sink[] {
    if (this.entries.length === 0) return [];
    const nodeLabels = labels ?? this.opts.labelsOf(node) ?? {};
    return this.entries.filter(({ config }) => selects(config, nodeLabels)).map(({ sink }) => sink);
  }

  closed(node: string, output: SessionOutput): void {
    if (this.sessions.get(node) === output) this.sessions.delete(node);
  }
}

/** One session's output: every byte to the log file, lines and events to the hub. */
class SessionOutput implements ConsoleOutput {
  private splitter?: LineSplitter;

  constructor(private readonly node: string, private readonly log: ConsoleOutput, private readonly hub: OutputHub) {}

  write(chunk: Buffer): void {
    this.log.write(chunk);
    if (!this.hub.wantsLines) return;
    this.splitter ??= new LineSplitter(this.hub.splitterOptions, (lines) => this.hub.lines(this.node, lines, new Date()));
    this.splitter.push(chunk);
  }

  event(event: SessionEvent): void {
    this.splitter?.flush(); // the console's words before the event come first
    const time = new Date();
    if (this.log.event) this.log.event(event);
    else this.log.write(Buffer.from(`[-- ${time.toISOString()} ${event.message} --]\r\n`));
    this.hub.deliver(this.node, RecordBatch.of(eventRecord(this.node, event, time)));
  }

  async close(): Promise<void> {
    this.splitter?.close();
    this.hub.closed(this.node, this);
    await this.log.close();
  }
}

function eventRecord(node: string, event: SessionEvent, time: Date): OutputRecord {
  // The record's own keys are not the event's to change.
  const { message, node: _node, type: _type, time: _time, ...fields } = event;
  return { node, type: 'event', message, time: time.toISOString(), ...fields };
}

async function createSink(o: OutputConfig, logger: Logger): Promise<Sink> {
  const maxQueued = o.maxQueued ?? DEFAULT_MAX_QUEUED;
  const t = tlsSetting(o);
  const tls = t && { insecure: t.insecure, ca: t.ca === undefined ? undefined : await readCa(o.name, t.ca) };
  switch (o.type) {
    case 'tcp':
      return new TcpSink({ name: o.name, ...parseAddress(o), tls, maxQueued, logger });
    case 'udp':
      return new UdpSink({ name: o.name, ...parseAddress(o), maxQueued, logger });
    case 'nats':
      return new NatsSink({ name: o.name, url: o.url!, tls, maxQueued, logger });
  }
}

async function readCa(name: string, file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new errors.CONFIG(`outputs.${name}.tls.ca: cannot read ${file}: ${(err as Error).message}`);
  }
}
