// One node's console: the single live driver connection, shared by every attached client.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { ConsoleDriver, ConsoleDriverDefinition, HostKeyStore } from '../drivers/types.js';
import type { NodeSpec } from '../model/node.js';
import type { ConsoleOutput, SessionEvent } from '../outputs/types.js';
import { parseBreakSequence } from './break-sequence.js';
import { ESCAPE_HELP, EscapeParser, type EscapeAction } from './escape.js';
import { RingBuffer } from './ring-buffer.js';
import type { ClientMode, ClientView, ConsoleClient, ConsoleMeter, SessionOptions, SessionState, SessionStatus } from './types.js';

const LF = 0x0a;
const CR = 0x0d;
/** A connection that stayed up this long resets the reconnect backoff. */
const STABLE_AFTER_MS = 10_000;
/** Output gathered in one event-loop turn is sent on at this size at the latest. */
const COALESCE_MAX_BYTES = 64 * 1024;
/** A flush at least this big means the console is streaming, not echoing keystrokes. */
const BULK_CHUNK_BYTES = 1024;

export interface SessionDeps {
  driver: ConsoleDriverDefinition;
  hostKeys: HostKeyStore;
  /** Opens the node's log (and later, other outputs) when the session starts. */
  openOutput(node: string): ConsoleOutput;
  options: SessionOptions;
  logger: Logger;
  meter?: ConsoleMeter;
}

/** A client's place in a session: its mode and escape-sequence state. */
export class Attachment {
  mode: ClientMode;
  readonly attachedAt = new Date();
  lastInputAt = Date.now();
  /** Whether the last byte this client was sent ended a line. */
  lineStart = true;
  toldReadOnly = false;
  readonly escape = new EscapeParser();

  constructor(
    readonly id: number,
    readonly session: ConsoleSession,
    readonly client: ConsoleClient,
    mode: ClientMode,
    /** Whether this client may ever write (a read-only token may not). */
    readonly canWrite: boolean,
  ) {
    this.mode = mode;
  }

  /** Bytes typed by the client. */
  input(data: Buffer): void {
    this.session.handleInput(this, data);
  }

  resize(cols: number, rows: number): void {
    if (this.mode === 'rw') this.session.resize(cols, rows);
  }

  /** The transport's queue went below its high-water mark. */
  drained(): void {
    this.session.clientDrained();
  }

  /** The transport closed; leave the session. */
  detach(): void {
    this.session.detach(this);
  }

  /** Switchboard ends this client (its token expired or was revoked): it is told why, then closed. */
  kick(reason: string): void {
    this.notice(reason);
    this.session.detach(this, reason);
    this.client.close(reason);
  }

  send(data: Buffer): void {
    if (data.length === 0) return;
    this.client.send(data);
    const last = data[data.length - 1];
    this.lineStart = last === LF || last === CR;
  }

  notice(message: string): void {
    const inline = Buffer.from(`${this.lineStart ? '' : '\r\n'}[${message}]\r\n`);
    this.client.notice(message, inline);
    this.lineStart = true;
  }

  view(): ClientView {
    return {
      id: this.id,
      kind: this.client.kind,
      identity: this.client.identity,
      from: this.client.from,
      mode: this.mode,
      attachedAt: this.attachedAt.toISOString(),
      idleSeconds: Math.floor((Date.now() - this.lastInputAt) / 1000),
    };
  }

  label(): string {
    return `${this.client.identity}@${this.client.from}`;
  }
}

/**
 * Events: 'state' (SessionStatus) whenever the state or the client count changes;
 * 'client' ('attach' | 'detach' | 'force', ClientView, reason?: string) for the audit log, the
 * reason when Switchboard ended the client (the session stopped, it was too slow, its token died).
 */
export class ConsoleSession extends EventEmitter {
  private spec: NodeSpec;
  private deps: SessionDeps;
  private state: SessionState = 'disconnected';
  private since = new Date();
  private lastError: string | null = null;
  private driver?: ConsoleDriver;
  /** Increases with every connect attempt, so a stale driver's events are ignored. */
  private generation = 0;
  private readonly attachments = new Set<Attachment>();
  private readonly ring: RingBuffer;
  private output?: ConsoleOutput;
  private nextClientId = 1;
  private backoffMs: number;
  private connectedAt = 0;
  private retryTimer?: NodeJS.Timeout;
  private graceTimer?: NodeJS.Timeout;
  private slowTimer?: NodeJS.Timeout;
  private paused = false;
  private stopped = false;
  private cols: number;
  private rows: number;
  /** Whether the stream (as the log holds it) is at the start of a line. */
  private streamLineStart = true;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private flushScheduled = false;
  private lastFlushAt = 0;
  private lastFlushBytes = 0;

  constructor(spec: NodeSpec, deps: SessionDeps) {
    super();
    this.spec = spec;
    this.deps = deps;
    this.ring = new RingBuffer(deps.options.replayBytes);
    this.backoffMs = deps.options.reconnectMinMs;
    this.cols = deps.options.cols;
    this.rows = deps.options.rows;
  }

  get name(): string {
    return this.spec.name;
  }

  /** The node's latest spec: the output sinks select nodes by its labels, the watch patterns by its labels and its own patterns. */
  get nodeSpec(): NodeSpec {
    return this.spec;
  }

  private get logger(): Logger {
    return this.deps.logger;
  }

  /** Begin: an always-on console connects now; an ondemand one waits for its first client. */
  start(): void {
    this.output ??= this.deps.openOutput(this.spec.name);
    if (this.wanted()) void this.connect();
  }

  status(): SessionStatus {
    return {
      state: this.state,
      since: this.since.toISOString(),
      lastError: this.lastError,
      clients: this.attachments.size,
      info: this.driver?.info?.() ?? {},
    };
  }

  /** The mode of each attached client. */
  clientModes(): ClientMode[] {
    return [...this.attachments].map((a) => a.mode);
  }

  attach(client: ConsoleClient, mode: ClientMode, opts: { canWrite?: boolean; replay?: boolean } = {}): Attachment {
    const canWrite = opts.canWrite ?? true;
    const a = new Attachment(this.nextClientId++, this, client, canWrite ? mode : 'ro', canWrite);
    a.notice(`${this.spec.name}: attached ${a.mode === 'rw' ? 'read-write' : 'read-only (spy)'}; Ctrl-E c ? for help`);
    if (this.state !== 'connected') a.notice(this.stateLine());
    if (opts.replay ?? true) a.send(this.ring.snapshot());
    for (const other of this.attachments) other.notice(`${a.label()} attached ${a.mode}`);
    this.attachments.add(a);
    clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    this.logger.info({ node: this.name, client: a.id, identity: client.identity, from: client.from, mode: a.mode }, 'client attached');
    this.client('attach', a);
    this.emitState();
    if (this.wanted() && !this.driver && !this.retryTimer) void this.connect();
    return a;
  }

  /** `reason` when Switchboard ends the client rather than the client leaving. */
  detach(a: Attachment, reason?: string): void {
    if (!this.attachments.delete(a)) return;
    this.logger.info({ node: this.name, client: a.id, identity: a.client.identity, reason }, 'client detached');
    this.client('detach', a, reason);
    for (const other of this.attachments) other.notice(`${a.label()} detached`);
    this.emitState();
    this.clientDrained(); // a slow client leaving may let the console run again
    if (this.spec.ondemand && this.attachments.size === 0 && !this.stopped) {
      this.graceTimer = setTimeout(() => {
        this.graceTimer = undefined;
        if (this.attachments.size === 0) void this.disconnect('ondemand: no clients attached');
      }, this.deps.options.ondemandGraceMs);
    }
  }

  /** Apply a new spec: a changed console is reconnected; clients stay attached. */
  async reconfigure(spec: NodeSpec, driver: ConsoleDriverDefinition): Promise<void> {
    const consoleChanged = JSON.stringify([spec.driver, spec.params]) !== JSON.stringify([this.spec.driver, this.spec.params]);
    this.spec = spec;
    this.deps = { ...this.deps, driver };
    if (consoleChanged && this.driver) {
      this.event('console reconfigured; reconnecting', { event: 'reconfigured' });
      await this.disconnect('reconfigured');
    }
    if (this.wanted() && !this.driver && !this.retryTimer) void this.connect();
    else if (!this.wanted() && this.attachments.size === 0 && this.driver) await this.disconnect('ondemand: no clients attached');
  }

  /** End the session for good: clients are told why and disconnected, the log is flushed. */
  async stop(reason: string): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.graceTimer);
    clearTimeout(this.slowTimer);
    for (const a of [...this.attachments]) {
      a.notice(reason);
      a.client.close(reason);
      this.client('detach', a, reason);
    }
    this.attachments.clear();
    await this.disconnect(reason);
    this.logger.debug({ node: this.name }, 'session disconnected');
    await this.output?.close();
    this.output = undefined;
    this.logger.debug({ node: this.name }, 'session stopped');
  }

  // --- the driver connection -------------------------------------------------------------

  private wanted(): boolean {
    if (this.stopped || !this.spec.consoleEnabled) return false;
    return !this.spec.ondemand || this.attachments.size > 0 || this.graceTimer !== undefined;
  }

  private async connect(): Promise<void> {
    this.retryTimer = undefined;
    if (this.driver || !this.wanted()) return;
    const gen = ++this.generation;
    this.setState('connecting');
    const size = { cols: this.cols, rows: this.rows };
    const driver = this.deps.driver.create(this.spec.params, {
      node: this.name,
      ...size,
      logger: this.logger.child({ node: this.name, driver: this.spec.driver }),
      hostKeys: this.deps.hostKeys,
    });
    this.driver = driver;
    driver.on('data', (chunk: Buffer) => {
      if (gen !== this.generation) return;
      this.deps.meter?.bytes(this.spec.driver, 'out', chunk.length);
      this.collect(chunk);
    });
    driver.once('close', (reason: string) => {
      if (gen !== this.generation) return;
      this.driver = undefined;
      this.down(reason, false);
    });
    try {
      await driver.open();
    } catch (err) {
      if (gen !== this.generation) return;
      this.driver = undefined;
      this.down((err as Error).message, true);
      return;
    }
    if (gen !== this.generation) return; // stopped or reconfigured while opening
    // A client's size that came while the driver was opening found nothing to resize yet (no pty,
    // no channel): the driver has the size it was made with.
    if (this.cols !== size.cols || this.rows !== size.rows) driver.resize?.(this.cols, this.rows);
    this.connectedAt = Date.now();
    this.paused = false;
    this.lastError = null; // a console that is up again has no current error
    this.setState('connected');
    this.event('console up', { event: 'session-up' });
  }

  private down(reason: string, failed: boolean): void {
    this.lastError = reason;
    this.setState(failed ? 'error' : 'disconnected');
    // A console that stayed up a while starts over at the shortest delay; one that keeps
    // failing to open, or dies at once, waits longer each time.
    if (!failed && Date.now() - this.connectedAt > STABLE_AFTER_MS) this.backoffMs = this.deps.options.reconnectMinMs;
    if (!this.wanted()) {
      this.event(`console down: ${reason}`, { event: 'session-down', reason });
      return;
    }
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.deps.options.reconnectMaxMs);
    this.event(`console ${failed ? 'failed' : 'down'}: ${reason}; reconnecting in ${formatDelay(delay)}`, { event: 'reconnecting', reason, failed, retryMs: delay });
    this.logger.warn({ node: this.name, driver: this.spec.driver, reason, retryMs: delay }, failed ? 'console failed' : 'console down');
    this.deps.meter?.reconnect(this.spec.driver);
    this.retryTimer = setTimeout(() => void this.connect(), delay);
  }

  private async disconnect(reason: string): Promise<void> {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const driver = this.driver;
    this.generation++; // the driver's own 'close' is no longer ours to handle
    this.driver = undefined;
    if (driver) {
      await driver.close().catch((err: Error) => this.logger.warn({ node: this.name, err: err.message }, 'console close failed'));
      this.event(`console down: ${reason}`, { event: 'session-down', reason });
    }
    this.setState('disconnected');
  }

  private setState(state: SessionState): void {
    if (state === this.state) return;
    this.state = state;
    this.since = new Date();
    this.logger.info({ node: this.name, driver: this.spec.driver, state, ...(state === 'error' ? { reason: this.lastError } : {}) }, 'session state');
    this.emitState();
  }

  private emitState(): void {
    this.emit('state', this.status());
  }

  private stateLine(): string {
    return this.lastError ? `console ${this.state}: ${this.lastError}` : `console ${this.state}`;
  }

  // --- output ----------------------------------------------------------------------------

  /**
   * Output read in one turn of the event loop goes out as one chunk: a busy console then costs
   * one log write and one socket write per client per turn instead of one per 4 KiB pty read.
   */
  private collect(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= COALESCE_MAX_BYTES) this.flushPending();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      // A console streaming bulk output waits a millisecond to gather more; typing and its echo
      // (small chunks, or the first after a pause) go out in this same turn.
      if (this.lastFlushBytes >= BULK_CHUNK_BYTES && performance.now() - this.lastFlushAt < 2) setTimeout(this.flushBound, 1);
      else setImmediate(this.flushBound);
    }
  }

  private readonly flushBound = () => this.flushPending();

  private flushPending(): void {
    this.flushScheduled = false;
    this.lastFlushAt = performance.now();
    this.lastFlushBytes = this.pendingBytes;
    if (this.pending.length === 0) return;
    const chunk = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.fanout(chunk);
  }

  private fanout(chunk: Buffer): void {
    this.ring.push(chunk);
    this.output?.write(chunk);
    const last = chunk[chunk.length - 1];
    this.streamLineStart = last === LF || last === CR;
    const high = this.deps.options.clientHighWaterBytes;
    let behind = false;
    for (const a of this.attachments) {
      a.send(chunk);
      if (a.client.bufferedBytes() > high) behind = true;
    }
    if (behind && !this.paused) this.pause();
  }

  /** A session event: every client is told, and the outputs (log, sinks) keep it. */
  private event(message: string, detail: { event: string; [field: string]: unknown }): void {
    this.flushPending(); // what the console said before the event comes first
    for (const a of this.attachments) a.notice(message);
    this.record({ ...detail, message });
  }

  /** A client came, went or took the write: a record for the outputs, a 'client' event for the audit log. */
  private client(kind: 'attach' | 'detach' | 'force', a: Attachment, reason?: string): void {
    const c = a.client;
    if (kind === 'attach') this.record({ event: 'attach', message: `${a.label()} attached ${a.mode}`, client: c.identity, from: c.from, mode: a.mode });
    else if (kind === 'detach') {
      this.record({ event: 'detach', message: `${a.label()} detached${reason ? `: ${reason}` : ''}`, client: c.identity, from: c.from, ...(reason ? { reason } : {}) });
    } else this.record({ event: 'force-write', message: `${a.label()} forced write access`, client: c.identity, from: c.from, mode: a.mode });
    this.emit('client', kind, a.view(), reason);
  }

  /**
   * An event from outside the session (an operator's note through the API): the clients are told
   * as they are of the session's own events and of a note typed at the console, the outputs keep it.
   */
  announce(event: SessionEvent): void {
    this.event(event.message, event);
  }

  /** An event for the outputs only: the log keeps it on a line of its own, the sinks as a record. */
  private record(event: SessionEvent): void {
    this.flushPending(); // what the console said before the event comes first
    if (this.output?.event) this.output.event(event);
    else this.output?.write(Buffer.from(`${this.streamLineStart ? '' : '\r\n'}[-- ${new Date().toISOString()} ${event.message} --]\r\n`));
    this.streamLineStart = true;
  }

  // --- flow control ----------------------------------------------------------------------

  /** Hold the console back (as a serial line would) until slow clients catch up. */
  private pause(): void {
    if (!this.driver?.pause) return;
    this.paused = true;
    this.driver.pause();
    this.slowTimer = setTimeout(() => this.dropSlowClients(), this.deps.options.slowClientMs);
  }

  clientDrained(): void {
    if (!this.paused) return;
    const high = this.deps.options.clientHighWaterBytes;
    for (const a of this.attachments) if (a.client.bufferedBytes() > high) return;
    clearTimeout(this.slowTimer);
    this.paused = false;
    this.driver?.resume?.();
  }

  private dropSlowClients(): void {
    const high = this.deps.options.clientHighWaterBytes;
    for (const a of [...this.attachments]) {
      if (a.client.bufferedBytes() > high) {
        this.logger.warn({ node: this.name, client: a.id, identity: a.client.identity }, 'dropping slow client');
        const reason = 'client too slow: it held the console back';
        this.attachments.delete(a);
        a.client.close(reason);
        this.client('detach', a, reason);
      }
    }
    this.emitState();
    this.clientDrained();
  }

  // --- input -----------------------------------------------------------------------------

  resize(cols: number, rows: number): void {
    if (!(cols > 0 && rows > 0)) return;
    this.cols = cols;
    this.rows = rows;
    this.driver?.resize?.(cols, rows);
  }

  handleInput(a: Attachment, data: Buffer): void {
    if (!this.attachments.has(a)) return;
    for (const action of a.escape.feed(data)) this.apply(a, action);
  }

  private apply(a: Attachment, action: EscapeAction): void {
    switch (action.type) {
      case 'data':
        return this.write(a, action.data);
      case 'detach':
        a.notice('disconnected');
        this.detach(a);
        a.client.close('detached');
        return;
      case 'help':
        return a.notice(ESCAPE_HELP.join('\r\n'));
      case 'who':
        return a.notice(this.whoText());
      case 'spy':
        return this.setMode(a, 'ro', 'spy: you are read-only');
      case 'attach':
        if (!a.canWrite) return a.notice('attach refused: your access is read-only');
        return this.setMode(a, 'rw', 'attached read-write');
      case 'force':
        if (!a.canWrite) return a.notice('force refused: your access is read-only');
        for (const other of this.attachments) {
          if (other !== a && other.mode === 'rw') this.setMode(other, 'ro', `${a.label()} forced write access; you are read-only (spy)`);
        }
        this.setMode(a, 'rw', 'you have exclusive write access');
        this.logger.info({ node: this.name, client: a.id, identity: a.client.identity }, 'client forced write');
        this.client('force', a);
        return;
      case 'replay':
        a.notice(`replay: last ${this.deps.options.replayLines} lines`);
        a.send(this.ring.tailLines(this.deps.options.replayLines));
        return a.notice('end of replay');
      case 'break':
        return void this.sendBreakSequence(a, action.sequence);
      case 'note-start':
        return a.client.send(Buffer.from(`${a.lineStart ? '' : '\r\n'}[note: `));
      case 'echo':
        return a.client.send(action.data);
      case 'note':
        a.client.send(Buffer.from(']\r\n'));
        a.lineStart = true;
        if (action.text) this.event(`note by ${a.label()}: ${action.text}`, { event: 'note', client: a.client.identity, from: a.client.from, text: action.text });
        return;
      case 'cancelled':
        a.client.send(Buffer.from(' (cancelled)]\r\n'));
        a.lineStart = true;
        return;
      case 'unknown':
        return a.notice(`unknown escape command '${action.char}'; Ctrl-E c ? for help`);
    }
  }

  private write(a: Attachment, data: Buffer): void {
    a.lastInputAt = Date.now();
    if (a.mode !== 'rw') {
      if (!a.toldReadOnly) a.notice('read-only (spy): input dropped; Ctrl-E c a to attach read-write');
      a.toldReadOnly = true;
      return;
    }
    if (!this.driver || this.state !== 'connected') {
      a.notice(`input dropped: ${this.stateLine()}`);
      return;
    }
    this.driver.write(data);
    this.deps.meter?.bytes(this.spec.driver, 'in', data.length);
  }

  private setMode(a: Attachment, mode: ClientMode, message: string): void {
    a.mode = mode;
    a.toldReadOnly = false;
    a.client.modeChanged?.(mode);
    a.notice(message);
  }

  private whoText(): string {
    const lines = [...this.attachments].map((o) => {
      const v = o.view();
      return `  ${String(v.id).padStart(3)}  ${v.mode}  ${o.label().padEnd(28)} ${v.kind.padEnd(4)} idle ${v.idleSeconds}s`;
    });
    return [`who is attached to ${this.name}:`, ...lines].join('\r\n');
  }

  private async sendBreakSequence(a: Attachment, n: number): Promise<void> {
    if (a.mode !== 'rw') return a.notice('break refused: you are read-only');
    const seq = this.deps.options.breakSequences[String(n === 0 ? 1 : n)];
    if (!seq) return a.notice(`break sequence ${n} is not configured`);
    for (const step of parseBreakSequence(seq)) {
      const driver = this.driver;
      if (!driver) return a.notice('break not sent: console is not connected');
      if (step.type === 'bytes') driver.write(step.data);
      else if (step.type === 'delay') await new Promise((r) => setTimeout(r, step.ms));
      else if (driver.sendBreak) await driver.sendBreak();
      else return a.notice(`driver ${this.spec.driver} cannot send a BREAK`);
    }
    this.logger.info({ node: this.name, client: a.id, sequence: n }, 'break sent');
    a.notice(`break sequence ${n} sent`);
  }
}

function formatDelay(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const s = ms / 1000;
  if (s < 60) return `${Number.isInteger(s) ? s : s.toFixed(1)}s`;
  return `${Math.floor(s / 60)}m${Math.round(s % 60)}s`;
}
