// Canonical JSON: the one byte form a fleet signature covers, so signer and verifier agree
// whatever order some JSON encoder on the way wrote the keys in.
//
// Rules: object keys sorted by UTF-16 code units (JavaScript's default sort), no whitespace,
// strings and numbers exactly as JSON.stringify writes them. For the values JSON carries this is
// RFC 8785 (JCS), so a verifier in another language can reproduce it.
// Only plain JSON values are accepted (null, boolean, finite number, string, array, plain object);
// anything else throws, because it would not arrive unchanged on the other side of the wire.
// Object members whose value is undefined are left out, as JSON.stringify leaves them out.

/** Deeper than this is not a fleet message; the limit keeps hostile input off the call stack. */
export const MAX_DEPTH = 64;

export function canonicalJson(value: unknown): string {
  return encode(value, 0);
}

function encode(value: unknown, depth: number): string {
  if (depth > MAX_DEPTH) throw new TypeError(`canonical JSON: nested deeper than ${MAX_DEPTH} levels`);
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`canonical JSON: ${value} is not a JSON number`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((item) => encode(item, depth + 1)).join(',')}]`;
  if (isPlainObject(value)) {
    const keys = Object.keys(value).filter((key) => value[key] !== undefined).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${encode(value[key], depth + 1)}`).join(',')}}`;
  }
  throw new TypeError(`canonical JSON: a ${typeof value === 'object' ? value.constructor?.name ?? 'object' : typeof value} is not a JSON value`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
