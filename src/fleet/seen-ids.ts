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
//
// Intents: the messages of one envelope run one after another, so each would pay an fsync. Instead
// `intend()` first writes one fsynced line naming all of them with the machine's boot id
// (/proc/sys/kernel/random/boot_id), and each id it names is then appended without an fsync just
// before its message runs (a plain write(2) at once when nothing else is on its way to the file).
// A write that returned survives the agent's own crash (it is in the kernel), so on the same boot
// the ids on file are exactly those taken, and an intent says nothing. After a power loss or a
// reboot (another boot id) the appends after an intent may be lost, so every id of that intent
// counts as taken: its messages that had not run yet are answered INTERRUPTED instead of run — at
// most once holds, at the price of those few. Without a boot id (not Linux) there are no intents
// and every id is fsynced as above.
// Messages that run back to back at once (the instant ones: hello, errorLog, op) need neither:
// `rememberAll()` writes all their ids in one fsynced append before the first of them runs.
import { writeSync } from 'node:fs';
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
  /**
   * Says that the messages `ids` (one envelope's) are about to be remembered and run; resolves once
   * that is on disk. A store may then remember them more cheaply (see the top comment).
   */
  intend?(ids: string[], expiresAt: number): Promise<void>;
  /**
   * remember() for messages that run back to back at once, all on disk together (one write, one
   * fsync) before any runs. Resolves, for each id in turn, whether it was new.
   */
  rememberAll(ids: string[], expiresAt: number): Promise<boolean[]>;
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

  async rememberAll(ids: string[], expiresAt: number): Promise<boolean[]> {
    const fresh: boolean[] = [];
    for (const id of ids) fresh.push(await this.remember(id, expiresAt));
    return fresh;
  }
}

export interface FileSeenStoreOptions {
  /** fsync each batch of appended ids before the messages run (default true); see the top comment. */
  fsync?: boolean;
  now?: () => number;
  /** Rewrite the file once this many lines were appended beyond the live set (default 10,000). */
  compactAfter?: number;
  /** This boot of the machine (default: the kernel's boot_id; '' for none, which turns intents off). */
  bootId?: string;
}

const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

interface PendingLine {
  /** One or more whole lines. */
  line: string;
  /** How many. */
  lines: number;
  /** Must be on disk, not only written, before it resolves. */
  durable: boolean;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class FileSeenStore implements SeenStore {
  private pending: PendingLine[] = [];
  /** Intents of this run whose ids are not all remembered yet: a compaction writes them again. */
  private intents: IntentLine[] = [];
  /** Ids named by an intent on disk and not remembered yet: remembered without an fsync. */
  private readonly covered = new Set<string>();
  private flushing: Promise<void> | undefined;
  private appendedSinceCompact = 0;
  private closed = false;

  private constructor(
    readonly file: string,
    private handle: FileHandle,
    private readonly ids: Map<string, number>,
    private readonly opts: Required<FileSeenStoreOptions>,
  ) {}

  /**
   * Loads `<dataDir>/fleet-seen-ids.jsonl` (or starts it), dropping ids that have expired; the ids
   * of intents made on another boot count as taken.
   */
  static async open(dataDir: string, options: FileSeenStoreOptions = {}): Promise<FileSeenStore> {
    const opts = { fsync: true, now: Date.now, compactAfter: 10_000, ...options, bootId: options.bootId ?? (await readBootId()) };
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const file = path.join(dataDir, SEEN_IDS_FILE);
    const ids = await loadIds(file, opts.bootId);
    dropExpired(ids, opts.now());
    const handle = await rewrite(file, ids);
    return new FileSeenStore(file, handle, ids, opts);
  }

  get size(): number {
    return this.ids.size;
  }

  async remember(id: string, expiresAt: number): Promise<boolean> {
    this.checkOpen();
    const claim = this.claim(id, expiresAt);
    if (!claim) return false;
    const { covered } = claim;
    const line = idLine(id, expiresAt);
    try {
      // Only written, and nothing else on its way to the file (which a compaction may be replacing):
      // at once, without a trip through the thread pool.
      if (covered && !this.flushing) {
        const bytes = Buffer.from(line);
        if (writeSync(this.handle.fd, bytes) !== bytes.length) throw new Error(`short write to ${this.file}`);
        this.appendedSinceCompact++;
      } else await this.append(line, !covered);
    } catch (err) {
      // Not on disk, so the message must not run; forgetting the id lets a redelivery try again.
      this.ids.delete(id);
      throw err;
    }
    return true;
  }

  async rememberAll(ids: string[], expiresAt: number): Promise<boolean[]> {
    this.checkOpen();
    // Each is fsynced below whether an intent covered it or not.
    const fresh = ids.map((id) => this.claim(id, expiresAt) !== undefined);
    const taken = ids.filter((_, i) => fresh[i]);
    if (taken.length === 0) return fresh;
    try {
      await this.append(taken.map((id) => idLine(id, expiresAt)).join(''), true, taken.length);
    } catch (err) {
      // Not on disk, so none may run; forgetting them lets a redelivery try again.
      for (const id of taken) this.ids.delete(id);
      throw err;
    }
    return fresh;
  }

  /**
   * Marks `id` taken in memory, before its line is on its way: undefined if it was taken already,
   * else whether an intent had covered it (which the id's line no longer needs once written).
   */
  private claim(id: string, expiresAt: number): { covered: boolean } | undefined {
    if (this.ids.has(id)) return undefined;
    this.ids.set(id, expiresAt);
    return { covered: this.covered.delete(id) };
  }

  private checkOpen(): void {
    if (this.closed) throw new Error(`seen-ids file ${this.file} is closed`);
  }

  async intend(ids: string[], expiresAt: number): Promise<void> {
    this.checkOpen();
    const fresh = ids.filter((id) => !this.ids.has(id));
    // One message gains nothing by it (an fsync either way); without a boot id an intent means nothing.
    if (fresh.length < 2 || !this.opts.bootId) return;
    // Known before it is written, so a compaction that runs meanwhile writes it again.
    const intent: IntentLine = { intent: fresh, exp: expiresAt, boot: this.opts.bootId };
    this.intents.push(intent);
    try {
      await this.append(`${JSON.stringify(intent)}\n`, true);
    } catch (err) {
      this.intents = this.intents.filter((i) => i !== intent);
      throw err;
    }
    for (const id of fresh) if (!this.ids.has(id)) this.covered.add(id);
  }

  /** Waits for pending appends, then closes the file. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flushing;
    await this.handle.close();
  }

  private append(line: string, durable: boolean, lines = 1): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ line, lines, durable, resolve, reject });
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
      const batch = this.pending.splice(0);
      try {
        await this.handle.appendFile(batch.map((p) => p.line).join(''));
        if (this.opts.fsync && batch.some((p) => p.durable)) await this.handle.sync();
        this.appendedSinceCompact += batch.reduce((n, p) => n + p.lines, 0);
        batch.forEach((p) => p.resolve());
      } catch (err) {
        batch.forEach((p) => p.reject(err as Error));
      }
      await this.compactIfDue();
    }
  }

  /** Runs between batches, so no append is writing to the handle being replaced. */
  private async compactIfDue(): Promise<void> {
    if (this.appendedSinceCompact < Math.max(this.opts.compactAfter, this.ids.size)) return;
    const now = this.opts.now();
    dropExpired(this.ids, now);
    // The rewrite is fsynced with every id remembered so far; an intent is still needed only for its others.
    this.intents = this.intents
      .map((intent) => ({ ...intent, intent: intent.intent.filter((id) => !this.ids.has(id)) }))
      .filter((intent) => intent.intent.length > 0 && intent.exp + PRUNE_GRACE_MS >= now);
    const old = this.handle;
    this.handle = await rewrite(this.file, this.ids, this.intents);
    this.appendedSinceCompact = 0;
    await old.close();
  }
}

/** An id's journal line. */
function idLine(id: string, exp: number): string {
  return `${JSON.stringify({ id, exp })}\n`;
}

function dropExpired(ids: Map<string, number>, now: number): void {
  for (const [id, expiresAt] of ids) {
    if (expiresAt + PRUNE_GRACE_MS < now) ids.delete(id);
  }
}

async function readBootId(): Promise<string> {
  try {
    return (await readFile(BOOT_ID_FILE, 'utf8')).trim();
  } catch {
    return '';
  }
}

async function loadIds(file: string, bootId: string): Promise<Map<string, number>> {
  const ids = new Map<string, number>();
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return ids;
    throw err;
  }
  const take = (id: string, exp: number) => ids.set(id, Math.max(exp, ids.get(id) ?? 0));
  for (const line of text.split('\n')) {
    const entry = parseLine(line);
    if (!entry) continue;
    if ('id' in entry) take(entry.id, entry.exp);
    // An intent of this boot says nothing the ids after it do not (see the top comment).
    else if (entry.boot !== bootId || !bootId) for (const id of entry.intent) take(id, entry.exp);
  }
  return ids;
}

/** An intent as it is on file and kept in memory: the ids, when they expire, the boot it was made on. */
interface IntentLine {
  intent: string[];
  exp: number;
  boot: string;
}

/** One journal line, or undefined for an empty or torn one (a crash in the middle of an append). */
function parseLine(line: string): { id: string; exp: number } | IntentLine | undefined {
  if (line === '') return undefined;
  try {
    const entry = JSON.parse(line) as { id?: unknown; exp?: unknown; intent?: unknown; boot?: unknown };
    if (typeof entry.exp !== 'number') return undefined;
    if (typeof entry.id === 'string') return { id: entry.id, exp: entry.exp };
    if (Array.isArray(entry.intent) && entry.intent.every((id) => typeof id === 'string') && typeof entry.boot === 'string') {
      return { intent: entry.intent as string[], exp: entry.exp, boot: entry.boot };
    }
  } catch {
    // A torn line (a crash, or a disk that filled up, in the middle of an append) is skipped, but a
    // whole line appended after it is glued to it: that one is still read.
    const at = line.lastIndexOf('{"');
    if (at > 0) return parseLine(line.slice(at));
  }
  return undefined;
}

/**
 * Replaces `file` with the live ids and the intents still wanted (temp file, fsync, rename, fsync
 * the dir); returns it opened for appending.
 */
async function rewrite(file: string, ids: Map<string, number>, intents: IntentLine[] = []): Promise<FileHandle> {
  const temp = `${file}.tmp`;
  const out = await open(temp, 'w', 0o600);
  try {
    let text = '';
    for (const [id, exp] of ids) text += idLine(id, exp);
    for (const intent of intents) text += `${JSON.stringify(intent)}\n`;
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
