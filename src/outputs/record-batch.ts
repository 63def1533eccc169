// Records travel to the sinks in batches: the lines of one console chunk (or one event) as
// newline-delimited JSON text, serialised once and encoded to bytes once however many sinks take
// them. A flood of short lines would otherwise cost an object, a JSON.stringify and a queue slot
// per line per sink, which is what held the daemon's one thread back.
import type { OutputRecord } from './types.js';

export class RecordBatch {
  private buf?: Buffer;

  /**
   * `text` is `count` JSON records, each ending in "\n" (JSON text never holds a raw newline);
   * `ascii`: it is all ASCII, so its UTF-8 bytes are its Latin-1 bytes (twice as fast to make).
   */
  constructor(readonly node: string, readonly text: string, readonly count: number, private readonly ascii = false) {}

  /**
   * The console lines of one chunk, all with the chunk's time (ISO 8601). `plain`: every line is
   * printable ASCII with nothing JSON escapes (the splitter knows), so each is quoted as it is —
   * JSON.stringify per line was most of the cost of a flood — and the text is all ASCII (node
   * names are).
   */
  static console(node: string, lines: readonly string[], iso: string, plain = false): RecordBatch {
    // Keys in the order JSON.stringify of {node, type, message, time} gives.
    const head = `{"node":${JSON.stringify(node)},"type":"console","message":`;
    const tail = `,"time":"${iso}"}\n`;
    let text = '';
    if (plain) for (const line of lines) text += `${head}"${line}"${tail}`;
    else for (const line of lines) text += head + JSON.stringify(line) + tail;
    return new RecordBatch(node, text, lines.length, plain);
  }

  static of(record: OutputRecord): RecordBatch {
    return new RecordBatch(record.node, `${JSON.stringify(record)}\n`, 1);
  }

  /** The text as UTF-8, made on first use and shared by every sink. */
  get bytes(): Buffer {
    return (this.buf ??= Buffer.from(this.text, this.ascii ? 'latin1' : 'utf8'));
  }

  /** Each record's JSON text, without its newline (for sinks that send a record per message). */
  records(): string[] {
    return this.text.split('\n', this.count);
  }

  /** The last `n` records (n < count). */
  last(n: number): RecordBatch {
    let at = this.text.length - 1; // the final newline
    for (let i = 0; i < n; i++) at = this.text.lastIndexOf('\n', at - 1);
    return new RecordBatch(this.node, this.text.slice(at + 1), n, this.ascii);
  }
}

/**
 * A sink's backlog of batches, bounded by records: a push beyond `capacity` drops the oldest
 * records (whole batches first, the newest batch cut to its last records if it alone is too big) and
 * counts them, so a sink that cannot keep up loses old lines, never the console's time or memory.
 */
export class RecordQueue {
  private batches: RecordBatch[] = [];
  private head = 0;
  private records = 0;
  /** Characters waiting (the batches' text). */
  private chars = 0;
  /** Records dropped (oldest first) because the queue was full. */
  dropped = 0;

  constructor(readonly capacity: number) {}

  /** Records waiting. */
  get size(): number {
    return this.records;
  }

  /** Characters of JSON text waiting, about the bytes a write of it all would send. */
  get length(): number {
    return this.chars;
  }

  push(batch: RecordBatch): void {
    const cap = Math.max(1, this.capacity);
    if (batch.count > cap) {
      this.dropped += batch.count - cap;
      batch = batch.last(cap);
    }
    while (this.records + batch.count > cap) {
      const oldest = this.batches[this.head];
      const excess = this.records + batch.count - cap;
      if (oldest.count <= excess) {
        this.batches[this.head++] = undefined as unknown as RecordBatch;
        this.records -= oldest.count;
        this.chars -= oldest.text.length;
        this.dropped += oldest.count;
      } else {
        const kept = oldest.last(oldest.count - excess);
        this.batches[this.head] = kept;
        this.records -= excess;
        this.chars -= oldest.text.length - kept.text.length;
        this.dropped += excess;
      }
    }
    this.batches.push(batch);
    this.records += batch.count;
    this.chars += batch.text.length;
    if (this.head > 1024 && this.head * 2 > this.batches.length) {
      this.batches = this.batches.slice(this.head);
      this.head = 0;
    }
  }

  shift(): RecordBatch | undefined {
    if (this.head >= this.batches.length) return undefined;
    const batch = this.batches[this.head];
    this.batches[this.head++] = undefined as unknown as RecordBatch;
    this.records -= batch.count;
    this.chars -= batch.text.length;
    if (this.head === this.batches.length) {
      this.batches = [];
      this.head = 0;
    }
    return batch;
  }
}
