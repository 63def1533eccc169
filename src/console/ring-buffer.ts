// The most recent console output, kept for late joiners (replay) and `^Ec r`.

/**
 * Memory grows with the output held, in blocks, up to the capacity: a quiet console (most of a
 * fleet, most of the time) holds nothing, so a thousand of them do not cost 64 MB up front.
 */
export class RingBuffer {
  private readonly blockSize: number;
  private blocks: Buffer[] = [];
  /** Where the oldest byte sits in blocks[0]. */
  private head = 0;
  /** Bytes used in the last block. */
  private tail = 0;
  private size = 0;

  constructor(readonly capacity: number, blockSize = 4096) {
    this.blockSize = Math.max(1, Math.min(blockSize, capacity));
  }

  get length(): number {
    return this.size;
  }

  push(chunk: Buffer): void {
    if (this.capacity === 0 || chunk.length === 0) return;
    if (chunk.length > this.capacity) chunk = chunk.subarray(chunk.length - this.capacity);
    let offset = 0;
    while (offset < chunk.length) {
      let last = this.blocks[this.blocks.length - 1];
      if (!last || this.tail === last.length) {
        // Own memory (not a slice of a shared pool), so nothing else is kept alive by it.
        last = Buffer.allocUnsafeSlow(this.blockSize);
        this.blocks.push(last);
        this.tail = 0;
      }
      const n = chunk.copy(last, this.tail, offset);
      this.tail += n;
      offset += n;
    }
    this.size += chunk.length;
    this.trim();
  }

  /** Drop the oldest bytes beyond the capacity. */
  private trim(): void {
    let excess = this.size - this.capacity;
    while (excess > 0) {
      const first = this.blocks[0];
      const used = (this.blocks.length === 1 ? this.tail : first.length) - this.head;
      if (used <= excess) {
        this.blocks.shift();
        this.head = 0;
        this.size -= used;
        excess -= used;
      } else {
        this.head += excess;
        this.size -= excess;
        excess = 0;
      }
    }
  }

  /** Everything held, oldest first, as one new Buffer. */
  snapshot(): Buffer {
    const n = this.blocks.length;
    if (n === 0) return Buffer.alloc(0);
    const parts = this.blocks.map((b, i) => b.subarray(i === 0 ? this.head : 0, i === n - 1 ? this.tail : b.length));
    return Buffer.concat(parts, this.size);
  }

  /** The last `n` lines held (a trailing partial line counts as one). */
  tailLines(n: number): Buffer {
    const all = this.snapshot();
    let pos = all.length;
    if (pos > 0 && all[pos - 1] === 0x0a) pos--; // a final newline does not start another line
    for (let seen = 0; pos > 0; ) {
      const nl = all.lastIndexOf(0x0a, pos - 1);
      if (nl < 0) return all;
      if (++seen === n) return all.subarray(nl + 1);
      pos = nl;
    }
    return all;
  }
}
