// The per-node console log: every byte, appended to <logDir>/<node>.log, rotated by size
// (`<node>.log.1` is the newest rotated file, as logrotate names them).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { createStream, type RotatingFileStream } from 'rotating-file-stream';
import type { Logger } from 'pino';
import { isValidNodeName } from '../model/node.js';
import type { ConsoleOutput, SessionEvent } from './types.js';

export interface LogFileOptions {
  dir: string;
  /** Rotate when the file reaches this many bytes. */
  maxBytes: number;
  /** Rotated files kept besides the live one. */
  keep: number;
  /** Prefix every line with an ISO-8601 time (`lineStamp`): what log search goes by. */
  timestamps: boolean;
}

/** The prefix of a stamped line: `[2026-11-23T19:40:33.123Z] `, always STAMP_BYTES long. */
export function lineStamp(time: Date): string {
  return `[${time.toISOString()}] `;
}
export const STAMP_BYTES = 27;

/** The log path of a node, refusing any name that could leave the log directory. */
export function logPath(dir: string, node: string): string {
  if (!isValidNodeName(node)) throw new Error(`refusing log path for invalid node name ${JSON.stringify(node)}`);
  const root = path.resolve(dir);
  const file = path.resolve(root, `${node}.log`);
  if (path.dirname(file) !== root) throw new Error(`log path for ${JSON.stringify(node)} escapes ${root}`);
  return file;
}

/** Every file of a node's log, live one first, then rotated ones newest first. */
export function logFiles(dir: string, node: string, keep: number): string[] {
  const live = logPath(dir, node);
  return [live, ...Array.from({ length: keep }, (_, i) => `${live}.${i + 1}`)];
}

export class ConsoleLogFile implements ConsoleOutput {
  private readonly stream: RotatingFileStream;
  private atLineStart = true;
  /** Whether the last byte written ended a line (CR or LF): an event then needs no line break of its own. */
  private endsLine = true;
  private failed = false;

  constructor(readonly node: string, private readonly opts: LogFileOptions, logger: Logger) {
    const file = logPath(opts.dir, node);
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o750 }); // once per session start, not per write
    this.stream = createStream((index) => (index ? `${path.basename(file)}.${index}` : path.basename(file)), {
      path: path.dirname(file),
      size: `${Math.max(1, Math.ceil(opts.maxBytes / 1024))}K`,
      rotate: Math.max(1, opts.keep),
      mode: 0o640,
    });
    this.stream.on('error', (err) => {
      // A full disk must not take the console down: say it once, keep serving clients.
      if (!this.failed) logger.error({ node, err: err.message }, 'console log write failed');
      this.failed = true;
    });
  }

  write(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.stream.write(this.opts.timestamps ? this.stamp(chunk) : chunk);
    const last = chunk[chunk.length - 1];
    this.endsLine = last === 0x0a || last === 0x0d;
  }

  /** An event on a line of its own: `[-- <time> <message> --]`. */
  event(event: SessionEvent): void {
    this.write(Buffer.from(`${this.endsLine ? '' : '\r\n'}[-- ${new Date().toISOString()} ${event.message} --]\r\n`));
  }

  /**
   * The chunk with the time at the start of every line. Worked on as Latin-1 text, which maps each
   * byte to one character and back, so any bytes (not only UTF-8) come out as they went in: one
   * native replace instead of a Buffer per line (that was a tenth of a flooding console's CPU).
   */
  private stamp(chunk: Buffer): Buffer {
    const prefix = lineStamp(new Date());
    const text = chunk.toString('latin1');
    // A chunk's final LF starts a line whose time is when its first byte comes.
    const endsLine = text.charCodeAt(text.length - 1) === 0x0a;
    const body = endsLine ? text.slice(0, -1) : text;
    const stamped = (this.atLineStart ? prefix : '') + body.replaceAll('\n', `\n${prefix}`) + (endsLine ? '\n' : '');
    this.atLineStart = endsLine;
    return Buffer.from(stamped, 'latin1');
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.stream.destroyed || this.stream.writableFinished) return resolve();
      this.stream.end(() => resolve());
    });
  }
}
