// The ids of fleet messages an agent has accepted, so a redelivered or replayed message is never
// run twice, also across the agent's own restarts.
//
// Each id is kept until the moment its envelope would be refused as EXPIRED anyway (`expiresAt`,
// computed by the verifier from the signed `iat`), plus a day's grace so a clock stepped back a
// little can't reopen the window. Forgetting an id after that is safe: the signature covers `iat`,
// so a replay of that envelope can only ever be older, and the age check refuses it.
//
// On disk: `<dataDir>/fleet-seen-ids.jsonl`, one `{"id":..,"exp":..}` line per id, appended and
// fsynced before `remember()` resolves, i.e. before the message runs. Appends that arrive while
// an fsync is in flight are written together by the next one (group commit), so concurrent
// messages share the cost; an ordered queue still pays one fsync per message. With
// `fsync: false` a process crash still loses nothing (the write is in the kernel), but a power
// loss may forget the last ids and so run those messages again.
// The file is rewritten without expired ids when opened and after it has grown well past the
// live set; the rewrite goes through a temporary file and rename, and a torn last line left by
// a crash is skipped when loading.
import { mkdir, open, readFile, rename, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

export const SEEN_IDS_FILE = 'fleet-seen-ids.jsonl';
export const PRUNE_GRACE_MS = 24 * 60 * 60 * 1000;

export interface SeenStore {
  /**
   * Records that the message `id` was accepted and must be remembered until `expiresAt` (ms
   * epoch). Resolves false if the id was already recorded. Check and record are one step, so of
   * two concurrent calls for one id exactly one gets true.
   */
  remember(id: string, expiresAt: number): Promise<boolean>;
}

/** For tests, and for agents that are told not to keep state: forgets everything on restart. */
export class MemorySeenStore implements SeenStore {
  private readonly ids = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  async remember(id: string, expiresAt: number): Promise<boolean> {
    if (this.ids.has(id)) return false;
    this.ids.set(id, expiresAt);
    if (this.ids.size % 1024 === 0) dropExpired(this.ids, this.now());
    return true;
  }
}

export interface FileSeenStoreOptions {
  /** fsync each batch of appended ids before the messages run (default true); see the top comment. */
  fsync?: boolean;
  now?: () => number;
  /** Rewrite the file once this many lines were appended beyond the live set (default 10,000). */
  compactAfter?: number;
}

export class FileSeenStore implements SeenStore {
  private pending: string[] = [];
  private waiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  private flushing: Promise<void> | undefined;
  private appendedSinceCompact = 0;
  private closed = false;

  private constructor(
    readonly file: string,
    private handle: FileHandle,
    private readonly ids: Map<string, number>,
    private readonly opts: Required<FileSeenStoreOptions>,
  ) {}

  /** Loads `<dataDir>/fleet-seen-ids.jsonl` (or starts it), dropping ids that have expired. */
  static async open(dataDir: string, options: FileSeenStoreOptions = {}): Promise<FileSeenStore> {
    const opts = { fsync: true, now: Date.now, compactAfter: 10_000, ...options };
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const file = path.join(dataDir, SEEN_IDS_FILE);
    const ids = await loadIds(file);
    dropExpired(ids, opts.now());
    const handle = await rewrite(file, ids);
    return new FileSeenStore(file, handle, ids, opts);
  }

  get size(): number {
    return this.ids.size;
  }

  async remember(id: string, expiresAt: number): Promise<boolean> {
    if (this.closed) throw new Error(`seen-ids file ${this.file} is closed`);
    if (this.ids.has(id)) return false;
    this.ids.set(id, expiresAt);
    try {
      await this.append(`${JSON.stringify({ id, exp: expiresAt })}\n`);
    } catch (err) {
      // Not on disk, so the message must not run; forgetting the id lets a redelivery try again.
      this.ids.delete(id);
      throw err;
    }
    return true;
  }

  /** Waits for pending appends, then closes the file. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flushing;
    await this.handle.close();
  }

  private append(line: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push(line);
      this.waiters.push({ resolve, reject });
      this.startFlushing();
    });
  }

  private startFlushing(): void {
    if (this.flushing) return;
    this.flushing = this.flushBatches().finally(() => {
      this.flushing = undefined;
      // An append that came after the loop's last look must not be left waiting.
      if (this.pending.length > 0) this.startFlushing();
    });
  }

  private async flushBatches(): Promise<void> {
    while (this.pending.length > 0) {
      const lines = this.pending.splice(0);
      const waiters = this.waiters.splice(0);
      try {
        await this.handle.appendFile(lines.join(''));
        if (this.opts.fsync) await this.handle.sync();
        this.appendedSinceCompact += lines.length;
        waiters.forEach((w) => w.resolve());
      } catch (err) {
        waiters.forEach((w) => w.reject(err as Error));
      }
      await this.compactIfDue();
    }
  }

  /** Runs between batches, so no append is writing to the handle being replaced. */
  private async compactIfDue(): Promise<void> {
    if (this.appendedSinceCompact < Math.max(this.opts.compactAfter, this.ids.size)) return;
    dropExpired(this.ids, this.opts.now());
    const old = this.handle;
    this.handle = await rewrite(this.file, this.ids);
    this.appendedSinceCompact = 0;
    await old.close();
  }
}

function dropExpired(ids: Map<string, number>, now: number): void {
  for (const [id, expiresAt] of ids) {
    if (expiresAt + PRUNE_GRACE_MS < now) ids.delete(id);
  }
}

async function loadIds(file: string): Promise<Map<string, number>> {
  const ids = new Map<string, number>();
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return ids;
    throw err;
  }
  for (const line of text.split('\n')) {
    const entry = parseLine(line);
    if (entry) ids.set(entry.id, Math.max(entry.exp, ids.get(entry.id) ?? 0));
  }
  return ids;
}

/** One journal line, or undefined for an empty or torn one (a crash in the middle of an append). */
function parseLine(line: string): { id: string; exp: number } | undefined {
  if (line === '') return undefined;
  try {
    const entry = JSON.parse(line) as { id?: unknown; exp?: unknown };
    if (typeof entry.id === 'string' && typeof entry.exp === 'number') return { id: entry.id, exp: entry.exp };
  } catch {
    // torn line: skipped; the rewrite below drops it from the file
  }
  return undefined;
}

/** Replaces `file` with the live ids (temp file, fsync, rename, fsync the dir); returns it opened for appending. */
async function rewrite(file: string, ids: Map<string, number>): Promise<FileHandle> {
  const temp = `${file}.tmp`;
  const out = await open(temp, 'w', 0o600);
  try {
    let text = '';
    for (const [id, exp] of ids) text += `${JSON.stringify({ id, exp })}\n`;
    await out.writeFile(text);
    await out.sync();
  } finally {
    await out.close();
  }
  await rename(temp, file);
  await syncDir(path.dirname(file));
  return open(file, 'a', 0o600);
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
