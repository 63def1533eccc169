// A record's JSON text, made once however many sinks send it: three outputs would otherwise each
// serialise every console line again.
import type { OutputRecord } from './types.js';

const texts = new WeakMap<OutputRecord, string>();

export function recordJson(record: OutputRecord): string {
  let text = texts.get(record);
  if (text === undefined) {
    text = JSON.stringify(record);
    texts.set(record, text);
  }
  return text;
}
