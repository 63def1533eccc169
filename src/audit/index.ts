// The audit log's face: the log itself and what an API call or console client becomes in it.
export { AuditLog, type AuditEntry, type AuditFilter, type AuditLogOptions, type AuditRecorder } from './log.js';
export { apiCallEntry, bodySummary, STATE_CHANGING, type ApiCall, type BodySummary } from './request.js';
export { clientEntry, type ClientEvent } from './console.js';
