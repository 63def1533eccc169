// `tail -n N -F` for a node's live log file: its last lines, then what is appended, across
// rotation (the renamed file is read to its end, then the new one from its start).
import { open, type FileHandle } from 'node:fs/promises';
import { countNewlines, followFile } from '../util/follow-file.js';

/** Bytes looked at, at most, for the last lines of a file. */
const TAIL_MAX_BYTES = 8 * 1024 * 1024;
const READ_BYTES = 64 * 1024;
/** Growth is noticed by watching the directory; this poll only backs it up. */
const POLL_MS = 2000;

/** The last `lines` lines of a file as it is now, and the size they end at; empty for no file. */
export async function lastLines(file: string, lines: number): Promise<{ text: Buffer; end: number }> {
  const fh = await open(file, 'r').catch(() => undefined);
  if (!fh) return { text: Buffer.alloc(0), end: 0 };
  try {
    const { size } = await fh.stat();
    return { text: await lastLinesOf(fh, size, lines), end: size };
  } finally {
    await fh.close();
  }
}

/** The last `lines` lines of an open file of `size` bytes. */
async function lastLinesOf(fh: FileHandle, size: number, lines: number): Promise<Buffer> {
  let start = size;
  let text = Buffer.alloc(0);
  let newlines = 0;
  // Enough for `lines` lines and the newline before the first of them.
  while (start > 0 && size - start < TAIL_MAX_BYTES && newlines <= lines) {
    const buf = Buffer.alloc(Math.min(READ_BYTES, start));
    start -= buf.length;
    await fh.read(buf, 0, buf.length, start);
    newlines += countNewlines(buf);
    text = Buffer.concat([buf, text]);
  }
  // Walk back over `lines` line ends; a final line without a newline counts as one.
  let from = text.length && text[text.length - 1] === 0x0a ? text.length - 1 : text.length;
  for (let i = 0; i < lines && from >= 0; i++) from = from > 0 ? text.lastIndexOf(0x0a, from - 1) : -1;
  const begin = lines === 0 ? text.length : from >= 0 ? from + 1 : start > 0 ? text.indexOf(0x0a) + 1 : 0;
  return text.subarray(begin);
}

/**
 * `tail -n lines -F`: the last `lines` lines of `file` (none while there is no file), then what is
 * appended, across rotation, until the signal aborts. The last lines are read from the file that
 * is then followed, so a rotation in between loses nothing.
 */
export function tailLog(file: string, lines: number, signal: AbortSignal): AsyncGenerator<Buffer> {
  return followFile(file, {
    signal,
    pollMs: POLL_MS,
    from: async (fh, size) => ({ position: size, first: await lastLinesOf(fh, size, lines) }),
  });
}
