// tailFile: hand on the lines appended to a file until methodTimeout, like `tail -F -n 0`. It
// follows the name: a truncated file is read again from its start; a file renamed away (log
// rotation) is drained, then the new file at the path is read from its start; a file that does
// not exist yet is waited for. fs.watch on the directory says when to look; it can miss events
// (network file systems, a directory created later), so a slow poll looks as well.
import { watch, type FSWatcher } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { ChunkDelivery, type ChunkReceiver, type TextChunk } from './chunk-delivery.js';
import { LineBatcher } from './line-batcher.js';

export const POLL_MS = 1000;
const READ_BYTES = 64 * 1024;

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
  private fh: FileHandle | undefined;
  private identity = { dev: 0, ino: 0 };
  private position = 0;
  private atStart = true;
  private everOpened = false;
  private startedSaid = false;
  /** The open file is no longer the one at the path (renamed away or deleted). */
  private detached = false;
  private bytes = 0;
  private lines = 0;
  private watcher: FSWatcher | undefined;
  private checking: Promise<void> | undefined;
  private again = false;
  private ended: { reason: TailResult['reason']; error?: string } | undefined;
  private finish: (reason: TailResult['reason'], error?: string) => void = () => {};

  constructor(private readonly file: string, private readonly opts: TailFileOptions) {
    this.delivery = new ChunkDelivery({
      onChunk: opts.onChunk,
      backlogCapBytes: opts.backlogCapBytes,
      onFailure: (err) => this.finish('error', `onChunk: ${err.message}`),
    });
    this.batcher = new LineBatcher({ flushMs: opts.flushMs, maxLineBytes: opts.maxLineBytes, emit: (text) => this.delivery.send({ text }) });
  }

  async run(): Promise<TailResult> {
    const finished = new Promise<void>((resolve) => {
      this.finish = (reason, error) => {
        this.ended ??= { reason, ...(error !== undefined && { error }) };
        resolve();
      };
    });
    const timer = setTimeout(() => this.finish('timeout'), this.opts.timeoutMs);
    const onAbort = () => this.finish('aborted');
    this.opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (this.opts.signal?.aborted) onAbort();
    const poll = setInterval(() => {
      this.watchDirectory();
      this.check();
    }, this.opts.pollMs ?? POLL_MS);
    this.watchDirectory();
    this.check();

    await finished;
    clearTimeout(timer);
    clearInterval(poll);
    this.opts.signal?.removeEventListener('abort', onAbort);
    this.watcher?.close();
    await this.checking;
    await this.fh?.close();
    this.batcher.end();
    await this.delivery.idle();
    const { reason, error } = this.ended!;
    return { reason, bytes: this.bytes, lines: this.lines, ...(!this.everOpened && reason !== 'error' && { notFound: true }), ...(error !== undefined && { error }) };
  }

  private watchDirectory(): void {
    if (this.watcher || this.ended) return;
    const base = path.basename(this.file);
    try {
      this.watcher = watch(path.dirname(this.file), (_event, name) => {
        // A renamed-away file is still written under its new name.
        if (!name || name === base || this.detached || !this.fh) this.check();
      });
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = undefined; // the poll sets it up again
      });
    } catch {
      // The directory does not exist (yet): the poll looks, and tries again.
    }
  }

  /** One look at a time; a change seen meanwhile makes one more. */
  private check(): void {
    if (this.ended) return;
    if (this.checking) {
      this.again = true;
      return;
    }
    this.checking = (async () => {
      do {
        this.again = false;
        await this.follow();
      } while (this.again && !this.ended);
    })()
      .catch((err: NodeJS.ErrnoException) => this.finish('error', err.message))
      .finally(() => {
        this.checking = undefined;
      });
  }

  private async follow(): Promise<void> {
    const opened = !!this.fh || (await this.openAtPath());
    // After the first look (the file open at its end, or known missing), before anything is read.
    if (!this.startedSaid) {
      this.startedSaid = true;
      this.opts.onStarted?.();
    }
    if (!opened) return;
    await this.readToEnd();
    const named = await statIfExists(this.file);
    this.detached = !named || named.ino !== this.identity.ino || named.dev !== this.identity.dev;
    if (!named || !this.detached) return;
    // Rotated: what was written to the old file before the new one appeared comes first.
    await this.readToEnd();
    await this.fh!.close();
    this.fh = undefined;
    if (await this.openAtPath()) await this.readToEnd();
  }

  private async openAtPath(): Promise<boolean> {
    const fromEnd = this.atStart && (this.opts.fromEnd ?? true);
    this.atStart = false;
    // By name first: a directory is refused, and a FIFO is never opened (open would block).
    const named = await statIfExists(this.file);
    if (!named) return false;
    if (!named.isFile()) throw new Error(`${this.file}: ${named.isDirectory() ? 'is a directory' : 'is not a regular file'}`);
    let fh: FileHandle;
    try {
      fh = await open(this.file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false; // gone again
      throw err;
    }
    const st = await fh.stat();
    this.fh = fh;
    this.identity = { dev: st.dev, ino: st.ino };
    this.detached = false;
    this.everOpened = true;
    this.position = fromEnd ? st.size : 0;
    this.opts.onOpen?.({ path: this.file, position: this.position });
    return true;
  }

  private async readToEnd(): Promise<void> {
    const fh = this.fh!;
    if ((await fh.stat()).size < this.position) this.position = 0; // truncated: start again
    while (!this.ended) {
      const buf = Buffer.allocUnsafe(READ_BYTES);
      const { bytesRead } = await fh.read(buf, 0, READ_BYTES, this.position);
      if (bytesRead === 0) return;
      const bytes = buf.subarray(0, bytesRead);
      this.position += bytesRead;
      this.bytes += bytesRead;
      this.lines += countNewlines(bytes);
      this.batcher.push(bytes);
    }
  }
}

async function statIfExists(file: string) {
  try {
    return await stat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw err;
  }
}

function countNewlines(bytes: Buffer): number {
  let n = 0;
  for (let i = bytes.indexOf(0x0a); i !== -1; i = bytes.indexOf(0x0a, i + 1)) n++;
  return n;
}
