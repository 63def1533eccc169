// Cuts a byte stream into its top-level JSON arrays (or objects) as they complete, the way steward's
// socket takes message files written one after another: with or without whitespace between them.
// It only tracks nesting, strings and escapes; JSON.parse judges each value once it is whole.
import { errors } from '../errors.js';

const OPEN_ARRAY = 0x5b; // [
const CLOSE_ARRAY = 0x5d; // ]
const OPEN_OBJECT = 0x7b; // {
const CLOSE_OBJECT = 0x7d; // }
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \
const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

export class JsonValueSplitter {
  /** Bytes of the value in progress from earlier chunks. */
  private parts: Buffer[] = [];
  private partBytes = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /**
   * Set once the stream cannot go on: bytes that begin no value (there is no telling where the next
   * one starts), or a value over the size cap. Nothing is taken after it.
   */
  failure?: Error;

  constructor(private readonly maxBytes: number) {}

  /** Bytes of an unfinished value: at the end of the stream, a value cut short. */
  get pending(): number {
    return this.partBytes;
  }

  /** The values `chunk` completes, in order; those before a failure are still returned. */
  push(chunk: Buffer): Buffer[] {
    const values: Buffer[] = [];
    if (this.failure) return values;
    let start = this.depth > 0 ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i];
      if (this.depth === 0) {
        if (WHITESPACE.has(byte)) continue;
        if (byte !== OPEN_ARRAY && byte !== OPEN_OBJECT) {
          this.failure = new errors.BAD_JSON(`expected '[' to begin an array of messages, got ${JSON.stringify(String.fromCharCode(byte))}`);
          return values;
        }
        start = i;
        this.depth = 1;
      } else if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (byte === BACKSLASH) this.escaped = true;
        else if (byte === QUOTE) this.inString = false;
      } else if (byte === QUOTE) {
        this.inString = true;
      } else if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
        this.depth++;
      } else if ((byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) && --this.depth === 0) {
        const value = this.take(chunk.subarray(start, i + 1));
        if (!value) return values;
        values.push(value);
        start = -1;
      }
    }
    if (this.depth > 0) {
      this.parts.push(chunk.subarray(start));
      this.partBytes += chunk.length - start;
      if (this.partBytes > this.maxBytes) this.failure = tooLarge(this.maxBytes);
    }
    return values;
  }

  /** The whole value ending with `tail`, or undefined (and the failure set) when it is over the cap. */
  private take(tail: Buffer): Buffer | undefined {
    const value = this.parts.length ? Buffer.concat([...this.parts, tail]) : tail;
    this.parts = [];
    this.partBytes = 0;
    if (value.length > this.maxBytes) {
      this.failure = tooLarge(this.maxBytes);
      return undefined;
    }
    return value;
  }
}

function tooLarge(maxBytes: number): Error {
  return new errors.BODY_TOO_LARGE(String(maxBytes));
}
