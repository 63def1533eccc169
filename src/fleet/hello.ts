// hello: every agent announces itself on core NATS, subject <prefix>.hello.<node>, once when it
// starts and then every --hello-interval seconds. It is an event, fire-and-forget: a hello sent
// while the daemon is down is simply replaced by the next one, so it needs no stream. The
// daemon records when it last heard each node (KnownAgents) and takes its own clock for that.
import { isValidNodeName } from '../model/node.js';
import { nodeToken } from './nats-transport.js';

export const DEFAULT_HELLO_INTERVAL_S = 30;

export interface AgentHello {
  node: string;
  /** The agent's switchboard version. */
  version: string;
  /** The agent machine's host name. */
  host: string;
  /** Seconds the agent process has run. */
  uptime: number;
  pid: number;
  /** The agent's clock, ms since the epoch. */
  at: number;
}

/** A hello as it came off the wire; undefined when it is not one, or names another node than its subject's last token. */
export function parseHello(value: unknown, subjectToken: string): AgentHello | undefined {
  const h = value as Partial<AgentHello> | null;
  if (typeof h !== 'object' || h === null) return undefined;
  if (!isValidNodeName(h.node) || nodeToken(h.node) !== subjectToken) return undefined;
  if (typeof h.version !== 'string' || typeof h.host !== 'string') return undefined;
  if (![h.uptime, h.pid, h.at].every((n) => typeof n === 'number' && Number.isFinite(n))) return undefined;
  return { node: h.node, version: h.version.slice(0, 64), host: h.host.slice(0, 255), uptime: h.uptime!, pid: h.pid!, at: h.at! };
}

/** Sends a hello now and then every intervalMs until stopped; a failed send is logged by `send`. */
export class HelloTimer {
  private timer?: NodeJS.Timeout;

  constructor(private readonly send: () => void, private readonly intervalMs: number) {}

  start(): void {
    this.send();
    this.timer = setInterval(this.send, this.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
