// Searching one node's console log, rotated files and the live one, oldest first: the lines that
// match a pattern within a time window, each with its time. A line's time is its stamp; a line
// without one (timestamps off, or a line split by rotation) has the time of the last stamped line
// before it, or the file's mtime when there is none. Files and 256 KiB blocks wholly outside the
// window are skipped by their stamps, and a literal pattern is found with Buffer.indexOf, so only
// matching lines are ever decoded.
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { STAMP_BYTES } from './log-file.js';

/** A hit's line is cut to this many characters; a regex sees no more of a line than this either. */
export const MAX_LINE_CHARS = 4096;
const BLOCK_BYTES = 256 * 1024;
/** How much of a file's head and tail is read to find its first and last stamp. */
const EDGE_BYTES = 64 * 1024;
const NL = 0x0a;

export type LineMatcher = { literal: string } | { regex: RegExp };

export interface SearchWindow {
  /** Epoch ms, inclusive. */
  since?: number;
  until?: number;
}

export interface LogHit {
  node: string;
  /** ISO time of the line (see above). */
  time: string;
  line: string;
}

/** Epoch ms of a stamp at `at`, or undefined when the line there has none. */
export function stampAt(buf: Buffer, at: number): number | undefined {
  if (buf[at] !== 0x5b || buf[at + 25] !== 0x5d || buf[at + 26] !== 0x20 || buf[at + 24] !== 0x5a) return undefined;
  const t = Date.parse(buf.toString('latin1', at + 1, at + 25));
  return Number.isNaN(t) ? undefined : t;
}

/** The stamp of the last stamped line in buf[from, to) (line starts found by newlines). */
function lastStamp(buf: Buffer, from: number, to: number): number | undefined {
  let end = to;
  while (end > from) {
    const nl = buf.lastIndexOf(NL, end - 1);
    const start = nl < from ? from : nl + 1;
    const t = start < to ? stampAt(buf, start) : undefined;
    if (t !== undefined) return t;
    if (nl < from) return undefined;
    end = nl;
  }
  return undefined;
}

function firstStamp(buf: Buffer): number | undefined {
  for (let start = 0; start < buf.length;) {
    const t = stampAt(buf, start);
    if (t !== undefined) return t;
    const nl = buf.indexOf(NL, start);
    if (nl < 0) return undefined;
    start = nl + 1;
  }
  return undefined;
}

/**
 * Where to start reading for lines from `since` on: by bisection over the file's stamps, an offset
 * whose next stamped line is still before `since` (so everything skipped is too), and that stamp.
 */
async function seekBefore(file: string, size: number, since: number): Promise<{ offset: number; time?: number }> {
  const fh = await open(file, 'r');
  try {
    let lo = 0;
    let hi = size;
    let time: number | undefined;
    const probe = Buffer.alloc(EDGE_BYTES);
    while (hi - lo > BLOCK_BYTES) {
      const mid = Math.floor((lo + hi) / 2);
      const { bytesRead } = await fh.read(probe, 0, probe.length, mid);
      const nl = probe.subarray(0, bytesRead).indexOf(NL);
      const t = nl < 0 ? undefined : firstStamp(probe.subarray(nl + 1, bytesRead));
      if (t === undefined) break; // no stamps here: read from lo
      if (t < since) [lo, time] = [mid, t];
      else hi = mid;
    }
    return { offset: lo, time };
  } finally {
    await fh.close();
  }
}

async function readEdges(file: string, size: number): Promise<{ first?: number; last?: number }> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(Math.min(EDGE_BYTES, size));
    await fh.read(head, 0, head.length, 0);
    const tail = Buffer.alloc(Math.min(EDGE_BYTES, size));
    await fh.read(tail, 0, tail.length, size - tail.length);
    return { first: firstStamp(head), last: lastStamp(tail, 0, tail.length) };
  } finally {
    await fh.close();
  }
}

/**
 * Whether the line at `at` starts with a stamp's shape, `[dddd-dd-ddTdd:dd:dd.dddZ] ` (no date
 * parsing: this runs for every line a regex is tried on). `code(i)` is the byte or char at i.
 */
function stampShaped(code: (i: number) => number, at: number): boolean {
  return code(at) === 0x5b && code(at + 5) === 0x2d && code(at + 8) === 0x2d && code(at + 11) === 0x54 && code(at + 14) === 0x3a
    && code(at + 17) === 0x3a && code(at + 20) === 0x2e && code(at + 24) === 0x5a && code(at + 25) === 0x5d && code(at + 26) === 0x20;
}

/** The text of a line, without its stamp and line ending, cut to MAX_LINE_CHARS. */
function lineText(buf: Buffer, start: number, end: number): string {
  const from = stampShaped((i) => buf[i], start) ? start + STAMP_BYTES : start;
  let to = end;
  while (to > from && (buf[to - 1] === 0x0d || buf[to - 1] === NL)) to--;
  return buf.toString('utf8', from, Math.min(to, from + MAX_LINE_CHARS * 4)).slice(0, MAX_LINE_CHARS);
}

/**
 * Matching line spans [start, end) in buf[0, len), in order. A literal is found with indexOf over the
 * whole block (a hit in a stamp is not a hit); a regex is tried line by line.
 */
function* matchingLines(buf: Buffer, len: number, matcher: LineMatcher, needle: Buffer | undefined): Generator<[number, number]> {
  if (needle) {
    let pos = 0;
    while (pos < len) {
      const i = buf.indexOf(needle, pos);
      if (i < 0 || i + needle.length > len) return;
      const start = i === 0 ? 0 : buf.lastIndexOf(NL, i - 1) + 1;
      const nl = buf.indexOf(NL, i);
      const end = nl < 0 || nl >= len ? len : nl + 1;
      const content = stampAt(buf, start) === undefined ? start : start + STAMP_BYTES;
      if (i >= content) yield [start, end];
      else {
        const j = buf.indexOf(needle, content);
        if (j >= 0 && j + needle.length <= end) yield [start, end];
      }
      pos = end;
    }
    return;
  }
  // A regex: the block is decoded once and each line tried as a slice of it (no copy, no decode
  // per line). Byte offsets are what the caller needs; in an all-ASCII block (the usual console)
  // they are the string's, else a cursor converts the (few) matching lines' positions.
  const { regex } = matcher as { regex: RegExp };
  const text = buf.toString('utf8', 0, len);
  const ascii = text.length === len;
  const code = (i: number) => text.charCodeAt(i);
  let [charAt, byteAt] = [0, 0];
  for (let s = 0; s < text.length;) {
    const nl = text.indexOf('\n', s);
    const e = nl < 0 ? text.length : nl + 1;
    const from = stampShaped(code, s) ? s + STAMP_BYTES : s;
    let to = e;
    while (to > from && (code(to - 1) === 0x0d || code(to - 1) === NL)) to--;
    regex.lastIndex = 0;
    if (regex.test(text.slice(from, Math.min(to, from + MAX_LINE_CHARS)))) {
      if (ascii) yield [s, e];
      else {
        byteAt += Buffer.byteLength(text.slice(charAt, s));
        charAt = s;
        yield [byteAt, byteAt + Buffer.byteLength(text.slice(s, e))];
      }
    }
    s = e;
  }
}

/**
 * Hits in one node's log files (given oldest first), oldest first, within the window. Stops at the
 * first line past `until` (stamps grow through a log), or when the signal aborts.
 */
export async function* searchNodeLog(node: string, filesOldestFirst: string[], matcher: LineMatcher, window: SearchWindow, signal?: AbortSignal): AsyncGenerator<LogHit> {
  const needle = 'literal' in matcher ? Buffer.from(matcher.literal) : undefined;
  const { since = -Infinity, until = Infinity } = window;
  let carry: number | undefined;
  for (const file of filesOldestFirst) {
    const st = await stat(file).catch(() => undefined);
    if (!st?.isFile() || st.size === 0) continue;
    const edges = await readEdges(file, st.size);
    // Lines before a file's first stamp: the previous file's last time, else that first stamp.
    let time = carry ?? edges.first ?? st.mtimeMs;
    const fileLast = edges.last ?? st.mtimeMs;
    if (fileLast < since) {
      carry = fileLast;
      continue;
    }
    if (Math.min(time, edges.first ?? Infinity) > until) return;

    /** One block of whole lines: false once past `until`. */
    const block = function* (buf: Buffer, len: number): Generator<LogHit, boolean> {
      const blockLast = lastStamp(buf, 0, len) ?? time;
      if (blockLast < since) {
        time = blockLast;
        return true;
      }
      if ((stampAt(buf, 0) ?? time) > until) return false;
      // Each hit's time: its stamp, or the last stamp between the previous hit and it.
      let known = 0;
      for (const [start, end] of matchingLines(buf, len, matcher, needle)) {
        time = stampAt(buf, start) ?? lastStamp(buf, known, start) ?? time;
        known = start;
        if (time > until) return false;
        if (time >= since) yield { node, time: new Date(time).toISOString(), line: lineText(buf, start, end) };
      }
      time = blockLast;
      return true;
    };

    // A window that starts inside a big file: skip to it rather than read up to it.
    let from = 0;
    if (edges.first !== undefined && edges.first < since && st.size > 4 * BLOCK_BYTES) {
      const seek = await seekBefore(file, st.size, since);
      from = seek.offset;
      time = seek.time ?? time;
    }
    // Only what is there now: the live file keeps growing while it is read.
    const stream = createReadStream(file, { start: from, end: st.size - 1, highWaterMark: BLOCK_BYTES });
    // Reading from the middle: the rest of the line there is older than the window.
    let rest: Buffer | undefined;
    let skipPartial = from > 0;
    try {
      for await (let chunk of stream as AsyncIterable<Buffer>) {
        if (signal?.aborted) return;
        if (skipPartial) {
          const nl = chunk.indexOf(NL);
          if (nl < 0) continue;
          chunk = chunk.subarray(nl + 1);
          skipPartial = false;
        }
        const buf = rest ? Buffer.concat([rest, chunk]) : chunk;
        // A line longer than a few blocks is searched in pieces rather than gathered whole.
        const cut = buf.length > 4 * BLOCK_BYTES ? buf.length : buf.lastIndexOf(NL) + 1;
        rest = cut < buf.length ? buf.subarray(cut) : undefined;
        if (cut > 0 && !(yield* block(buf, cut))) return;
        // A run of chunks already read must not hold the event loop.
        await nextTurn();
      }
      // The last line may have no newline yet.
      if (rest && !(yield* block(rest, rest.length))) return;
    } finally {
      stream.destroy();
    }
    carry = time;
  }
}

export interface SearchTarget {
  node: string;
  filesOldestFirst: string[];
}

/** Hits across nodes, one node after another, each node's oldest first. */
export async function* searchLogs(targets: SearchTarget[], matcher: LineMatcher, window: SearchWindow, signal?: AbortSignal): AsyncGenerator<LogHit> {
  for (const t of targets) {
    if (signal?.aborted) return;
    yield* searchNodeLog(t.node, t.filesOldestFirst, matcher, window, signal);
  }
}
