import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/types.js';
import { storeContract } from './contract.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'sb-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const files = new WeakMap<Store, string>();
let n = 0;

storeContract('sqlite', {
  async open() {
    const file = path.join(dir, `s${n++}.db`);
    const store = new SqliteStore(file);
    files.set(store, file);
    return store;
  },
  async reopen(previous) {
    return new SqliteStore(files.get(previous)!);
  },
});
