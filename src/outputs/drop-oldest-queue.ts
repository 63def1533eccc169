// A queue of chunks (a console chunk's lines, a batch of records) bounded by the items in them: a
// push beyond `capacity` drops the oldest items — whole chunks first, the oldest cut to its last
// items if only part of it must go — and counts them, so whoever cannot keep up (a sink, the watch
// patterns) loses old lines, never the console's time or memory. It can be bounded by weight too
// (characters, say): beyond `maxWeight` the oldest chunks go whole.

export interface ChunkKind<T> {
  /** Items in a chunk (at least one). */
  count(chunk: T): number;
  /** The chunk's last `n` items (0 < n < count). */
  last(chunk: T, n: number): T;
  /** Something else summed over what waits (a sink's characters), if anything. */
  weight?(chunk: T): number;
}

export class DropOldestQueue<T> {
  private chunks: (T | undefined)[] = [];
  private head = 0;
  private items = 0;
  private weights = 0;
  /** Items dropped (oldest first) because the queue was full. */
  dropped = 0;

  /** `maxWeight`: the kind's weights summed, at most (the newest chunk is kept whatever it weighs). */
  constructor(readonly capacity: number, private readonly kind: ChunkKind<T>, readonly maxWeight = Infinity) {}

  /** Items waiting. */
  get size(): number {
    return this.items;
  }

  /** The weights of what waits, summed. */
  get weight(): number {
    return this.weights;
  }

  push(chunk: T): void {
    const cap = Math.max(1, this.capacity);
    let n = this.kind.count(chunk);
    if (n > cap) {
      this.dropped += n - cap;
      chunk = this.kind.last(chunk, cap);
      n = cap;
    }
    while (this.items + n > cap) {
      const oldest = this.chunks[this.head]!;
      const m = this.kind.count(oldest);
      const excess = this.items + n - cap;
      if (m <= excess) {
        this.chunks[this.head++] = undefined;
        this.items -= m;
        this.weights -= this.weigh(oldest);
        this.dropped += m;
      } else {
        const kept = this.kind.last(oldest, m - excess);
        this.chunks[this.head] = kept;
        this.items -= excess;
        this.weights -= this.weigh(oldest) - this.weigh(kept);
        this.dropped += excess;
      }
    }
    const w = this.weigh(chunk);
    while (this.weights + w > this.maxWeight && this.items > 0) {
      const oldest = this.shift()!;
      this.dropped += this.kind.count(oldest);
    }
    this.chunks.push(chunk);
    this.items += n;
    this.weights += w;
    // Drop the consumed head now and then, not on every push.
    if (this.head > 1024 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }

  shift(): T | undefined {
    if (this.head >= this.chunks.length) return undefined;
    const chunk = this.chunks[this.head]!;
    this.chunks[this.head++] = undefined;
    this.items -= this.kind.count(chunk);
    this.weights -= this.weigh(chunk);
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    }
    return chunk;
  }

  private weigh(chunk: T): number {
    return this.kind.weight?.(chunk) ?? 0;
  }
}
