// The audit log: one JSON line per security-relevant action, appended to <dataDir>/audit.jsonl
// (0640) and rotated by size (`audit.jsonl.1` is the newest rotated file, as logrotate names them).
// The writer (JsonlLog) also keeps the fleet's audit log (fleet/audit.ts).
// Writes go through one queue, so lines never interleave; a failed write is logged, never thrown,
// and its lines are kept (up to MAX_BACKLOG, oldest dropped and counted) and written again with
// backoff, so a full disk that is cleared loses nothing recorded meanwhile.
import { open, readFile, rename, stat, type FileHandle } from 'node:fs/promises';
import type { Logger } from 'pino';
import { Reconnector } from '../outputs/backoff.js';

export interface AuditEntry {
  ts: string;
  /** What was done: `console.attach`, `console.detach`, `console.force`, `power`, `token.create`, `api`, ... */
  action: string;
  /** 'admin', `token:<id>`, `raw:<port>` for an unauthenticated raw port, or 'unauthenticated'. Never a secret. */
  identity: string;
  /** Source address. */
  from?: string;
  node?: string;
  method?: string;
  route?: string;
  status?: number;
  mode?: string;
  /** How long a console client stayed attached (on detach). */
  durationMs?: number;
  /** Facts without secrets: which fields changed, not their values. */
  details?: Record<string, unknown>;
}

/** What the API and the daemon's hooks need: record, and never wait or fail. */
export interface AuditRecorder {
  record(entry: Omit<AuditEntry, 'ts'>): void;
}

export interface AuditFilter {
  since?: Date;
  until?: Date;
  node?: string;
  /** An exact action, or a prefix ending in '.' (`console.` matches every console action). */
  action?: string;
  identity?: string;
  limit: number;
}

/** Lines kept in memory while the file cannot be written. */
export const MAX_BACKLOG = 10_000;
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30_000;

export interface AuditLogOptions {
  file: string;
  /** Rotate before a write would take the file past this many bytes. */
  maxBytes: number;
  /** Rotated files kept besides the live one. */
  keep: number;
  logger: Logger;
  /** First wait before a failed write is tried again (doubling up to 30 s); default 1 s. */
  retryMinMs?: number;
}

/** An append-only JSONL file, rotated by size; each entry gets `ts`. */
export class JsonlLog<E extends object> {
  private handle?: FileHandle;
  private size = 0;
  private pending: string[] = [];
  private writing: Promise<void> = Promise.resolve();
  private failed = false;
  private closed = false;
  /** Lines lost because the backlog was full while the file could not be written. */
  private lost = 0;
  /** Tries a failed write again, 1 s (retryMinMs) after the failure, doubling up to 30 s. */
  private readonly retry: Reconnector;

  /** Use open(): it opens the file first. */
  constructor(private readonly opts: AuditLogOptions) {
    this.retry = new Reconnector(() => (this.writing = this.writing.then(() => this.drain())), { minMs: opts.retryMinMs ?? RETRY_MIN_MS, maxMs: RETRY_MAX_MS });
  }

  static async open<L extends JsonlLog<object>>(this: new (opts: AuditLogOptions) => L, opts: AuditLogOptions): Promise<L> {
    const log = new this(opts);
    await log.reopen();
    return log;
  }

  /** Every file of the log, live one first, then rotated ones newest first. */
  files(): string[] {
    return [this.opts.file, ...Array.from({ length: this.opts.keep }, (_, i) => `${this.opts.file}.${i + 1}`)];
  }

  /** `ts`: when, if not now (several entries recorded together share one). */
  record(entry: E, ts = new Date().toISOString()): void {
    if (this.closed) return;
    this.pending.push(`${JSON.stringify({ ts, ...entry })}\n`);
    // One writer at a time; whatever queued meanwhile goes out in the next batch.
    if (this.pending.length === 1) this.writing = this.writing.then(() => this.drain());
  }

  /** Resolves when everything recorded so far is in the file (or has failed and been logged). */
  flush(): Promise<void> {
    return this.writing;
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    this.retry.stop();
    await this.handle?.close().catch(() => {});
    this.handle = undefined;
  }

  private async drain(): Promise<void> {
    const lines = this.pending;
    this.pending = [];
    let written = 0; // lines known to be in the file
    try {
      // As many lines per write as fit before the file must rotate.
      let chunk = '';
      let chunkBytes = 0;
      let inChunk = 0;
      for (const line of lines) {
        const bytes = Buffer.byteLength(line);
        if (this.size + chunkBytes > 0 && this.size + chunkBytes + bytes > this.opts.maxBytes) {
          await this.write(chunk, chunkBytes);
          written += inChunk;
          [chunk, chunkBytes, inChunk] = ['', 0, 0];
          await this.rotate();
        }
        chunk += line;
        chunkBytes += bytes;
        inChunk++;
      }
      await this.write(chunk, chunkBytes);
      if (this.failed) this.opts.logger.info({ file: this.opts.file, lines: lines.length, lost: this.lost }, 'audit log writable again; kept lines written');
      this.failed = false;
      this.lost = 0;
      this.retry.connected();
    } catch (err) {
      // A full disk must not take the daemon down: say it once per outage, keep the lines, try again.
      if (this.failed) this.opts.logger.debug({ file: this.opts.file, err: (err as Error).message, kept: lines.length }, 'audit log still not writable');
      else this.opts.logger.error({ file: this.opts.file, err: (err as Error).message }, 'audit log write failed; keeping lines in memory and retrying');
      this.failed = true;
      await this.handle?.close().catch(() => {});
      this.handle = undefined;
      this.pending = [...lines.slice(written), ...this.pending];
      const excess = this.pending.length - MAX_BACKLOG;
      if (excess > 0) {
        this.pending.splice(0, excess);
        this.lost += excess;
      }
      if (!this.closed) this.retry.retry();
    }
  }

  private async write(chunk: string, bytes: number): Promise<void> {
    if (!bytes) return;
    if (!this.handle) await this.reopen();
    await this.handle!.write(chunk);
    this.size += bytes;
  }

  private async rotate(): Promise<void> {
    await this.handle?.close();
    this.handle = undefined;
    const files = this.files();
    for (let i = files.length - 1; i > 0; i--) {
      await rename(files[i - 1], files[i]).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    }
    await this.reopen();
  }

  protected async reopen(): Promise<void> {
    this.handle = await open(this.opts.file, 'a', 0o640);
    this.size = (await stat(this.opts.file)).size;
  }
}

export class AuditLog extends JsonlLog<Omit<AuditEntry, 'ts'>> implements AuditRecorder {
  /** Entries newest first, across the live and rotated files. */
  async query(filter: AuditFilter): Promise<AuditEntry[]> {
    await this.flush();
    const out: AuditEntry[] = [];
    for (const file of this.files()) {
      const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return '';
        throw err;
      });
      const lines = text.split('\n');
      for (let i = lines.length - 1; i >= 0; i--) {
        if (!lines[i]) continue;
        let entry: AuditEntry;
        try {
          entry = JSON.parse(lines[i]) as AuditEntry;
        } catch {
          continue; // a line cut short by a crash or a full disk
        }
        const ts = Date.parse(entry.ts);
        // Files are in time order, newest first: past `since`, nothing older can match.
        if (filter.since && ts < filter.since.getTime()) return out;
        if (!matches(entry, ts, filter)) continue;
        out.push(entry);
        if (out.length >= filter.limit) return out;
      }
    }
    return out;
  }
}

function matches(e: AuditEntry, ts: number, f: AuditFilter): boolean {
  if (f.until && ts > f.until.getTime()) return false;
  if (f.node !== undefined && e.node !== f.node) return false;
  if (f.identity !== undefined && e.identity !== f.identity) return false;
  if (f.action !== undefined && e.action !== f.action && !(f.action.endsWith('.') && e.action.startsWith(f.action))) return false;
  return true;
}
