// A byte cap on what a method collects (a command's output, an HTTP body) for its reply.
/** Output kept up to a number of bytes; what comes after is dropped and `truncated` says so. */
export class CappedText {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;
  truncated = false;

  constructor(private readonly capBytes: number) {}

  /** False once the cap is reached: the caller may stop reading. */
  add(chunk: Uint8Array): boolean {
    const room = this.capBytes - this.size;
    if (room <= 0) {
      this.truncated = true;
      return false;
    }
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (kept !== chunk) this.truncated = true;
    this.chunks.push(kept);
    this.size += kept.length;
    return !this.truncated;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}
