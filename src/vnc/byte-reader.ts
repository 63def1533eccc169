// Reads exact byte counts from a stream that arrives in arbitrary pieces (TCP segments, WebSocket
// frames): the RFB handshake is a series of fixed-size reads. It knows nothing of sockets: the
// owner pushes what arrives, and ends it with the error a pending read should fail with.

export class ByteReader {
  private chunks: Buffer[] = [];
  private size = 0;
  private ended?: Error;
  private waiting?: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void };

  push(data: Buffer): void {
    if (this.ended || data.length === 0) return;
    this.chunks.push(data);
    this.size += data.length;
    this.settle();
  }

  /** No more data: a pending or later read that cannot be met fails with `err`. */
  end(err: Error): void {
    if (this.ended) return;
    this.ended = err;
    this.settle();
  }

  /** Exactly `n` bytes, once they have all arrived. One read at a time. */
  read(n: number): Promise<Buffer> {
    if (this.waiting) return Promise.reject(new Error('ByteReader: a read is already pending'));
    return new Promise((resolve, reject) => {
      this.waiting = { n, resolve, reject };
      this.settle();
    });
  }

  /** Whatever arrived beyond the reads, handed over when the handshake is done. */
  rest(): Buffer {
    const out = Buffer.concat(this.chunks);
    this.chunks = [];
    this.size = 0;
    return out;
  }

  private settle(): void {
    const w = this.waiting;
    if (!w) return;
    if (this.size >= w.n) {
      this.waiting = undefined;
      w.resolve(this.take(w.n));
    } else if (this.ended) {
      this.waiting = undefined;
      w.reject(this.ended);
    }
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.size = rest.length;
    return all.subarray(0, n);
  }
}
