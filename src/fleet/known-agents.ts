// The daemon's memory of its agents: the last hello of each node and when it came (the daemon's
// clock). Kept in memory and, when given a file, written there (one write at a time, the latest
// state wins), so that after a restart a ship that is offline is still listed with the time it was
// last heard. A node heard for the first time, or an agent that restarted (another pid or version),
// is written at once; a hello that only says "still here" at most every SEEN_SAVE_MS, so a
// thousand agents saying hello every 30 s don't rewrite the file 33 times a second. It is a hint:
// no fsync, and a file that cannot be read is started over.
import { EventEmitter } from 'node:events';
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { isValidNodeName } from '../model/node.js';
import type { AgentHello } from './hello.js';

export interface KnownAgent {
  node: string;
  /** When the daemon last heard the node's hello, ISO 8601. */
  lastSeen: string;
  version: string;
  host: string;
  uptime: number;
  pid: number;
}

/** The longest a changed last-seen time waits to be written. */
export const SEEN_SAVE_MS = 30_000;

/** Emits 'heard' (node) on every hello recorded. */
export class KnownAgents extends EventEmitter {
  private readonly agents = new Map<string, KnownAgent>();
  private saving?: Promise<void>;
  private dirty = false;
  private later?: NodeJS.Timeout;

  constructor(private readonly store?: { file: string; logger: Logger }) {
    super();
  }

  /** With the agents of `file` as they were last written; a missing or broken file is an empty list. */
  static async open(file: string, logger: Logger): Promise<KnownAgents> {
    const known = new KnownAgents({ file, logger });
    let saved: unknown;
    try {
      saved = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn({ err, file }, 'fleet agents file unreadable: starting with none');
      return known;
    }
    for (const a of Array.isArray(saved) ? (saved as KnownAgent[]) : []) {
      if (isKnownAgent(a)) known.agents.set(a.node, a);
    }
    return known;
  }

  record(hello: AgentHello, now = new Date()): KnownAgent {
    const agent = { node: hello.node, lastSeen: now.toISOString(), version: hello.version, host: hello.host, uptime: hello.uptime, pid: hello.pid };
    const before = this.agents.get(hello.node);
    this.agents.set(hello.node, agent);
    if (!before || before.pid !== agent.pid || before.version !== agent.version || before.host !== agent.host) this.save();
    else this.later ??= setTimeout(() => this.save(), SEEN_SAVE_MS).unref();
    this.emit('heard', agent.node);
    return agent;
  }

  get(node: string): KnownAgent | undefined {
    return this.agents.get(node);
  }

  /** Sorted by node name. */
  list(): KnownAgent[] {
    return [...this.agents.values()].sort((a, b) => a.node.localeCompare(b.node));
  }

  /** Resolves once what was recorded so far is in the file. */
  async flush(): Promise<void> {
    if (this.later) this.save();
    while (this.saving) await this.saving;
  }

  private save(): void {
    clearTimeout(this.later);
    this.later = undefined;
    if (!this.store) return;
    if (this.saving) {
      this.dirty = true;
      return;
    }
    this.saving = this.write(this.store).finally(() => {
      this.saving = undefined;
      if (this.dirty) {
        this.dirty = false;
        this.save();
      }
    });
  }

  private async write({ file, logger }: { file: string; logger: Logger }): Promise<void> {
    try {
      await writeFile(`${file}.tmp`, JSON.stringify(this.list()));
      await rename(`${file}.tmp`, file);
    } catch (err) {
      logger.warn({ err, file }, 'fleet agents file not written');
    }
  }
}

function isKnownAgent(a: Partial<KnownAgent> | null): a is KnownAgent {
  return typeof a === 'object' && a !== null && isValidNodeName(a.node) && [a.lastSeen, a.version, a.host].every((v) => typeof v === 'string')
    && Number.isInteger(a.uptime) && Number.isInteger(a.pid);
}
