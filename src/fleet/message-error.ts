// How the fleet message model says no: one FLEET_MESSAGE error that names where and which field.
import { errors } from '../errors.js';

export type FleetMessageError = InstanceType<typeof errors.FLEET_MESSAGE> & { field?: string };

/** `message 2: field 'toNodes': must be a list of node names`; `field` is kept for the API's error body. */
export function fieldError(where: string, field: string, problem: string): FleetMessageError {
  return Object.assign(new errors.FLEET_MESSAGE(where, `field '${field}': ${problem}`), { field });
}

/** A problem with the whole submission or a whole message, not one field of it. */
export function refusal(where: string, problem: string): FleetMessageError {
  return new errors.FLEET_MESSAGE(where, problem);
}

/** Text cut short, so a huge value or key cannot flood an error message or a log line. */
export function shorten(text: string, max = 80): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

/** A value as it can be quoted in an error: 'text' for strings, JSON otherwise, cut short. */
export function quote(value: unknown): string {
  return shorten(typeof value === 'string' ? `'${value}'` : (JSON.stringify(value) ?? String(value)));
}
