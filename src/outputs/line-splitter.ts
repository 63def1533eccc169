// Console bytes → text lines for the sinks. A line ends at CR, LF or CRLF (one end, not two); a
// line longer than maxBytes is cut there; a partial line (a prompt, `login: `) goes out after
// idleMs without more output. Records are text for a log stack, not a terminal: ANSI escape
// sequences and other control characters are stripped (the log file keeps every byte), and lines
// that are empty once stripped are not sent.
//
// A console floods at tens of MB/s in ~4 KiB chunks, so the work is per chunk where it can be: the
// chunk is decoded once, split with native splits, and tested once for anything to strip or escape —
// a plain chunk (the usual case) skips both for every line, which the record batch relies on. A
// plain chunk whose lines need nothing done to them (none empty, none ending in a space or too long,
// one kind of line end) is not split at all: its lines go on as the chunk's own text (Lines).
import { StringDecoder } from 'node:string_decoder';


const CR = 0x0d;
const LF = 0x0a;
const SPACE = 0x20;


/** CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \\), other ESC sequences (charset, keypad), then C0 controls but TAB, and DEL. */
// eslint-disable-next-line no-control-regex
const ESCAPES = /\x1b\[[0-?]*[ -\/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -\/]*[0-~]?|[\x00-\x08\x0b-\x1f\x7f]/g;

/** Any control character: most lines have none, and this test is much cheaper than the replace. */
// eslint-disable-next-line no-control-regex
const ANY_CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/;

/**
 * What makes text not plain: a control to strip (but CR and LF, the line ends), a character JSON
 * escapes (", \\, TAB), or anything beyond ASCII (plain text is sent as Latin-1 bytes, one per
 * character). Written as "not one of the allowed" (a negated class): faster to scan.
 */
const NOT_PLAIN = /[^ -!#-[\]-~\r\n]/;

/**
 * Lines as text.split(/\r\n|\r|\n/) gives them, but for empty ones (never sent anyway), with native
 * splits, not a regex: at LF when there is no CR; at CRLF when every CR and LF is one (a console's
 * usual line end); else at LF, then at a CR left inside a piece (a CRLF's is at its end).
 */
function splitLines(text: string): string[] {
  if (text.indexOf('\r') < 0) return text.split('\n');
  const crlf = text.split('\r\n');
  if (crlf.every((p) => p.indexOf('\r') < 0 && p.indexOf('\n') < 0)) return crlf;
  const parts = text.split('\n');
  const out: string[] = [];
  const last = parts.length - 1;
  for (let i = 0; i <= last; i++) {
    const p = parts[i];
    const cr = p.indexOf('\r');
    if (cr < 0) out.push(p);
    else if (cr === p.length - 1 && i < last) out.push(p.slice(0, cr));
    else for (const q of p.split('\r')) out.push(q);
  }
  return out;
}

/**
 * Where a piece of a long line that starts at `at` ends: at most max bytes on, before a character
 * that would not fit whole (a piece never ends inside a character: both halves would be U+FFFD).
 */
function pieceEnd(bytes: Buffer, at: number, max: number): number {
  let end = at + max;
  while (end > at && (bytes[end] & 0xc0) === 0x80) end--; // a UTF-8 continuation byte
  return end > at ? end : at + max;
}

export function stripControls(text: string): string {
  return ANY_CONTROL.test(text) ? text.replace(ESCAPES, '') : text;
}

/**
 * The lines of one console chunk: an array, or (a plain chunk's, see LineSplitter) the chunk's own
 * text with the lines joined by their line end, "\n" or "\r\n", which saves a string per line on
 * the way to the sinks and the watch patterns. A line never holds a CR or an LF.
 */
export class Lines {
  private array?: string[];
  private longestLine?: number;
  private charCount?: number;

  private constructor(readonly count: number, readonly plain: boolean, array?: string[], private readonly text?: string, private readonly eol?: string, longest?: number) {
    this.array = array;
    this.longestLine = longest;
  }

  /** The array is the Lines' own from then on. */
  static of(lines: string[], plain = false): Lines {
    return new Lines(lines.length, plain, lines);
  }

  /** Lines as they are, or a copy of an array of them (`plain` as of()). */
  static from(lines: Lines | readonly string[], plain = false): Lines {
    return lines instanceof Lines ? lines : Lines.of([...lines], plain);
  }

  /** Plain lines as one text, each ended by `eol` but the last. */
  static joined(text: string, eol: '\n' | '\r\n', count: number, longest: number): Lines {
    return new Lines(count, true, undefined, text, eol, longest);
  }

  /** As structured data, to cross to another thread (fromData). */
  data(): LinesData {
    return this.text === undefined ? { count: this.count, plain: this.plain, array: this.array } : { count: this.count, plain: true, text: this.text, eol: this.eol, longest: this.longestLine };
  }

  static fromData(d: LinesData): Lines {
    return new Lines(d.count, d.plain, d.array, d.text, d.eol, d.longest);
  }

  get all(): readonly string[] {
    return (this.array ??= this.text!.split(this.eol!));
  }

  /** All the lines joined with `sep`, as lines.join(sep) (native, with no string per line, for the joined form). */
  join(sep: string): string {
    if (this.text === undefined) return this.array!.join(sep);
    return sep === this.eol ? this.text : this.text.replaceAll(this.eol!, sep);
  }

  /**
   * The lines joined by line ends — LF or CRLF, mixed, whatever is cheapest — for a reader that
   * splits at /\r?\n/ (the watch worker).
   */
  get lineText(): string {
    return this.text ?? this.array!.join('\n');
  }

  /** The length of lineText (UTF-16 units), without joining an array to find it; counted once (a queue weighs a chunk going in and again going out). */
  get chars(): number {
    if (this.text !== undefined) return this.text.length;
    if (this.charCount === undefined) {
      let n = Math.max(0, this.count - 1);
      for (const line of this.array!) n += line.length;
      this.charCount = n;
    }
    return this.charCount;
  }

  /** The length of the longest line (UTF-16 units). */
  get longest(): number {
    if (this.longestLine === undefined) {
      let n = 0;
      for (const line of this.array!) if (line.length > n) n = line.length;
      this.longestLine = n;
    }
    return this.longestLine;
  }
}

/** Lines as they cross between threads. */
export interface LinesData {
  count: number;
  plain: boolean;
  array?: string[];
  text?: string;
  eol?: string;
  longest?: number;
}

export interface LineSplitterOptions {
  maxBytes: number;
  idleMs: number;
}

/**
 * Calls onLines once per pushed chunk with the lines it completed (and once per idle or forced
 * flush): the receivers work per chunk, not per line. `plain` says every line is printable ASCII
 * with nothing JSON would escape, so a line can be quoted as it is.
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  /** The line in progress (no end seen yet), and whether it is plain. */
  private partial = '';
  private partialPlain = true;
  /** The last character seen was a CR: an LF right after it ends nothing. */
  private afterCr = false;
  /** Lines completed by the push in progress, and whether all are plain. */
  private lines: string[] = [];
  private plain = true;
  private idleTimer?: NodeJS.Timeout;

  constructor(private readonly opts: LineSplitterOptions, private readonly onLines: (lines: Lines) => void) {}

  push(chunk: Uint8Array): void {
    let text = this.decoder.write(chunk);
    if (text.length === 0) return;
    if (this.afterCr && text.charCodeAt(0) === LF) text = text.slice(1);
    this.afterCr = text.charCodeAt(text.length - 1) === CR;
    const plain = !NOT_PLAIN.test(text);
    if (plain && this.partialPlain && this.pushPlain(text)) return this.armIdle();
    const parts = splitLines(text);
    const last = parts.length - 1;
    if (last > 0) {
      this.emit(this.partial + parts[0], plain && this.partialPlain);
      for (let i = 1; i < last; i++) this.emit(parts[i], plain);
      this.partial = parts[last];
      this.partialPlain = plain || !NOT_PLAIN.test(this.partial);
    } else {
      this.partial += parts[0];
      this.partialPlain &&= plain;
    }
    this.cutPartial();
    this.armIdle();
    this.deliver();
  }

  /** Send what is held now (before an event, or at the end of the session). */
  flush(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const partial = this.partial;
    this.partial = '';
    if (partial) this.emit(partial, this.partialPlain);
    this.partialPlain = true;
    this.deliver();
  }

  close(): void {
    this.flush();
  }

  /** A whole line: in pieces of at most maxBytes if longer, cut between characters (a string of n UTF-16 units is at most 3n bytes: most lines need no count). */
  private emit(line: string, plain: boolean): void {
    const max = this.opts.maxBytes;
    if (line.length * 3 <= max) return this.add(line, plain);
    const bytes = Buffer.from(line);
    let at = 0;
    for (let end; bytes.length - at > max; at = end) this.add(bytes.toString('utf8', at, (end = pieceEnd(bytes, at, max))), plain);
    this.add(at === 0 ? line : bytes.toString('utf8', at), plain);
  }

  /** A line in progress as long as maxBytes goes out in pieces as emit() cuts them; the rest waits for its end. */
  private cutPartial(): void {
    const max = this.opts.maxBytes;
    if (this.partial.length * 3 < max) return;
    const bytes = Buffer.from(this.partial);
    if (bytes.length < max) return;
    let at = 0;
    for (let end; bytes.length - at >= max; at = end) this.add(bytes.toString('utf8', at, (end = pieceEnd(bytes, at, max))), this.partialPlain);
    this.partial = bytes.toString('utf8', at);
  }

  private add(line: string, plain: boolean): void {
    const text = (plain ? line : stripControls(line)).trimEnd();
    if (!text) return;
    this.lines.push(text);
    if (!plain) this.plain = false;
  }

  private deliver(): void {
    if (this.lines.length === 0) return;
    const [lines, plain] = [this.lines, this.plain];
    this.lines = [];
    this.plain = true;
    this.onLines(Lines.of(lines, plain));
  }

  /**
   * A plain chunk whose lines go out as they are, without a string per line: true if it was one
   * (and is sent), false to split it the usual way. It is one when every line it completes is not
   * empty, does not end in a space (add() would trim it), is no longer than maxBytes (one byte per
   * character: it is ASCII), and ends the way the last does (LF, or CRLF with no other CR), and what
   * follows the last line end is a partial line short enough to wait (cutPartial).
   */
  private pushPlain(text: string): boolean {
    const full = this.partial + text;
    const end = full.lastIndexOf('\n');
    if (end < 0) return false;
    const max = this.opts.maxBytes;
    const rest = full.slice(end + 1);
    if (rest.length >= max || rest.indexOf('\r') >= 0) return false;
    const crlf = full.charCodeAt(end - 1) === CR;
    let count = 0;
    let longest = 0;
    for (let start = 0; ; ) {
      const nl = full.indexOf('\n', start);
      const lineEnd = crlf ? nl - 1 : nl;
      if (crlf && full.charCodeAt(lineEnd) !== CR) return false;
      const length = lineEnd - start;
      if (length === 0 || length > max || full.charCodeAt(lineEnd - 1) === SPACE) return false;
      if (length > longest) longest = length;
      count++;
      if (nl === end) break;
      start = nl + 1;
    }
    let crs = 0;
    for (let cr = full.indexOf('\r'); cr >= 0; cr = full.indexOf('\r', cr + 1)) crs++;
    if (crs !== (crlf ? count : 0)) return false;
    this.partial = rest; // plain, as the partial before it and the chunk were
    this.onLines(Lines.joined(full.slice(0, crlf ? end - 1 : end), crlf ? '\r\n' : '\n', count, longest));
    return true;
  }

  private armIdle(): void {
    if (this.partial.length === 0) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
      return;
    }
    if (this.idleTimer) this.idleTimer.refresh();
    else {
      this.idleTimer = setTimeout(() => this.flush(), this.opts.idleMs);
      this.idleTimer.unref();
    }
  }
}
