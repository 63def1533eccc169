// Where console bytes and session events go besides the attached clients: the per-node log file
// (log-file.ts) and the output sinks (tcp, udp, nats: one file each in this folder), which take one
// JSON record per console line or event.
import type { RecordBatch } from './record-batch.js';

export interface ConsoleOutput {
  write(chunk: Buffer): void;
  /** Something that happened to the session besides its bytes (optional: the log file writes events as bytes). */
  event?(event: SessionEvent): void;
  /** Flush what is buffered and release the resource. */
  close(): Promise<void>;
}

/** What a session reports besides its output. */
export interface SessionEvent {
  /** session-up, session-down, reconnecting, attach, detach, force-write, power, note, watch, ... */
  event: string;
  /** One human line, as clients and the log see it. */
  message: string;
  /** More detail: reason, client identity (admin or token id, never a token), mode, pattern name, ... */
  [field: string]: unknown;
}

/** One record as the sinks send it: {"node","type","message","time"} plus event fields. */
export interface OutputRecord {
  node: string;
  type: 'console' | 'event';
  message: string;
  /** ISO 8601, the daemon's clock. */
  time: string;
  [field: string]: unknown;
}

export interface SinkStats {
  sent: number;
  /** Records dropped because the sink's bounded queue was full (oldest first). */
  dropped: number;
  queued: number;
  connected: boolean;
}

/** What a sink logs with: the daemon's logger, or the sink thread's stand-in that hands each entry to it. */
export interface SinkLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

/** A destination for records. A slow or dead sink never slows the console or other sinks. */
export interface Sink {
  readonly name: string;
  /** Never blocks, never throws: sent, or queued (bounded by records; the oldest dropped and counted). */
  send(batch: RecordBatch): void;
  stats(): SinkStats;
  close(): Promise<void>;
}
