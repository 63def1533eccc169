// Streamed replies handed to the receiver one at a time: onChunk may return a Promise (the reply
// is being published) and is not called again until it settles. Batches made meanwhile wait in
// a backlog, merged where they can be; past a cap the oldest are dropped, and the next chunk
// delivered says how many bytes were lost.
import { BATCH_BYTES } from './line-batcher.js';

export const BACKLOG_CAP_BYTES = 4 * 1024 * 1024;

export interface TextChunk {
  text: string;
  /** Bytes of output dropped just before this chunk because the receiver fell behind. */
  dropped?: number;
}

export type ChunkReceiver<C extends TextChunk> = (chunk: C) => void | Promise<void>;

export interface ChunkDeliveryOptions<C extends TextChunk> {
  onChunk: ChunkReceiver<C>;
  backlogCapBytes?: number;
  /** Waiting chunks are merged up to this size... */
  mergeBytes?: number;
  /** ...when they come from the same source (e.g. both stdout). */
  sameSource?: (a: C, b: C) => boolean;
  /** onChunk threw or rejected: nothing more is delivered. */
  onFailure?: (err: Error) => void;
}

interface Waiting<C> {
  chunk: C;
  bytes: number;
}

export class ChunkDelivery<C extends TextChunk> {
  private backlog: Waiting<C>[] = [];
  private backlogBytes = 0;
  private dropped = 0;
  private busy = false;
  private idleWaiters: (() => void)[] = [];
  /** Why delivery stopped, when onChunk failed. */
  failure: Error | undefined;

  constructor(private readonly opts: ChunkDeliveryOptions<C>) {}

  send(chunk: C): void {
    if (this.failure) return;
    const bytes = Buffer.byteLength(chunk.text);
    const last = this.backlog.at(-1);
    const merge = this.opts.sameSource ?? (() => true);
    if (last && last.bytes + bytes <= (this.opts.mergeBytes ?? BATCH_BYTES) && merge(last.chunk, chunk)) {
      last.chunk = { ...last.chunk, text: last.chunk.text + chunk.text };
      last.bytes += bytes;
    } else {
      this.backlog.push({ chunk, bytes });
    }
    this.backlogBytes += bytes;
    const cap = this.opts.backlogCapBytes ?? BACKLOG_CAP_BYTES;
    while (this.backlogBytes > cap && this.backlog.length > 1) {
      const oldest = this.backlog.shift()!;
      this.backlogBytes -= oldest.bytes;
      this.dropped += oldest.bytes;
    }
    void this.pump();
  }

  /** Settles when every chunk sent so far has been delivered (or delivery failed). */
  idle(): Promise<void> {
    if (!this.busy && this.backlog.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.backlog.length) {
        const { chunk, bytes } = this.backlog.shift()!;
        this.backlogBytes -= bytes;
        const dropped = this.dropped;
        this.dropped = 0;
        await this.opts.onChunk(dropped ? { ...chunk, dropped } : chunk);
      }
    } catch (err) {
      this.failure = err instanceof Error ? err : new Error(String(err));
      this.backlog = [];
      this.backlogBytes = 0;
      this.opts.onFailure?.(this.failure);
    } finally {
      this.busy = false;
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }
}
