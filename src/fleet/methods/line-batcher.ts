// Output cut into batches of whole lines for streamed replies: a command printing 100k lines
// makes a few dozen replies, not 100k. A batch goes out when it is full, or flushMs after its
// first line; a last line without its newline goes out once the output has been idle flushMs.
// The batches of one source, concatenated, are its bytes exactly: a line longer than
// maxLineBytes is cut (on a UTF-8 character boundary) and its pieces may fall in two batches.

export const FLUSH_MS = 100;
/** A batch is sent when it reaches this size; JSON-escaped it still fits a 1 MB NATS payload. */
export const BATCH_BYTES = 32 * 1024;
export const MAX_LINE_BYTES = 16 * 1024;

export interface LineBatcherOptions {
  flushMs?: number;
  batchBytes?: number;
  maxLineBytes?: number;
  /** A batch: whole lines, pieces of overlong ones, or the idle / final partial line. */
  emit(text: string): void;
}

const NEWLINE = 0x0a;

export class LineBatcher {
  private readonly flushMs: number;
  private readonly batchBytes: number;
  private readonly maxLineBytes: number;
  private ready: Buffer[] = [];
  private readyBytes = 0;
  /** The line being written: bytes after the last newline not yet batched. */
  private partial: Buffer = Buffer.alloc(0);
  private lastInputAt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: LineBatcherOptions) {
    this.flushMs = opts.flushMs ?? FLUSH_MS;
    this.batchBytes = opts.batchBytes ?? BATCH_BYTES;
    this.maxLineBytes = Math.min(opts.maxLineBytes ?? MAX_LINE_BYTES, this.batchBytes);
  }

  push(bytes: Buffer): void {
    this.lastInputAt = Date.now();
    let start = 0;
    while (start < bytes.length) {
      const nl = bytes.indexOf(NEWLINE, start);
      const end = nl === -1 ? bytes.length : nl + 1;
      const segment = bytes.subarray(start, end);
      this.partial = this.partial.length ? Buffer.concat([this.partial, segment]) : segment;
      while (this.partial.length > this.maxLineBytes) {
        const cut = completeUtf8(this.partial, this.maxLineBytes) || this.maxLineBytes;
        this.add(this.partial.subarray(0, cut));
        this.partial = this.partial.subarray(cut);
      }
      if (nl !== -1 && this.partial.length) {
        this.add(this.partial);
        this.partial = Buffer.alloc(0);
      }
      start = end;
    }
    this.arm(this.flushMs);
  }

  /** The source has ended: everything left goes out now, the partial line too. */
  end(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.partial.length) this.add(this.partial);
    this.partial = Buffer.alloc(0);
    this.flush();
  }

  private add(piece: Buffer): void {
    if (this.readyBytes + piece.length > this.batchBytes) this.flush();
    this.ready.push(piece);
    this.readyBytes += piece.length;
    if (this.readyBytes >= this.batchBytes) this.flush();
  }

  private flush(): void {
    if (this.readyBytes === 0) return;
    const text = Buffer.concat(this.ready).toString('utf8');
    this.ready = [];
    this.readyBytes = 0;
    this.opts.emit(text);
  }

  private arm(ms: number): void {
    if (this.timer || (this.readyBytes === 0 && this.partial.length === 0)) return;
    this.timer = setTimeout(() => this.tick(), ms);
  }

  private tick(): void {
    this.timer = undefined;
    const idleMs = Date.now() - this.lastInputAt;
    if (this.partial.length && idleMs >= this.flushMs) {
      // A character cut in the middle waits for its other bytes (or for end()).
      const cut = completeUtf8(this.partial, this.partial.length);
      if (cut > 0) {
        this.add(this.partial.subarray(0, cut));
        this.partial = this.partial.subarray(cut);
      }
      this.flush();
      return;
    }
    this.flush();
    // The line is still being written: look again once it has been idle flushMs.
    if (this.partial.length) this.arm(this.flushMs - idleMs);
  }
}

/** The longest prefix of bytes[0, n) that does not end inside a UTF-8 character. */
function completeUtf8(bytes: Buffer, n: number): number {
  let lead = n - 1;
  while (lead >= 0 && n - lead < 4 && (bytes[lead] & 0xc0) === 0x80) lead--;
  if (lead < 0) return n;
  const b = bytes[lead];
  const length = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
  return n - lead < length ? lead : n;
}
