// Records travel to the sinks in batches: the lines of one console chunk (or one event) as
// newline-delimited JSON text, serialised once and encoded to bytes once however many sinks take
// them. A flood of short lines would otherwise cost an object, a JSON.stringify and a queue slot
// per line per sink, which is what held the daemon's one thread back.
import { DropOldestQueue } from './drop-oldest-queue.js';
import { Lines } from './line-splitter.js';
import type { OutputRecord } from './types.js';

export class RecordBatch {
  private buf?: Buffer;

  /**
   * `text` is `count` JSON records, each ending in "\n" (JSON text never holds a raw newline);
   * `ascii`: it is all ASCII, so its UTF-8 bytes are its Latin-1 bytes (twice as fast to make).
   */
  constructor(readonly node: string, readonly text: string, readonly count: number, private readonly ascii = false) {}

  /**
   * The console lines of one chunk, all with the chunk's time (ISO 8601). Plain lines (printable
   * ASCII with nothing JSON escapes: the splitter knows, or `plain` says for an array) are quoted as
   * they are — JSON.stringify per line was most of the cost of a flood — and the text is all ASCII
   * (node names are); a plain chunk's joined lines become records with one native replace.
   */
  static console(node: string, lines: Lines | readonly string[], iso: string, plain = false): RecordBatch {
    const all = Lines.from(lines, plain);
    if (all.count === 0) return new RecordBatch(node, '', 0, true);
    // Keys in the order JSON.stringify of {node, type, message, time} gives.
    const head = `{"node":${JSON.stringify(node)},"type":"console","message":`;
    const tail = `,"time":"${iso}"}\n`;
    if (all.plain) return new RecordBatch(node, `${head}"${all.join(`"${tail}${head}"`)}"${tail}`, all.count, true);
    let text = '';
    for (const line of all.all) text += head + JSON.stringify(line) + tail;
    return new RecordBatch(node, text, all.count);
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
 * A sink's backlog of batches, bounded by records: beyond `capacity` the oldest records go, counted
 * (a batch cut to its last records if only part of it must), so a sink that cannot keep up loses old
 * lines, never the console's time or memory. `weight` is the characters waiting.
 */
export class RecordQueue extends DropOldestQueue<RecordBatch> {
  constructor(capacity: number) {
    super(capacity, { count: (b) => b.count, last: (b, n) => b.last(n), weight: (b) => b.text.length });
  }
}
