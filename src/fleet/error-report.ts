// errorLog, the agent's side: an agent tells the daemon's central error log (error-log.ts) of its
// own errors (refused envelopes and methods, commands that could not start, replies it could not
// send), and forwards the text of errorLog messages, so scripts can log there too. An event on
// core NATS, <prefix>.errlog.<node>, fire-and-forget like hello.ts: an error reported while the
// daemon is down is in the agent's own log still. At most LIMIT_PER_SECOND go out; the ones
// dropped meanwhile are counted in the next one that does.
import type { Logger } from 'pino';
import { isValidNodeName } from '../model/node.js';
import { isSubjectToken, nodeToken } from './nats-transport.js';

export const ERROR_TEXT_CAP = 2000;
export const LIMIT_PER_SECOND = 10;

export interface AgentError {
  /** REFUSED_<reason>, METHOD_DISABLED, SENDER_NOT_ALLOWED, SPAWN_FAILED, HANDLING_FAILED, REPLY_LOST, ERROR_LOG (an errorLog message). */
  code: string;
  message: string;
  /** The fleet message it is about. */
  id?: string;
  method?: string;
}

export interface AgentErrorEvent extends AgentError {
  node: string;
  /** The agent's clock, ms since the epoch. */
  at: number;
  /** Errors not sent since the last one that was, for the rate limit. */
  dropped?: number;
}

/** An error event as it came off the wire; undefined when it is not one, or names another node than its subject's last token. */
export function parseErrorEvent(value: unknown, subjectToken: string): AgentErrorEvent | undefined {
  const e = value as Partial<AgentErrorEvent> | null;
  if (typeof e !== 'object' || e === null) return undefined;
  if (!isValidNodeName(e.node) || nodeToken(e.node) !== subjectToken) return undefined;
  if (typeof e.code !== 'string' || !/^[A-Z][A-Z0-9_]{0,63}$/.test(e.code) || typeof e.message !== 'string') return undefined;
  if (typeof e.at !== 'number' || !Number.isFinite(e.at)) return undefined;
  if (e.id !== undefined && (typeof e.id !== 'string' || !isSubjectToken(e.id))) return undefined;
  if (e.method !== undefined && (typeof e.method !== 'string' || !/^[A-Za-z]{1,40}$/.test(e.method))) return undefined;
  if (e.dropped !== undefined && !(Number.isInteger(e.dropped) && e.dropped >= 0)) return undefined;
  return {
    node: e.node, at: e.at, code: e.code, message: e.message.slice(0, ERROR_TEXT_CAP),
    ...(e.id !== undefined && { id: e.id }), ...(e.method !== undefined && { method: e.method }), ...(e.dropped && { dropped: e.dropped }),
  };
}

export class ErrorReporter {
  private windowStart = 0;
  private sentInWindow = 0;
  private dropped = 0;

  constructor(
    private readonly node: string,
    /** Publishes one event; may throw (connection closed). */
    private readonly send: (event: AgentErrorEvent) => void,
    private readonly log: Logger,
    private readonly limitPerSecond = LIMIT_PER_SECOND,
  ) {}

  /** Never throws: what cannot be sent is counted and logged here. */
  report(error: AgentError): void {
    const now = Date.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.sentInWindow = 0;
    }
    if (this.sentInWindow >= this.limitPerSecond) {
      if (this.dropped++ === 0) this.log.warn({ limit: this.limitPerSecond }, 'fleet error reports over the rate limit: dropping');
      return;
    }
    this.sentInWindow++;
    const event: AgentErrorEvent = {
      node: this.node, at: now, code: error.code, message: error.message.slice(0, ERROR_TEXT_CAP),
      ...(error.id !== undefined && { id: error.id }), ...(error.method !== undefined && { method: error.method }),
      ...(this.dropped > 0 && { dropped: this.dropped }),
    };
    try {
      this.send(event);
      this.dropped = 0;
    } catch (err) {
      this.dropped++;
      this.log.warn({ err, code: error.code }, 'fleet error report not sent');
    }
  }
}
