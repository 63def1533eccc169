// `since` and `until` as the log search and the audit log take them.
import { errors } from '../errors.js';
import { parseTtl } from '../tokens/service.js';

/** An ISO time, or a duration back from now (`2h`), as epoch ms; undefined when not given. */
export function parseTimeBound(value: string | undefined, field: string, now = Date.now()): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (/^\d+(ms|s|m|h|d)$/.test(value.trim())) return now - parseTtl(value, field);
  const t = /^\d{4}-\d\d-\d\d/.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(t)) throw new errors.VALIDATION(`${field}: '${value.slice(0, 40)}' is not an ISO time or a duration such as 30m or 2h`);
  return t;
}
