// The storage contract. Every implementation (sqlite now, postgres next) runs test/store/contract.ts.
import type { HostKeyStore } from '../drivers/types.js';
import type { NodeRecord, NodeSpec } from '../model/node.js';

export interface NodeStore {
  /** All nodes, ordered by name. */
  list(): Promise<NodeRecord[]>;
  get(name: string): Promise<NodeRecord | undefined>;
  /** Throws errors.NODE_EXISTS when the name is taken. */
  create(spec: NodeSpec): Promise<NodeRecord>;
  /** Replaces the spec of an existing node; throws errors.NODE_NOT_FOUND. */
  update(spec: NodeSpec): Promise<NodeRecord>;
  /** Returns false when there was no such node. */
  delete(name: string): Promise<boolean>;
}

/** What a token is allowed to do, on one node. */
export type TokenRight = 'console:rw' | 'console:ro' | 'power';
/** api: made by `POST /api/v1/tokens`; link: by a console link; obmd: OBMd's one token per node. */
export type TokenKind = 'api' | 'link' | 'obmd';

/** A scoped token as stored: never the secret, only its hash. */
export interface TokenRecord {
  id: string;
  node: string;
  rights: TokenRight[];
  kind: TokenKind;
  note: string;
  createdAt: string;
  /** null: no expiry (OBMd tokens live until replaced or revoked). */
  expiresAt: string | null;
  /** How far a renewal pushes the expiry (the ttl it was made with). */
  ttlMs: number | null;
  /** Policy cap: no renewal goes past this. */
  maxExpiresAt: string | null;
}

export interface TokenStore {
  /** `hash` is the SHA-256 of the secret (hex). */
  create(rec: TokenRecord, hash: string): Promise<void>;
  byHash(hash: string): Promise<TokenRecord | undefined>;
  get(id: string): Promise<TokenRecord | undefined>;
  /** All tokens (or one node's), oldest first. */
  list(node?: string): Promise<TokenRecord[]>;
  setExpiry(id: string, expiresAt: string): Promise<boolean>;
  delete(id: string): Promise<boolean>;
  /** Deletes and returns the node's tokens (of one kind, or all). */
  deleteForNode(node: string, kind?: TokenKind): Promise<TokenRecord[]>;
  /** Drops tokens that expired before `before`; returns how many. */
  deleteExpired(before: string): Promise<number>;
}

export interface Store {
  readonly kind: string;
  readonly nodes: NodeStore;
  readonly tokens: TokenStore;
  readonly hostKeys: HostKeyStore;
  /** The schema version the store is at after its migrations ran. */
  schemaVersion(): Promise<number>;
  close(): Promise<void>;
}

export interface Migration {
  version: number;
  name: string;
  sql: string;
}
