// The fleet audit log: one JSON line per thing that happened to a message, in <data-dir>/fleet/audit.jsonl.
// Only ids, nodes, method names, states, codes and sizes go in: a message's argv and its output
// may hold anything (passwords on command lines, secrets in files), so they never do.
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { FleetMessageState } from '../store/types.js';

/** Besides the states a message moves through: refused is a failed whose code is REFUSED_*. */
export type AuditEvent = 'submitted' | 'published' | 'refused' | 'reply-file' | FleetMessageState;

export interface AuditEntry {
  event: AuditEvent;
  id: string;
  node: string;
  method: string;
  state?: string;
  exitCode?: number | null;
  /** An error code (TIMEOUT, REFUSED_REPLAYED, PUBLISH_FAILED, EACCES, ...), never its message text. */
  error?: string;
  /** Who submitted, as the API knows them. */
  by?: string;
  /** Bytes of output (stdout + stderr) in a reply, or written to a reply file. */
  bytes?: number;
}

export const AUDIT_FILE_NAME = 'audit.jsonl';

export class AuditLog {
  /** Writes one after another, so lines never interleave and keep the order they were logged in. */
  private tail: Promise<void> = Promise.resolve();
  /** Lines appended while a write was under way: they go out together in the next one (group commit). */
  private pending = '';
  private pendingEntries: AuditEntry[] = [];
  private next?: Promise<void>;

  private constructor(
    private readonly file: FileHandle,
    private readonly log: Logger,
  ) {}

  static async open(fleetDir: string, log: Logger): Promise<AuditLog> {
    await mkdir(fleetDir, { recursive: true, mode: 0o750 });
    return new AuditLog(await open(path.join(fleetDir, AUDIT_FILE_NAME), 'a', 0o640), log);
  }

  /**
   * Never throws: a failed append is logged, and the message goes on. Resolves once the lines are
   * written, and so are all appended before them. What is appended while a write is under way
   * waits for the next write, with everything else appended meanwhile: a busy fleet's hundreds of
   * state changes a second cost a few writes, not one each.
   */
  append(entries: AuditEntry | AuditEntry[]): Promise<void> {
    const list = Array.isArray(entries) ? entries : [entries];
    if (list.length === 0) return this.flushed();
    const ts = new Date().toISOString();
    for (const entry of list) this.pending += `${JSON.stringify({ ts, ...entry })}\n`;
    this.pendingEntries.push(...list.slice(0, 1));
    this.next ??= this.tail = this.tail.then(() => this.write());
    return this.next;
  }

  /** Resolves once every line appended so far is written. */
  flushed(): Promise<void> {
    return this.next ?? this.tail;
  }

  private async write(): Promise<void> {
    const [text, firsts] = [this.pending, this.pendingEntries];
    [this.pending, this.pendingEntries, this.next] = ['', [], undefined];
    await this.file.appendFile(text).catch((err: Error) => {
      const first = firsts[0];
      this.log.error({ err, id: first?.id, node: first?.node, event: first?.event, appends: firsts.length }, 'fleet audit log append failed');
    });
  }

  async close(): Promise<void> {
    await this.flushed();
    await this.file.close();
  }
}
