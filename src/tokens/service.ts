// Scoped tokens: one node, some rights, an expiry. Only a hash of the secret is stored.
// Expiry and revocation reach live connections too: whoever attached with a token registers a
// way to warn and to close it, and is closed (with the reason) the moment the token dies.
import { createHash, randomBytes } from 'node:crypto';
import ms from 'ms';
import type { Logger } from 'pino';
import { errors } from '../errors.js';
import type { TokenKind, TokenRecord, TokenRight, TokenStore } from '../store/types.js';

export const TOKEN_RIGHTS: readonly TokenRight[] = ['console:rw', 'console:ro', 'power'];
export const DEFAULT_TTL = '1h';
const MAX_TTL_MS = 366 * 24 * 3600_000;
/** setTimeout's ceiling; a later expiry is checked again when the timer fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface CreateTokenInput {
  node: string;
  rights: TokenRight[];
  /** '2h', '30m', '7d'; null: no expiry (OBMd tokens only). */
  ttl?: string | null;
  kind?: TokenKind;
  note?: string;
}

export interface IssuedToken {
  /** The secret: shown once, never stored. */
  token: string;
  record: TokenRecord;
}

/**
 * A live connection made with a token: how to warn it and how to end it, saying why. A console
 * Attachment is one as it is (its client decides whether notices reach the user).
 */
export interface LiveConnection {
  notice(message: string): void;
  kick(reason: string): void;
}

export function hashToken(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** '2h' → 7200000; a clear error for anything else. */
export function parseTtl(ttl: string, field = 'ttl'): number {
  const n = /^\d+(ms|s|m|h|d)$/.test(ttl.trim()) ? ms(ttl.trim() as ms.StringValue) : NaN;
  if (!Number.isFinite(n) || n <= 0) throw new errors.VALIDATION(`${field}: '${ttl.slice(0, 32)}' is not a duration such as 30m, 2h or 7d`);
  if (n > MAX_TTL_MS) throw new errors.VALIDATION(`${field}: at most 366d`);
  return n;
}

/** OBMd's clients expect its 128-bit hex tokens; ours carry a prefix so leaked ones are easy to spot. */
function newSecret(kind: TokenKind): string {
  return kind === 'obmd' ? randomBytes(16).toString('hex') : `sbt_${randomBytes(32).toString('base64url')}`;
}

export interface TokenServiceDeps {
  store: TokenStore;
  logger: Logger;
  /** Policy: no token lives longer than this from its creation, renewals included. */
  maxTtlMs?: number;
  now?: () => number;
}

export class TokenService {
  private readonly live = new Map<string, Set<LiveConnection>>();
  private readonly timers = new Map<string, NodeJS.Timeout[]>();
  /** The expiry each token's connections were last warned about: one warning per expiry, not one per renewal. */
  private readonly warned = new Map<string, string>();
  private readonly now: () => number;

  constructor(private readonly deps: TokenServiceDeps) {
    this.now = deps.now ?? Date.now;
  }

  async create(input: CreateTokenInput): Promise<IssuedToken> {
    const kind = input.kind ?? 'api';
    const rights = [...new Set(input.rights)];
    if (rights.length === 0) throw new errors.VALIDATION('rights: give at least one of console:rw, console:ro, power');
    const now = this.now();
    const ttl = input.ttl === undefined ? DEFAULT_TTL : input.ttl;
    if (ttl === null && kind !== 'obmd') throw new errors.VALIDATION('ttl: every token expires; give a duration such as 2h');
    const ttlMs = ttl === null ? null : parseTtl(ttl);
    const max = kind === 'obmd' ? undefined : this.deps.maxTtlMs;
    if (ttlMs !== null && max !== undefined && ttlMs > max) {
      throw new errors.VALIDATION(`ttl: policy allows at most ${ms(max, { long: true })} (tokenMaxTtl)`);
    }
    const record: TokenRecord = {
      id: randomBytes(6).toString('hex'),
      node: input.node,
      rights,
      kind,
      note: input.note ?? '',
      createdAt: new Date(now).toISOString(),
      expiresAt: ttlMs === null ? null : new Date(now + ttlMs).toISOString(),
      ttlMs,
      maxExpiresAt: max === undefined ? null : new Date(now + max).toISOString(),
    };
    const token = newSecret(kind);
    await this.deps.store.create(record, hashToken(token));
    this.deps.logger.info({ tokenId: record.id, node: record.node, rights, kind, expiresAt: record.expiresAt }, 'token created');
    return { token, record };
  }

  /** The token's record if the secret is known and not expired. Lookup is by hash, so timing tells nothing of the secret. */
  async check(secret: string): Promise<TokenRecord | undefined> {
    const rec = await this.deps.store.byHash(hashToken(secret));
    return rec && !this.expired(rec) ? rec : undefined;
  }

  expired(rec: TokenRecord): boolean {
    return rec.expiresAt !== null && Date.parse(rec.expiresAt) <= this.now();
  }

  async list(node?: string): Promise<TokenRecord[]> {
    return this.deps.store.list(node);
  }

  async get(id: string): Promise<TokenRecord> {
    const rec = await this.deps.store.get(id);
    if (!rec) throw new errors.TOKEN_NOT_FOUND(id.slice(0, 32));
    return rec;
  }

  /** Live connections made with this token. */
  connections(id: string): number {
    return this.live.get(id)?.size ?? 0;
  }

  /**
   * Push the expiry out by `ttl` (default: the token's own ttl) from now, up to the policy cap.
   * An expired token cannot be renewed: renewal keeps a session alive, it does not revive one.
   */
  async renew(id: string, ttl?: string): Promise<TokenRecord> {
    const rec = await this.get(id);
    if (rec.expiresAt === null) return rec;
    if (this.expired(rec)) throw new errors.TOKEN_EXPIRED(id);
    const ttlMs = ttl === undefined ? (rec.ttlMs ?? parseTtl(DEFAULT_TTL)) : parseTtl(ttl);
    let until = this.now() + ttlMs;
    if (rec.maxExpiresAt !== null) until = Math.min(until, Date.parse(rec.maxExpiresAt));
    const expiresAt = new Date(Math.max(until, Date.parse(rec.expiresAt))).toISOString();
    if (!(await this.deps.store.setExpiry(id, expiresAt))) throw new errors.TOKEN_NOT_FOUND(id);
    const renewed = { ...rec, expiresAt };
    if (this.live.has(id)) this.schedule(renewed);
    this.deps.logger.info({ tokenId: id, node: rec.node, expiresAt }, 'token renewed');
    return renewed;
  }

  async revoke(id: string, reason = 'token revoked'): Promise<void> {
    const rec = await this.get(id);
    await this.deps.store.delete(id);
    this.deps.logger.info({ tokenId: id, node: rec.node, reason }, 'token revoked');
    this.closeAll(id, reason);
  }

  /** Revoke a node's tokens (all, or one kind); their connections are closed with `reason`. */
  async revokeNode(node: string, reason: string, kind?: TokenKind): Promise<number> {
    const gone = await this.deps.store.deleteForNode(node, kind);
    for (const rec of gone) {
      this.deps.logger.info({ tokenId: rec.id, node, reason }, 'token revoked');
      this.closeAll(rec.id, reason);
    }
    return gone.length;
  }

  /** Forget tokens that expired a day ago (kept that long so a list still explains a refusal). */
  async prune(): Promise<number> {
    return this.deps.store.deleteExpired(new Date(this.now() - 24 * 3600_000).toISOString());
  }

  /**
   * Register a live connection; returns the function that unregisters it. Without a token (the
   * admin) there is nothing to follow, and the function does nothing.
   */
  track(rec: TokenRecord | undefined, conn: LiveConnection): () => void {
    if (!rec) return () => {};
    let set = this.live.get(rec.id);
    if (!set) {
      set = new Set();
      this.live.set(rec.id, set);
      this.schedule(rec);
    }
    set.add(conn);
    return () => {
      const s = this.live.get(rec.id);
      if (!s?.delete(conn) || s.size > 0) return;
      this.live.delete(rec.id);
      this.unschedule(rec.id);
    };
  }

  /** Stop all timers (daemon stop); connections are closed by their sessions. */
  close(): void {
    for (const id of [...this.timers.keys()]) this.unschedule(id);
    this.live.clear();
  }

  private closeAll(id: string, reason: string): void {
    const conns = this.live.get(id);
    this.live.delete(id);
    this.unschedule(id);
    for (const c of conns ?? []) c.kick(reason);
  }

  /** A warning shortly before expiry (so a user can renew), and the cut at expiry. */
  private schedule(rec: TokenRecord): void {
    this.unschedule(rec.id);
    if (rec.expiresAt === null) return;
    const left = Date.parse(rec.expiresAt) - this.now();
    const warnAhead = Math.min(5 * 60_000, (rec.ttlMs ?? left) / 4);
    const timers: NodeJS.Timeout[] = [setTimeout(() => void this.onExpiry(rec.id), Math.min(Math.max(left, 0), MAX_TIMER_MS))];
    // A connection made inside the warning window is warned at once: it may still renew in time.
    // A renewal that could not move the expiry (the policy cap) is not warned again: that would
    // only make the client renew again, in a loop.
    if (left > 0 && left - warnAhead <= MAX_TIMER_MS && this.warned.get(rec.id) !== rec.expiresAt) {
      timers.push(setTimeout(() => this.warn(rec.id, rec.expiresAt!), Math.max(left - warnAhead, 0)));
    }
    for (const t of timers) t.unref();
    this.timers.set(rec.id, timers);
  }

  private unschedule(id: string): void {
    for (const t of this.timers.get(id) ?? []) clearTimeout(t);
    this.timers.delete(id);
    if (!this.live.has(id)) this.warned.delete(id);
  }

  private warn(id: string, expiresAt: string): void {
    this.warned.set(id, expiresAt);
    const mins = Math.max(1, Math.round((Date.parse(expiresAt) - this.now()) / 60_000));
    for (const c of this.live.get(id) ?? []) c.notice(`token expires in ${mins} min (at ${expiresAt}); renew it to stay attached`);
  }

  /** The timer fired: the token may have been renewed (or revoked) since it was set. */
  private async onExpiry(id: string): Promise<void> {
    if (!this.live.has(id)) return;
    const rec = await this.deps.store.get(id).catch(() => undefined);
    if (!rec) return this.closeAll(id, 'token revoked');
    if (!this.expired(rec)) return this.schedule(rec);
    this.deps.logger.info({ tokenId: id, node: rec.node }, 'token expired: closing its connections');
    this.closeAll(id, 'token expired');
  }
}
