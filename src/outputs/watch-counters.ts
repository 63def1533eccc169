// The watch patterns' counters on disk (<data-dir>/watch-state.json), so a daemon restarted for an
// upgrade still shows that a node panicked twice last night. Keyed by node and pattern name (a
// pattern's name is unique on its node). Written a second after a match, at most once a second,
// through a temporary file and a rename; read once at start, a file that cannot be read is
// started over (the counters are a convenience: the console log keeps every line).
import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import type { Logger } from 'pino';

export interface WatchCounter {
  count: number;
  last: { line: string; time: string };
}

/** node → pattern name → counter. */
export type WatchCounters = Map<string, Map<string, WatchCounter>>;

const SAVE_DELAY_MS = 1000;

export class WatchCounterFile {
  private timer?: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly file: string, private readonly snapshot: () => WatchCounters, private readonly logger: Logger) {}

  /** What the file holds, or nothing if it is missing or unreadable. */
  load(): WatchCounters {
    const out: WatchCounters = new Map();
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.logger.warn({ file: this.file, err: (err as Error).message }, 'watch counters not read; starting over');
      return out;
    }
    for (const [node, patterns] of Object.entries((raw as { nodes?: Record<string, Record<string, WatchCounter>> })?.nodes ?? {})) {
      const m = new Map<string, WatchCounter>();
      for (const [name, c] of Object.entries(patterns ?? {})) {
        if (Number.isInteger(c?.count) && typeof c?.last?.line === 'string' && typeof c?.last?.time === 'string') m.set(name, { count: c.count, last: { line: c.last.line, time: c.last.time } });
      }
      if (m.size) out.set(node, m);
    }
    return out;
  }

  /** Something changed: written within SAVE_DELAY_MS. */
  changed(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => void this.save(), SAVE_DELAY_MS);
    this.timer.unref();
  }

  /** Writes now what is pending (at close). */
  async flush(): Promise<void> {
    if (this.timer) await this.save();
    await this.writing;
  }

  private save(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const nodes: Record<string, Record<string, WatchCounter>> = {};
    for (const [node, patterns] of this.snapshot()) nodes[node] = Object.fromEntries(patterns);
    const text = `${JSON.stringify({ nodes })}\n`;
    const tmp = `${this.file}.tmp`;
    this.writing = this.writing
      .then(() => writeFile(tmp, text, { mode: 0o640 }))
      .then(() => rename(tmp, this.file))
      .catch((err: Error) => this.logger.warn({ file: this.file, err: err.message }, 'watch counters not written'));
    return this.writing;
  }
}
