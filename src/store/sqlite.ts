// The default store: one SQLite file in the data dir, migrated by PRAGMA user_version.
import { chmodSync, closeSync, openSync, statSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import Database from 'better-sqlite3';
import { errors } from '../errors.js';
import type { NodeRecord, NodeSpec, PowerSpec, VncSpec } from '../model/node.js';
import type { NodeWatchPattern } from '../model/watch-pattern.js';
import { Checkpointer } from './checkpointer.js';
import { sqliteMigrations } from './migrations/sqlite.js';
import type { HostKeyStore } from '../drivers/types.js';
import { FLEET_FINAL_STATES, type FleetMessageRecord, type FleetMessageState, type FleetMessageStore, type FleetOutputPart, type FleetStateChange, type FleetStateResult, type HeldMessage, type Migration, type ReplyFileOutcome, type NodeStore, type Store, type TokenKind, type TokenRecord, type TokenRight, type TokenStore } from './types.js';

interface NodeRow {
  name: string;
  driver: string;
  params: string;
  ondemand: number;
  console_enabled: number;
  labels: string;
  power: string | null;
  console_port: number | null;
  vnc: string | null;
  watch_patterns: string;
  created_at: string;
  updated_at: string;
}

function toRecord(row: NodeRow): NodeRecord {
  return {
    name: row.name,
    driver: row.driver,
    params: JSON.parse(row.params) as Record<string, unknown>,
    ondemand: row.ondemand === 1,
    consoleEnabled: row.console_enabled === 1,
    labels: JSON.parse(row.labels) as Record<string, string>,
    power: row.power ? (JSON.parse(row.power) as PowerSpec) : null,
    consolePort: row.console_port,
    vnc: row.vnc ? (JSON.parse(row.vnc) as VncSpec) : null,
    watchPatterns: JSON.parse(row.watch_patterns) as NodeWatchPattern[],
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function migrate(db: Database.Database, migrations: Migration[] = sqliteMigrations): number {
  const current = db.pragma('user_version', { simple: true }) as number;
  const pending = migrations.filter((m) => m.version > current).sort((a, b) => a.version - b.version);
  for (const m of pending) {
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    })();
  }
  return pending.length ? pending[pending.length - 1].version : current;
}

class SqliteNodeStore implements NodeStore {
  private readonly stmts;

  constructor(db: Database.Database) {
    this.stmts = {
      list: db.prepare<[], NodeRow>('SELECT * FROM nodes ORDER BY name'),
      get: db.prepare<[string], NodeRow>('SELECT * FROM nodes WHERE name = ?'),
      insert: db.prepare(`INSERT INTO nodes (name, driver, params, ondemand, console_enabled, labels, power, console_port, vnc, watch_patterns, created_at, updated_at)
        VALUES (@name, @driver, @params, @ondemand, @console_enabled, @labels, @power, @console_port, @vnc, @watch_patterns, @created_at, @updated_at)`),
      update: db.prepare(`UPDATE nodes SET driver = @driver, params = @params, ondemand = @ondemand,
        console_enabled = @console_enabled, labels = @labels, power = @power, console_port = @console_port, vnc = @vnc, watch_patterns = @watch_patterns, updated_at = @updated_at WHERE name = @name`),
      delete: db.prepare<[string]>('DELETE FROM nodes WHERE name = ?'),
      byPort: db.prepare<[number], { name: string }>('SELECT name FROM nodes WHERE console_port = ?'),
    };
  }

  private row(spec: NodeSpec, now: string) {
    return {
      name: spec.name,
      driver: spec.driver,
      params: JSON.stringify(spec.params),
      ondemand: spec.ondemand ? 1 : 0,
      console_enabled: spec.consoleEnabled ? 1 : 0,
      labels: JSON.stringify(spec.labels),
      power: spec.power ? JSON.stringify(spec.power) : null,
      console_port: spec.consolePort,
      vnc: spec.vnc ? JSON.stringify(spec.vnc) : null,
      watch_patterns: JSON.stringify(spec.watchPatterns),
      created_at: now,
      updated_at: now,
    };
  }

  /** The unique index on console_port turns a clash into a clear error naming the holder. */
  private portTaken(err: unknown, spec: NodeSpec): unknown {
    if ((err as { code?: string }).code !== 'SQLITE_CONSTRAINT_UNIQUE' || spec.consolePort === null) return err;
    const holder = this.stmts.byPort.get(spec.consolePort);
    return new errors.CONSOLE_PORT_TAKEN(String(spec.consolePort), holder?.name ?? '?');
  }

  async list(): Promise<NodeRecord[]> {
    return this.stmts.list.all().map(toRecord);
  }

  async get(name: string): Promise<NodeRecord | undefined> {
    const row = this.stmts.get.get(name);
    return row ? toRecord(row) : undefined;
  }

  async create(spec: NodeSpec): Promise<NodeRecord> {
    const now = new Date().toISOString();
    try {
      this.stmts.insert.run(this.row(spec, now));
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new errors.NODE_EXISTS(spec.name);
      throw this.portTaken(err, spec);
    }
    return { ...spec, createdAt: now, updatedAt: now };
  }

  async update(spec: NodeSpec): Promise<NodeRecord> {
    const now = new Date().toISOString();
    let info: Database.RunResult;
    try {
      info = this.stmts.update.run(this.row(spec, now));
    } catch (err) {
      throw this.portTaken(err, spec);
    }
    if (info.changes === 0) throw new errors.NODE_NOT_FOUND(spec.name);
    return toRecord(this.stmts.get.get(spec.name)!);
  }

  async delete(name: string): Promise<boolean> {
    return this.stmts.delete.run(name).changes > 0;
  }
}

class SqliteHostKeyStore implements HostKeyStore {
  private readonly stmts;

  constructor(db: Database.Database) {
    this.stmts = {
      get: db.prepare<[string], { fingerprint: string }>('SELECT fingerprint FROM host_keys WHERE endpoint = ?'),
      insert: db.prepare<[string, string, string]>('INSERT INTO host_keys (endpoint, fingerprint, first_seen) VALUES (?, ?, ?) ON CONFLICT (endpoint) DO NOTHING'),
      delete: db.prepare<[string]>('DELETE FROM host_keys WHERE endpoint = ?'),
    };
  }

  async get(endpoint: string): Promise<string | undefined> {
    return this.stmts.get.get(endpoint)?.fingerprint;
  }

  async remember(endpoint: string, fingerprint: string): Promise<string> {
    this.stmts.insert.run(endpoint, fingerprint, new Date().toISOString());
    return this.stmts.get.get(endpoint)!.fingerprint;
  }

  async forget(endpoint: string): Promise<boolean> {
    return this.stmts.delete.run(endpoint).changes > 0;
  }
}

interface TokenRow {
  id: string;
  node: string;
  rights: string;
  kind: string;
  note: string;
  created_at: string;
  expires_at: string | null;
  ttl_ms: number | null;
  max_expires_at: string | null;
}

function toToken(row: TokenRow): TokenRecord {
  return {
    id: row.id,
    node: row.node,
    rights: JSON.parse(row.rights) as TokenRight[],
    kind: row.kind as TokenKind,
    note: row.note,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    ttlMs: row.ttl_ms,
    maxExpiresAt: row.max_expires_at,
  };
}

const TOKEN_COLUMNS = 'id, node, rights, kind, note, created_at, expires_at, ttl_ms, max_expires_at';

class SqliteTokenStore implements TokenStore {
  private readonly stmts;

  constructor(private readonly db: Database.Database) {
    this.stmts = {
      insert: db.prepare(`INSERT INTO tokens (${TOKEN_COLUMNS}, hash)
        VALUES (@id, @node, @rights, @kind, @note, @created_at, @expires_at, @ttl_ms, @max_expires_at, @hash)`),
      byHash: db.prepare<[string], TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE hash = ?`),
      get: db.prepare<[string], TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE id = ?`),
      list: db.prepare<[], TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens ORDER BY created_at, id`),
      listNode: db.prepare<[string], TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE node = ? ORDER BY created_at, id`),
      setExpiry: db.prepare<[string, string]>('UPDATE tokens SET expires_at = ? WHERE id = ?'),
      delete: db.prepare<[string]>('DELETE FROM tokens WHERE id = ?'),
      deleteExpired: db.prepare<[string]>('DELETE FROM tokens WHERE expires_at IS NOT NULL AND expires_at < ?'),
    };
  }

  async create(rec: TokenRecord, hash: string): Promise<void> {
    this.stmts.insert.run({
      id: rec.id, node: rec.node, rights: JSON.stringify(rec.rights), kind: rec.kind, note: rec.note,
      created_at: rec.createdAt, expires_at: rec.expiresAt, ttl_ms: rec.ttlMs, max_expires_at: rec.maxExpiresAt, hash,
    });
  }

  async byHash(hash: string): Promise<TokenRecord | undefined> {
    const row = this.stmts.byHash.get(hash);
    return row && toToken(row);
  }

  async get(id: string): Promise<TokenRecord | undefined> {
    const row = this.stmts.get.get(id);
    return row && toToken(row);
  }

  async list(node?: string): Promise<TokenRecord[]> {
    return (node === undefined ? this.stmts.list.all() : this.stmts.listNode.all(node)).map(toToken);
  }

  async setExpiry(id: string, expiresAt: string): Promise<boolean> {
    return this.stmts.setExpiry.run(expiresAt, id).changes > 0;
  }

  async delete(id: string): Promise<boolean> {
    return this.stmts.delete.run(id).changes > 0;
  }

  async deleteForNode(node: string, kind?: TokenKind): Promise<TokenRecord[]> {
    return this.db.transaction(() => {
      const gone = this.stmts.listNode.all(node).map(toToken).filter((t) => kind === undefined || t.kind === kind);
      for (const t of gone) this.stmts.delete.run(t.id);
      return gone;
    })();
  }

  async deleteExpired(before: string): Promise<number> {
    return this.stmts.deleteExpired.run(before).changes;
  }
}

interface FleetMessageRow {
  id: string;
  node: string;
  method: string;
  idx: number;
  state: string;
  submitted_at: string;
  updated_at: string;
  reply: string | null;
  error: string | null;
  reply_method: string;
  reply_directory: string;
  reply_file_name: string | null;
  reply_file: string | null;
  reply_file_error: string | null;
  seq: number | null;
  held: number;
  body: string | null;
}

function toFleetRecord(row: FleetMessageRow): FleetMessageRecord {
  return {
    id: row.id,
    node: row.node,
    method: row.method,
    index: row.idx,
    state: row.state as FleetMessageState,
    submittedAt: row.submitted_at,
    updatedAt: row.updated_at,
    reply: row.reply ? (JSON.parse(row.reply) as Record<string, unknown>) : null,
    error: row.error,
    replyMethod: row.reply_method,
    replyDirectory: row.reply_directory,
    replyFileName: row.reply_file_name,
    replyFile: row.reply_file,
    replyFileError: row.reply_file_error,
    seq: row.seq,
    // Held is a kind of queued: one that failed before it was published (QUEUE_FULL, PUBLISH_FAILED) or expired is that, not held.
    held: row.held === 1 && row.state === 'queued',
  };
}

/** One `?` per value, for `IN (...)`. */
const marks = (values: readonly unknown[]) => values.map(() => '?').join(', ');

const FINAL_STATES_SQL = FLEET_FINAL_STATES.map((s) => `'${s}'`).join(', ');

class SqliteFleetMessageStore implements FleetMessageStore {
  private readonly stmts;
  private readonly insertAll;

  constructor(private readonly db: Database.Database) {
    this.stmts = {
      // The statements run for every message take their values by position: binding by name, from an
      // object made for it, was a sixth of an insert's time.
      insert: db.prepare(`INSERT INTO fleet_messages (id, node, method, idx, state, submitted_at, updated_at, reply, error, reply_method, reply_directory, reply_file_name, held, body)
        VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?, ?)`),
      get: db.prepare<[string], FleetMessageRow>('SELECT * FROM fleet_messages WHERE id = ?'),
      // A state change reads the row, then writes it where it is (its rowid), not looking the id up again.
      getToUpdate: db.prepare<[string], FleetMessageRow & { row_id: number }>('SELECT rowid AS row_id, * FROM fleet_messages WHERE id = ?'),
      list: db.prepare<{ node: string | null; state: string | null; limit: number }, FleetMessageRow>(`SELECT * FROM fleet_messages
        WHERE (@node IS NULL OR node = @node) AND (@state IS NULL OR state = @state)
        ORDER BY submitted_at DESC, idx DESC LIMIT @limit`),
      update: db.prepare<[string, string, string | null, string | null, number]>(`UPDATE fleet_messages
        SET state = ?, updated_at = ?, reply = COALESCE(?, reply), error = COALESCE(?, error)
        WHERE rowid = ? AND state NOT IN (${FINAL_STATES_SQL})`),
      setReplyFile: db.prepare('UPDATE fleet_messages SET reply_file = @file, reply_file_error = @error WHERE id = @id'),
      setSeq: db.prepare<[number, string]>('UPDATE fleet_messages SET seq = ?, held = 0, body = NULL WHERE id = ?'),
      // A stream made again starts its sequence afresh: the newest envelope still in flight wins (the
      // node of the last message stored with that sequence; one envelope is one node's).
      bySeq: db.prepare<{ seq: number }, FleetMessageRow>(`SELECT * FROM fleet_messages WHERE seq = @seq AND state NOT IN (${FINAL_STATES_SQL})
        AND node = (SELECT node FROM fleet_messages WHERE seq = @seq AND state NOT IN (${FINAL_STATES_SQL}) ORDER BY rowid DESC LIMIT 1)
        ORDER BY rowid`),
      heldLanes: db.prepare<[], { node: string; method: string }>(`SELECT DISTINCT node, method FROM fleet_messages WHERE held = 1 AND state = 'queued' ORDER BY node, method`),
      countByState: db.prepare<[], { state: FleetMessageState; n: number }>('SELECT state, COUNT(*) AS n FROM fleet_messages GROUP BY state'),
      stale: db.prepare<{ before: string; limit: number }, FleetMessageRow>(`SELECT * FROM fleet_messages
        WHERE state IN ('queued', 'delivered') AND submitted_at < @before ORDER BY submitted_at LIMIT @limit`),
      addPart: db.prepare('INSERT OR IGNORE INTO fleet_output (id, part, stream, text, at) VALUES (@id, @part, @stream, @text, @at)'),
      output: db.prepare<{ id: string; after: number; limit: number }, FleetOutputPart>(`SELECT part, stream, text, at FROM fleet_output
        WHERE id = @id AND part > @after ORDER BY part LIMIT @limit`),
    };
    this.insertAll = db.transaction((records: (FleetMessageRecord & { body?: string })[]) => {
      for (const r of records) {
        this.stmts.insert.run(r.id, r.node, r.method, r.index, r.state, r.submittedAt, r.updatedAt, r.replyMethod, r.replyDirectory, r.replyFileName, r.held ? 1 : 0, r.body ?? null);
      }
    });
    this.setSeqs = db.transaction((envelopes: { ids: string[]; seq: number }[]) => {
      for (const { ids, seq } of envelopes) for (const id of ids) this.stmts.setSeq.run(seq, id);
    });
    // One commit for a group of replies: a commit each was most of the daemon's time per reply.
    this.updateAll = db.transaction((changes: (FleetStateChange & { id: string })[], applies: (before: FleetMessageRecord, change: FleetStateChange & { id: string }) => boolean) =>
      changes.map((change): FleetStateResult => {
        const row = this.stmts.getToUpdate.get(change.id);
        const before = row && toFleetRecord(row);
        if (!before || !applies(before, change)) return { before };
        // Final already, as read just now: it stays as it is.
        if (FLEET_FINAL_STATES.includes(before.state)) return { before, after: before };
        const { state, at, reply, error } = change;
        this.stmts.update.run(state, at, reply ? JSON.stringify(reply) : null, error ?? null, row.row_id);
        // The row as the update left it, made here rather than read back (a third of the time per
        // change): nothing else writes between the read above and this, one connection in one transaction.
        return { before, after: { ...before, state, updatedAt: at, reply: reply ?? before.reply, error: error ?? before.error } };
      }));
    this.addParts = db.transaction((id: string, parts: FleetOutputPart[]) => parts.filter((p) => this.stmts.addPart.run({ id, ...p }).changes === 1));
  }

  private readonly addParts;
  private readonly setSeqs;
  private readonly updateAll;

  async setSeq(envelopes: { ids: string[]; seq: number }[]): Promise<void> {
    this.setSeqs(envelopes);
  }

  async bySeq(seq: number): Promise<FleetMessageRecord[]> {
    return this.stmts.bySeq.all({ seq }).map(toFleetRecord);
  }

  async countWaiting(node: string, methods: string[]): Promise<number> {
    const sql = `SELECT COUNT(*) AS n FROM fleet_messages WHERE node = ? AND state IN ('queued', 'delivered', 'running') AND method IN (${marks(methods)})`;
    return (this.statement(sql).get(node, ...methods) as { n: number }).n;
  }

  /** Statements whose text depends on the number of methods, prepared once each. */
  private readonly statements = new Map<string, Database.Statement<unknown[], unknown>>();

  private statement(sql: string): Database.Statement<unknown[], unknown> {
    let stmt = this.statements.get(sql);
    if (!stmt) this.statements.set(sql, (stmt = this.db.prepare<unknown[], unknown>(sql)));
    return stmt;
  }

  async hasOutstanding(node: string, methods: string[]): Promise<boolean> {
    return (this.statement(`SELECT EXISTS (SELECT 1 FROM fleet_messages WHERE node = ? AND state IN ('queued', 'delivered', 'running')
      AND held = 0 AND seq IS NOT NULL AND method IN (${marks(methods)})) AS out`).get(node, ...methods) as { out: number }).out === 1;
  }

  async heldMessages(node: string, methods: string[], notBefore: string): Promise<HeldMessage[]> {
    // Found through the lane index (node, state, method, held), then put in the order inserted, which
    // is the order submitted: an ORDER BY rowid here makes SQLite walk the table instead.
    const rows = this.statement(`SELECT rowid AS r, id, method, submitted_at, body FROM fleet_messages
      WHERE node = ? AND state = 'queued' AND method IN (${marks(methods)}) AND held = 1 AND submitted_at >= ?`)
      .all(node, ...methods, notBefore) as { r: number; id: string; method: string; submitted_at: string; body: string }[];
    return rows.sort((a, b) => a.r - b.r).map((row) => ({ id: row.id, method: row.method, submittedAt: row.submitted_at, body: row.body }));
  }

  async heldLanes(): Promise<{ node: string; method: string }[]> {
    return this.stmts.heldLanes.all();
  }

  async stale(before: string, limit: number): Promise<FleetMessageRecord[]> {
    return this.stmts.stale.all({ before, limit }).map(toFleetRecord);
  }

  async addOutput(id: string, parts: FleetOutputPart[]): Promise<FleetOutputPart[]> {
    return this.addParts(id, parts);
  }

  async output(id: string, afterPart: number, limit: number): Promise<FleetOutputPart[]> {
    return this.stmts.output.all({ id, after: afterPart, limit });
  }

  async countByState(): Promise<Partial<Record<FleetMessageState, number>>> {
    return Object.fromEntries(this.stmts.countByState.all().map((r) => [r.state, r.n]));
  }

  async insertMany(records: FleetMessageRecord[]): Promise<void> {
    this.insertAll(records);
  }

  async get(id: string): Promise<FleetMessageRecord | undefined> {
    const row = this.stmts.get.get(id);
    return row && toFleetRecord(row);
  }

  async list(filter: { node?: string; state?: FleetMessageState; limit: number }): Promise<FleetMessageRecord[]> {
    return this.stmts.list.all({ node: filter.node ?? null, state: filter.state ?? null, limit: filter.limit }).map(toFleetRecord);
  }

  async updateMany<C extends FleetStateChange & { id: string }>(changes: C[], applies: (before: FleetMessageRecord, change: C) => boolean): Promise<FleetStateResult[]> {
    return this.updateAll(changes, applies as (before: FleetMessageRecord, change: FleetStateChange & { id: string }) => boolean);
  }

  async setReplyFile(id: string, outcome: ReplyFileOutcome): Promise<FleetMessageRecord | undefined> {
    this.stmts.setReplyFile.run({ id, file: 'file' in outcome ? outcome.file : null, error: 'error' in outcome ? outcome.error : null });
    return this.get(id);
  }
}

const DEFAULT_CHECKPOINT_MS = 1000;
/** SQLite's own default: a checkpoint by the commit that takes the log past this many pages. */
const SQLITE_AUTOCHECKPOINT = 1000;

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  readonly nodes: NodeStore;
  readonly tokens: TokenStore;
  readonly hostKeys: HostKeyStore;
  readonly fleet: FleetMessageStore;
  private readonly db: Database.Database;

  /** `checkpoint` after each checkpoint of the log (checkpointer.ts); `checkpoint-failed` (err) if its thread stops working. */
  readonly events = new EventEmitter();
  private readonly checkpointer?: Checkpointer;

  /** `file` is a path, or ':memory:' for tests. `checkpointMs`: between checkpoints of the log (default 1 s; 0: SQLite's own, on the caller's thread). */
  constructor(file: string, opts: { checkpointMs?: number } = {}) {
    if (file !== ':memory:') ownerOnly(file);
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    migrate(this.db);
    const checkpointMs = opts.checkpointMs ?? DEFAULT_CHECKPOINT_MS;
    if (file !== ':memory:' && checkpointMs > 0) {
      // Checkpoints off the event loop (checkpointer.ts).
      this.db.pragma('wal_autocheckpoint = 0');
      this.checkpointer = new Checkpointer(file, checkpointMs, (r) => this.events.emit('checkpoint', r), (err) => {
        if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${SQLITE_AUTOCHECKPOINT}`);
        this.events.emit('checkpoint-failed', err);
      });
    }
    this.nodes = new SqliteNodeStore(this.db);
    this.hostKeys = new SqliteHostKeyStore(this.db);
    this.tokens = new SqliteTokenStore(this.db);
    this.fleet = new SqliteFleetMessageStore(this.db);
  }

  async schemaVersion(): Promise<number> {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  async close(): Promise<void> {
    await this.checkpointer?.stop();
    if (this.db.open) this.db.close();
  }
}

/**
 * The store holds BMC and SSH passwords: its file is the owner's alone (0600) whatever the folder
 * it is in allows (a data dir made by hand or a package may be 0755), made so before SQLite opens
 * it — SQLite gives its -wal and -shm files the database's mode — and taken back to that if an
 * older run left it, or them, readable by others.
 */
function ownerOnly(file: string): void {
  closeSync(openSync(file, 'a', 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    let mode: number;
    try {
      mode = statSync(f).mode & 0o777;
    } catch {
      continue; // no -wal or -shm yet
    }
    if (mode & 0o077) chmodSync(f, mode & 0o700);
  }
}
