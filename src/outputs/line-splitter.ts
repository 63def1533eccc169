// Console bytes → text lines for the sinks. A line ends at CR, LF or CRLF (one end, not two); a
// line longer than maxBytes is cut there; a partial line (a prompt, `login: `) goes out after
// idleMs without more output. Records are text for a log stack, not a terminal: ANSI escape
// sequences and other control characters are stripped (the log file keeps every byte), and lines
// that are empty once stripped are not sent.
//
// A console floods at tens of MB/s in ~4 KiB chunks, so the work is per chunk where it can be: the
// chunk is decoded once, split with one regex, and tested once for anything to strip or escape —
// a plain chunk (the usual case) skips both for every line, which the record batch relies on.
import { StringDecoder } from 'node:string_decoder';


const CR = 0x0d;
const LF = 0x0a;


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

export function stripControls(text: string): string {
  return ANY_CONTROL.test(text) ? text.replace(ESCAPES, '') : text;
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

  constructor(private readonly opts: LineSplitterOptions, private readonly onLines: (lines: string[], plain: boolean) => void) {}

  push(chunk: Buffer): void {
    let text = this.decoder.write(chunk);
    if (text.length === 0) return;
    if (this.afterCr && text.charCodeAt(0) === LF) text = text.slice(1);
    this.afterCr = text.charCodeAt(text.length - 1) === CR;
    const plain = !NOT_PLAIN.test(text);
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

  /** A whole line: in pieces of maxBytes if longer (a string of n UTF-16 units is at most 3n bytes: most lines need no count). */
  private emit(line: string, plain: boolean): void {
    const max = this.opts.maxBytes;
    if (line.length * 3 <= max) return this.add(line, plain);
    const bytes = Buffer.from(line);
    let at = 0;
    for (; bytes.length - at > max; at += max) this.add(bytes.toString('utf8', at, at + max), plain);
    this.add(at === 0 ? line : bytes.toString('utf8', at), plain);
  }

  /** A line in progress as long as maxBytes goes out in pieces of that size; the rest waits for its end. */
  private cutPartial(): void {
    const max = this.opts.maxBytes;
    if (this.partial.length * 3 < max) return;
    const bytes = Buffer.from(this.partial);
    if (bytes.length < max) return;
    let at = 0;
    for (; bytes.length - at >= max; at += max) this.add(bytes.toString('utf8', at, at + max), this.partialPlain);
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
    this.onLines(lines, plain);
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
