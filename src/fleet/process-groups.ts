// The process groups of the commands an agent is running, written down so that an agent that was
// killed (SIGKILL, OOM killer, a crash) can end what it left behind when it starts again: its
// methodTimeout died with it, and a `sleep 100` or a runaway loop would otherwise run on for good.
//
// On disk: <data-dir>/fleet-groups.jsonl, one line when a group starts ({"+": pgid, "start": ..,
// "id": ..}) and one when it ends ({"-": pgid}), written at once (a synchronous write of a short
// line: an agent killed a moment after the spawn has it on disk already); no fsync (an agent that
// crashed left the lines in the kernel; after a power loss no process is left). `start` is the leader's start time from
// /proc/<pid>/stat (clock ticks since boot), so a pid reused by someone else since is never killed.
// At start the file is read, every group still led by the same process is killed, and the file is
// started afresh.
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';

export const GROUPS_FILE = 'fleet-groups.jsonl';

interface Leftover {
  pgid: number;
  start: string;
  id?: string;
}

/** Field 22 of /proc/<pid>/stat: when the process started; undefined if it is gone (or no /proc). */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export class ProcessGroups {
  private fd: number | undefined;

  private constructor(fd: number, private readonly log: Logger) {
    this.fd = fd;
  }

  /** Ends the groups a previous run of the agent left running, then records from scratch. */
  static async open(dataDir: string, log: Logger): Promise<ProcessGroups> {
    const file = path.join(dataDir, GROUPS_FILE);
    await mkdir(dataDir, { recursive: true, mode: 0o700 }); // the agent's first run: nothing left over
    for (const left of leftovers(await readFile(file, 'utf8').catch(() => ''))) {
      if (processStart(left.pgid) !== left.start) continue; // ended, or the pid is someone else's now
      try {
        process.kill(-left.pgid, 'SIGKILL');
        log.warn({ pgid: left.pgid, id: left.id }, 'fleet agent: killed a command group left running by an earlier run of this agent');
      } catch (err) {
        log.warn({ err, pgid: left.pgid, id: left.id }, 'fleet agent: a command group left running could not be killed');
      }
    }
    return new ProcessGroups(openSync(file, 'w', 0o600), log);
  }

  started(pgid: number, id: string): void {
    const start = processStart(pgid);
    if (start !== undefined) this.write({ '+': pgid, start, id });
  }

  ended(pgid: number): void {
    this.write({ '-': pgid });
  }

  private write(line: object): void {
    if (this.fd === undefined) return;
    try {
      writeSync(this.fd, `${JSON.stringify(line)}\n`);
    } catch (err) {
      this.log.warn({ err }, 'fleet agent: the command group list could not be written');
    }
  }

  async close(): Promise<void> {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** The groups started and not ended, from the file's lines; a torn last line is skipped. */
function leftovers(text: string): Leftover[] {
  const live = new Map<number, Leftover>();
  for (const line of text.split('\n')) {
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (Number.isInteger(entry['+']) && typeof entry.start === 'string') {
      live.set(entry['+'] as number, { pgid: entry['+'] as number, start: entry.start, ...(typeof entry.id === 'string' && { id: entry.id }) });
    } else if (Number.isInteger(entry['-'])) {
      live.delete(entry['-'] as number);
    }
  }
  return [...live.values()].filter((l) => l.pgid > 1);
}
