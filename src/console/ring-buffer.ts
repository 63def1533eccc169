// The most recent console output, kept for late joiners (replay) and `^Ec r`.

export class RingBuffer {
  private readonly buf: Buffer;
  private end = 0; // next write position
  private size = 0;

  constructor(readonly capacity: number) {
    this.buf = Buffer.alloc(Math.max(0, capacity));
  }

  get length(): number {
    return this.size;
  }

  push(chunk: Buffer): void {
    const cap = this.capacity;
    if (cap === 0 || chunk.length === 0) return;
    if (chunk.length >= cap) {
      chunk.copy(this.buf, 0, chunk.length - cap);
      this.end = 0;
      this.size = cap;
      return;
    }
    const first = Math.min(chunk.length, cap - this.end);
    chunk.copy(this.buf, this.end, 0, first);
    if (first < chunk.length) chunk.copy(this.buf, 0, first);
    this.end = (this.end + chunk.length) % cap;
    this.size = Math.min(cap, this.size + chunk.length);
  }

  /** Everything held, oldest first, as one new Buffer. */
  snapshot(): Buffer {
    if (this.size < this.capacity) return Buffer.from(this.buf.subarray(this.end - this.size, this.end));
    return Buffer.concat([this.buf.subarray(this.end), this.buf.subarray(0, this.end)]);
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
