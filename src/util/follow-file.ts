// Following a file by its name, like `tail -F`: what is appended is handed on as it comes; a
// truncated file is read again from its start; a file renamed away (log rotation) is read to its
// end, then the new file at the name from its start; a file that does not exist yet is waited
// for. fs.watch on the directory says when to look; it can miss events (network file systems, a
// directory made later), so a slow poll looks as well and sets the watch up again.
// Here, below outputs/ and fleet/, because the daemon's `logs tail -f` and the agent's tailFile
// both follow files and neither layer may import the other's.
import { watch, type FSWatcher } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

export const POLL_MS = 1000;
const READ_BYTES = 64 * 1024;

export interface FollowFileOptions {
  /** Ends the follow: the generator returns, its file and watch closed. */
  signal: AbortSignal;
  /**
   * Where the file found at the first look is read from: a byte offset, 'end' to skip what it
   * holds, or a function given that very file (and its size) that returns the offset, and bytes
   * to hand on first (the last lines, say): what it read and what is followed then are one file,
   * whatever is renamed meanwhile. A file opened later (it appeared, or replaced a rotated one) is
   * read from 0.
   */
  from: number | 'end' | ((fh: FileHandle, size: number) => Promise<{ position: number; first?: Buffer }>);
  pollMs?: number;
  /** A file was opened at the name (at the first look, when it appears, after rotation) and is read from `position`. */
  onOpen?: (position: number) => void;
  /** The first look is done: the file is open, or known missing and watched for. What is appended from now on is read. */
  onStarted?: () => void;
}

/**
 * The bytes of `file` from `opts.from` on, across truncation and rotation, until the signal
 * aborts. Nothing more is read until the consumer asks for the next chunk. A path that is not a
 * regular file, or a file that cannot be read, throws.
 */
export function followFile(file: string, opts: FollowFileOptions): AsyncGenerator<Buffer> {
  return new FileFollower(file, opts).chunks();
}

class FileFollower {
  private fh: FileHandle | undefined;
  private identity = { dev: 0, ino: 0 };
  private position = 0;
  /** The open file is no longer the one at the name (renamed away or deleted). */
  private detached = false;
  /** Handed on before anything read: what a `from` function gave. */
  private first: Buffer | undefined;
  private watcher: FSWatcher | undefined;
  /** Makes the follower look again; a look under way is followed by one more. */
  private wake: () => void = () => {};

  constructor(private readonly file: string, private readonly opts: FollowFileOptions) {}

  async *chunks(): AsyncGenerator<Buffer> {
    const { signal } = this.opts;
    const onAbort = () => this.wake();
    signal.addEventListener('abort', onAbort);
    const poll = setInterval(() => {
      this.watchDirectory();
      this.wake();
    }, this.opts.pollMs ?? POLL_MS);
    this.watchDirectory();
    try {
      let first = true;
      while (!signal.aborted) {
        const changed = new Promise<void>((resolve) => (this.wake = resolve));
        if (first) {
          first = false;
          await this.openAtName(this.opts.from);
          // After the first look (the file open, or known missing), before anything is read.
          this.opts.onStarted?.();
          if (this.first?.length) yield this.first;
          this.first = undefined;
        } else if (!this.fh) {
          await this.openAtName(0);
        }
        if (this.fh) yield* this.readAcrossRotation();
        await changed;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      clearInterval(poll);
      this.watcher?.close();
      await this.fh?.close();
    }
  }

  private watchDirectory(): void {
    if (this.watcher) return;
    const base = path.basename(this.file);
    try {
      this.watcher = watch(path.dirname(this.file), (_event, name) => {
        // A renamed-away file is still written under its new name.
        if (!name || name === base || this.detached || !this.fh) this.wake();
      });
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = undefined; // the poll sets it up again
      });
    } catch {
      // The directory does not exist (yet): the poll looks, and tries again.
    }
  }

  private async *readAcrossRotation(): AsyncGenerator<Buffer> {
    // The name is looked at first, so what the old file got before the name moved on is read below.
    const named = await statIfExists(this.file);
    this.detached = !named || named.ino !== this.identity.ino || named.dev !== this.identity.dev;
    yield* this.readToEnd();
    if (!named || !this.detached || this.opts.signal.aborted) return;
    // Rotated: the old file is read to its end; the new one is read from its start.
    await this.fh!.close();
    this.fh = undefined;
    if (await this.openAtName(0)) yield* this.readToEnd();
  }

  private async openAtName(from: FollowFileOptions['from']): Promise<boolean> {
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
    if (typeof from === 'function') ({ position: this.position, first: this.first } = await from(fh, st.size));
    else this.position = from === 'end' ? st.size : from;
    this.opts.onOpen?.(this.position);
    return true;
  }

  private async *readToEnd(): AsyncGenerator<Buffer> {
    const fh = this.fh!;
    if ((await fh.stat()).size < this.position) this.position = 0; // truncated: start again
    const buf = Buffer.allocUnsafe(READ_BYTES);
    while (!this.opts.signal.aborted) {
      const { bytesRead } = await fh.read(buf, 0, READ_BYTES, this.position);
      if (bytesRead === 0) return;
      this.position += bytesRead;
      // A copy: the consumer may keep it, and buf is read into again.
      yield Buffer.from(buf.subarray(0, bytesRead));
    }
  }
}

/** The line ends (LF) in a chunk of a followed file. */
export function countNewlines(bytes: Buffer): number {
  let n = 0;
  for (let i = bytes.indexOf(0x0a); i !== -1; i = bytes.indexOf(0x0a, i + 1)) n++;
  return n;
}

async function statIfExists(file: string) {
  try {
    return await stat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw err;
  }
}
