// errorLog, the daemon's side: the central error log of the agents' errors (error-report.ts), one
// JSON line each in <data-dir>/fleet/errors.jsonl. An event whose node is not its subject's is
// dropped. What is kept is what the agent reported, capped: codes, ids and error text; agents put
// no message arguments or output in it, so it holds no more than their own logs do.
import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { NatsConnection, Subscription } from 'nats';
import type { Logger } from 'pino';
import { parseErrorEvent, type AgentErrorEvent } from './error-report.js';

export const ERRORS_FILE_NAME = 'errors.jsonl';

export interface FleetErrorEntry extends Omit<AgentErrorEvent, 'at'> {
  /** When the daemon received it, ISO 8601. */
  at: string;
  /** The agent's clock when it happened, ISO 8601. */
  agentAt: string;
}

export class FleetErrorLog {
  /** Appends one after another, so lines never interleave. */
  private tail: Promise<void> = Promise.resolve();
  private subscription?: Subscription;

  private constructor(
    private readonly file: FileHandle,
    private readonly fileName: string,
    private readonly log: Logger,
  ) {}

  /** Opens the file and subscribes to `subject` (<prefix>.errlog.*). */
  static async start(opts: { nc: NatsConnection; subject: string; fleetDir: string; log: Logger }): Promise<FleetErrorLog> {
    await mkdir(opts.fleetDir, { recursive: true, mode: 0o750 });
    const fileName = path.join(opts.fleetDir, ERRORS_FILE_NAME);
    const errorLog = new FleetErrorLog(await open(fileName, 'a', 0o640), fileName, opts.log);
    errorLog.subscription = opts.nc.subscribe(opts.subject, { callback: (err, msg) => errorLog.take(err, msg) });
    return errorLog;
  }

  private take(err: Error | null, msg: { subject: string; string(): string }): void {
    if (err) return void this.log.warn({ err }, 'fleet error log subscription failed');
    let event: AgentErrorEvent | undefined;
    try {
      event = parseErrorEvent(JSON.parse(msg.string()), msg.subject.slice(msg.subject.lastIndexOf('.') + 1));
    } catch { /* not JSON: not an error event */ }
    if (!event) return void this.log.warn({ subject: msg.subject }, 'fleet error event ignored: not an error event for its subject');
    const { at, ...rest } = event;
    const entry: FleetErrorEntry = { at: new Date().toISOString(), agentAt: new Date(at).toISOString(), ...rest };
    this.log.warn({ node: entry.node, code: entry.code, id: entry.id, method: entry.method, dropped: entry.dropped }, 'fleet agent error');
    this.tail = this.tail.then(() => this.file.appendFile(`${JSON.stringify(entry)}\n`)).catch((e: Error) => {
      this.log.error({ err: e, node: entry.node, code: entry.code }, 'fleet error log append failed');
    });
  }

  /** Newest first; waits for the appends before it, so an entry logged is an entry listed. */
  async list(filter: { node?: string; limit: number }): Promise<FleetErrorEntry[]> {
    await this.tail;
    const out: FleetErrorEntry[] = [];
    const lines = (await readFile(this.fileName, 'utf8')).split('\n');
    for (let i = lines.length - 1; i >= 0 && out.length < filter.limit; i--) {
      if (!lines[i]) continue;
      let entry: FleetErrorEntry;
      try {
        entry = JSON.parse(lines[i]) as FleetErrorEntry;
      } catch {
        continue; // a line cut by a crash mid-append
      }
      if (!filter.node || entry.node === filter.node) out.push(entry);
    }
    return out;
  }

  async close(): Promise<void> {
    this.subscription?.unsubscribe();
    await this.tail;
    await this.file.close();
  }
}
