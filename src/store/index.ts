export type { Store, NodeStore, Migration } from './types.js';
export { SqliteStore } from './sqlite.js';
