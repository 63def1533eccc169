// Events that come from outside a console session, as the outputs record them.
import type { SessionEvent } from './types.js';

/** A power or boot-device action that ended (PowerService 'action'); `by` is an identity (admin or token:<id>), never a token. */
export function powerEvent(e: { action: string; by: string; error?: string }): SessionEvent {
  return e.error === undefined
    ? { event: 'power', message: `power ${e.action} by ${e.by} done`, action: e.action, client: e.by, ok: true }
    : { event: 'power', message: `power ${e.action} by ${e.by} failed: ${e.error}`, action: e.action, client: e.by, ok: false, reason: e.error };
}

/** An operator's note; `by` is an identity (admin or token:<id>), never a token. */
export function noteEvent(text: string, by: string): SessionEvent {
  return { event: 'note', message: `note by ${by}: ${text}`, client: by, text };
}
