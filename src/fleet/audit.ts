// The fleet audit log: one JSON line per thing that happened to a message, in <data-dir>/fleet/audit.jsonl.
// Only ids, nodes, method names, states, codes and sizes go in: a message's argv and its output
// may hold anything (passwords on command lines, secrets in files), so they never do.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { JsonlLog } from '../audit/log.js';
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

/** The fleet's audit file: the audit log's writer (rotation, group commit, lines kept through a failed write). */
class FleetAuditFile extends JsonlLog<AuditEntry> {}

/** How the file rotates: the daemon's auditMaxBytes and auditKeep, as for <data-dir>/audit.jsonl. */
export interface AuditRotation {
  maxBytes: number;
  keep: number;
}

export class AuditLog {
  private constructor(private readonly file: FleetAuditFile) {}

  static async open(fleetDir: string, logger: Logger, rotation: AuditRotation): Promise<AuditLog> {
    await mkdir(fleetDir, { recursive: true, mode: 0o750 });
    return new AuditLog(await FleetAuditFile.open({ file: path.join(fleetDir, AUDIT_FILE_NAME), ...rotation, logger }));
  }

  /**
   * Never throws: a failed write is logged, its lines kept and tried again, and the message goes on.
   * Resolves once the lines are written (or the write failed), and so are all appended before them;
   * what is appended while a write is under way goes out with the next.
   */
  append(entries: AuditEntry | AuditEntry[]): Promise<void> {
    const ts = new Date().toISOString();
    for (const entry of Array.isArray(entries) ? entries : [entries]) this.file.record(entry, ts);
    return this.file.flush();
  }

  /** Resolves once every line appended so far is written. */
  flushed(): Promise<void> {
    return this.file.flush();
  }

  close(): Promise<void> {
    return this.file.close();
  }
}
