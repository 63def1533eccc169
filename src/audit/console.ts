// What the audit log says when a console client attaches, detaches or forces write access. The
// console layer knows nothing of the audit: the session emits 'client' events; the daemon turns them into entries.
import type { ClientView } from '../console/types.js';
import type { AuditEntry } from './log.js';

export type ClientEvent = 'attach' | 'detach' | 'force';

/** `reason`: why Switchboard ended the client (a detach it did not ask for). */
export function clientEntry(node: string, event: ClientEvent, client: ClientView, reason?: string, now = Date.now()): Omit<AuditEntry, 'ts'> {
  return {
    action: `console.${event}`,
    identity: client.identity,
    from: client.from,
    node,
    mode: client.mode,
    ...(event === 'detach' ? { durationMs: Math.max(0, now - Date.parse(client.attachedAt)) } : {}),
    details: { client: client.id, via: client.kind, ...(reason ? { reason } : {}) },
  };
}
