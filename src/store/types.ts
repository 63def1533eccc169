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

export interface Store {
  readonly kind: string;
  readonly nodes: NodeStore;
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
