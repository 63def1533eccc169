// Console bytes → text lines for the sinks. A line ends at CR, LF or CRLF (one end, not two); a
// line longer than maxBytes is cut there; a partial line (a prompt, `login: `) goes out after
// idleMs without more output. Records are text for a log stack, not a terminal: ANSI escape
// sequences and other control characters are stripped (the log file keeps every byte), and lines
// that are empty once stripped are not sent.

const CR = 0x0d;
const LF = 0x0a;

/** CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \\), other ESC sequences (charset, keypad), then C0 controls but TAB, and DEL. */
// eslint-disable-next-line no-control-regex
const ESCAPES = /\x1b\[[0-?]*[ -\/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -\/]*[0-~]?|[\x00-\x08\x0b-\x1f\x7f]/g;

/** Any control character: most lines have none, and this test is much cheaper than the replace. */
// eslint-disable-next-line no-control-regex
const ANY_CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/;

export function stripControls(text: string): string {
  return ANY_CONTROL.test(text) ? text.replace(ESCAPES, '') : text;
}

export interface LineSplitterOptions {
  maxBytes: number;
  idleMs: number;
}

/**
 * Calls onLines once per pushed chunk with the lines it completed (and once per idle or forced
 * flush): the receivers work per chunk, not per line.
 */
export class LineSplitter {
  private partial: Buffer[] = [];
  /** Lines completed by the push in progress. */
  private lines: string[] = [];
  private partialBytes = 0;
  /** The last byte seen was a CR: an LF right after it ends nothing. */
  private afterCr = false;
  private idleTimer?: NodeJS.Timeout;

  constructor(private readonly opts: LineSplitterOptions, private readonly onLines: (lines: string[]) => void) {}

  push(chunk: Buffer): void {
    let start = 0;
    if (this.afterCr && chunk[0] === LF) start = 1;
    this.afterCr = false;
    // indexOf runs in native code: far cheaper than a loop over every byte in JS.
    let lf = chunk.indexOf(LF, start);
    let cr = chunk.indexOf(CR, start);
    while (start < chunk.length) {
      const end = lf < 0 ? cr : cr < 0 ? lf : Math.min(lf, cr);
      const room = this.opts.maxBytes - this.partialBytes;
      if (end < 0 || end - start > room) {
        if (chunk.length - start < room) break; // the rest fits in the partial line
        this.take(chunk.subarray(start, start + room));
        this.emit();
        start += room;
        continue;
      }
      this.take(chunk.subarray(start, end));
      this.emit();
      start = end + 1;
      if (chunk[end] === CR) {
        if (chunk[start] === LF) start++;
        else if (start === chunk.length) this.afterCr = true;
      }
      if (lf >= 0 && lf < start) lf = chunk.indexOf(LF, start);
      if (cr >= 0 && cr < start) cr = chunk.indexOf(CR, start);
    }
    this.take(chunk.subarray(start));
    this.armIdle();
    this.deliver();
  }

  /** Send what is held now (before an event, or at the end of the session). */
  flush(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.emit();
    this.deliver();
  }

  close(): void {
    this.flush();
  }

  private take(part: Buffer): void {
    if (part.length === 0) return;
    this.partial.push(part);
    this.partialBytes += part.length;
  }

  private emit(): void {
    if (this.partialBytes === 0) return;
    const raw = this.partial.length === 1 ? this.partial[0] : Buffer.concat(this.partial, this.partialBytes);
    this.partial = [];
    this.partialBytes = 0;
    const line = stripControls(raw.toString('utf8')).trimEnd();
    if (line) this.lines.push(line);
  }

  private deliver(): void {
    if (this.lines.length === 0) return;
    const lines = this.lines;
    this.lines = [];
    this.onLines(lines);
  }

  private armIdle(): void {
    if (this.partialBytes === 0) {
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
