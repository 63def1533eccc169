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

/** Where a fleet message is; replied, failed and expired are final. */
export type FleetMessageState = 'queued' | 'delivered' | 'running' | 'replied' | 'failed' | 'expired';
export const FLEET_FINAL_STATES: readonly FleetMessageState[] = ['replied', 'failed', 'expired'];
export const FLEET_MESSAGE_STATES: readonly FleetMessageState[] = ['queued', 'delivered', 'running', ...FLEET_FINAL_STATES];

export interface FleetMessageRecord {
  id: string;
  node: string;
  method: string;
  /** The message's index in its submission. */
  index: number;
  state: FleetMessageState;
  submittedAt: string;
  updatedAt: string;
  /** The agent's last reply (JSON, capped by the agent), or null. */
  reply: Record<string, unknown> | null;
  error: string | null;
  /** Where the reply goes, as the message said: console (kept here), file, fileAppend, none. */
  replyMethod: string;
  /** For file replies, relative to <data-dir>/fleet/<node>: '' is that folder. */
  replyDirectory: string;
  replyFileName: string | null;
  /** The file a file reply was written to, or why it could not be; both null until then. */
  replyFile: string | null;
  replyFileError: string | null;
  /** Where JetStream stored it in the command stream; null until published. */
  seq?: number | null;
  /**
   * Queued in the store and not published yet (no seq recorded): its ordered lane had an envelope
   * out when it was submitted, and it goes out with the others held there once that one is done;
   * or it is on its way to JetStream this moment (controller.ts).
   */
  held: boolean;
}

export type ReplyFileOutcome = { file: string } | { error: string };

/** A piece of a streamed reply (cliCommandCont, tailFile): numbered from 1 by the agent. */
export interface FleetOutputPart {
  part: number;
  stream: 'stdout' | 'stderr';
  text: string;
  at: string;
}

/** A message moved on (FleetMessageStore.updateMany). */
export interface FleetStateChange {
  state: FleetMessageState;
  reply?: Record<string, unknown> | null;
  error?: string | null;
  at: string;
}

/** One change of FleetMessageStore.updateMany: `after` is there when it applied (a final record stays as it was). */
export interface FleetStateResult {
  before?: FleetMessageRecord;
  after?: FleetMessageRecord;
}

/** A held message as heldMessages gives it back: `body` is what insertMany was given with it. */
export interface HeldMessage {
  id: string;
  method: string;
  submittedAt: string;
  body: string;
}

export interface FleetMessageStore {
  /** `body`: the message itself, as it is signed: a held one is published from it. */
  insertMany(records: (FleetMessageRecord & { body?: string })[]): Promise<void>;
  get(id: string): Promise<FleetMessageRecord | undefined>;
  /** Newest first. */
  list(filter: { node?: string; state?: FleetMessageState; limit: number }): Promise<FleetMessageRecord[]>;
  /**
   * Moves messages on, in one transaction: each message is read and, when `applies` says yes to the
   * record as it is, updated; a message in a final state stays there (a late or repeated reply
   * changes nothing). For each change, in order: the record before (undefined for an unknown id)
   * and, if `applies` said yes, the record after.
   */
  updateMany<C extends FleetStateChange & { id: string }>(changes: C[], applies: (before: FleetMessageRecord, change: C) => boolean): Promise<FleetStateResult[]>;
  /** Records where a file reply went (or the write error). Returns the record after, or undefined for an unknown id. */
  setReplyFile(id: string, outcome: ReplyFileOutcome): Promise<FleetMessageRecord | undefined>;
  /**
   * The JetStream sequence each envelope's messages were stored at, once published: they are held
   * no more, and their body goes (it was kept to publish them from; an argv may hold a secret, and a
   * `hello`'s is about 300 bytes).
   */
  setSeq(envelopes: { ids: string[]; seq: number }[]): Promise<void>;
  /** The messages not yet final that were published at this sequence of the command stream (one envelope's), in order. */
  bySeq(seq: number): Promise<FleetMessageRecord[]>;
  /** A node's messages of these methods that wait for or are with its agent: queued, delivered or running. */
  countWaiting(node: string, methods: string[]): Promise<number>;
  /** Whether a node has a message of these methods published (seq set) and not final yet: an envelope out. */
  hasOutstanding(node: string, methods: string[]): Promise<boolean>;
  /**
   * A node's held messages of these methods that are still queued and were submitted at or after
   * `notBefore` (ISO time): their ids, methods, times and bodies, in the order submitted. They stay
   * held until setSeq records where they were published.
   */
  heldMessages(node: string, methods: string[], notBefore: string): Promise<HeldMessage[]>;
  /** Every node and method with a held message still queued. */
  heldLanes(): Promise<{ node: string; method: string }[]>;
  /** Queued or delivered messages submitted before `before` (ISO time), oldest first. */
  stale(before: string, limit: number): Promise<FleetMessageRecord[]>;
  /** Stores streamed parts; a part already stored (a redelivered reply) is kept as it was. Returns the parts that were new. */
  addOutput(id: string, parts: FleetOutputPart[]): Promise<FleetOutputPart[]>;
  /** Parts after `afterPart`, in order. */
  output(id: string, afterPart: number, limit: number): Promise<FleetOutputPart[]>;
  /** How many messages are in each state (states with none are left out): the metrics scrape. */
  countByState(): Promise<Partial<Record<FleetMessageState, number>>>;
}

export interface Store {
  readonly kind: string;
  readonly nodes: NodeStore;
  readonly tokens: TokenStore;
  readonly fleet: FleetMessageStore;
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
