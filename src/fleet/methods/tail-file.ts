// tailFile: hand on the lines appended to a file until methodTimeout, like `tail -F -n 0`. The
// file is followed by its name (util/follow-file.ts: truncation, rotation, a file that does not
// exist yet); here its bytes are cut into batches of lines and delivered as replies.
import path from 'node:path';
import { countNewlines, followFile } from '../../util/follow-file.js';
import { ChunkDelivery, type ChunkReceiver, type TextChunk } from './chunk-delivery.js';
import { LineBatcher } from './line-batcher.js';

export interface TailFileOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** Not called again until the Promise it returns settles; throwing or rejecting ends the tail. */
  onChunk: ChunkReceiver<TextChunk>;
  /** True (the default): skip what the file holds at the start. A file that appears later, or replaces a rotated one, is read whole. */
  fromEnd?: boolean;
  flushMs?: number;
  maxLineBytes?: number;
  backlogCapBytes?: number;
  pollMs?: number;
  /** A file was opened at the path (at the start, when it appears, after rotation) and is read from `position`. */
  onOpen?: (opened: { path: string; position: number }) => void;
  /** The first look is done: the file is open at its end, or known missing and watched for. What is appended from now on is read. */
  onStarted?: () => void;
}

export interface TailResult {
  reason: 'timeout' | 'aborted' | 'error';
  /** What was read from the file(s). */
  bytes: number;
  lines: number;
  /** No file was ever found at the path. */
  notFound?: boolean;
  error?: string;
}

/** A path relative to the agent's working directory; settles after every chunk has been delivered. */
export function tailFile(file: string, opts: TailFileOptions): Promise<TailResult> {
  return new FileTail(path.resolve(file), opts).run();
}

class FileTail {
  private readonly delivery: ChunkDelivery<TextChunk>;
  private readonly batcher: LineBatcher;
  private readonly stop = new AbortController();
  private everOpened = false;
  private bytes = 0;
  private lines = 0;
  private ended: { reason: TailResult['reason']; error?: string } | undefined;

  constructor(private readonly file: string, private readonly opts: TailFileOptions) {
    this.delivery = new ChunkDelivery({
      onChunk: opts.onChunk,
      backlogCapBytes: opts.backlogCapBytes,
      onFailure: (err) => this.finish('error', `onChunk: ${err.message}`),
    });
    this.batcher = new LineBatcher({ flushMs: opts.flushMs, maxLineBytes: opts.maxLineBytes, emit: (text) => this.delivery.send({ text }) });
  }

  async run(): Promise<TailResult> {
    const timer = setTimeout(() => this.finish('timeout'), this.opts.timeoutMs);
    const onAbort = () => this.finish('aborted');
    this.opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (this.opts.signal?.aborted) onAbort();
    try {
      const appended = followFile(this.file, {
        signal: this.stop.signal,
        from: this.opts.fromEnd ?? true ? 'end' : 0,
        pollMs: this.opts.pollMs,
        onOpen: (position) => {
          this.everOpened = true;
          this.opts.onOpen?.({ path: this.file, position });
        },
        onStarted: this.opts.onStarted,
      });
      for await (const bytes of appended) {
        this.bytes += bytes.length;
        this.lines += countNewlines(bytes);
        this.batcher.push(bytes);
      }
    } catch (err) {
      this.finish('error', (err as Error).message);
    } finally {
      clearTimeout(timer);
      this.opts.signal?.removeEventListener('abort', onAbort);
    }
    this.batcher.end();
    await this.delivery.idle();
    const { reason, error } = this.ended!;
    return { reason, bytes: this.bytes, lines: this.lines, ...(!this.everOpened && reason !== 'error' && { notFound: true }), ...(error !== undefined && { error }) };
  }

  /** The first reason wins; the follow stops. */
  private finish(reason: TailResult['reason'], error?: string): void {
    this.ended ??= { reason, ...(error !== undefined && { error }) };
    this.stop.abort();
  }
}
