import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
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

const modeOf = (f: string) => statSync(f).mode & 0o777;

test('the store file and its -wal and -shm are the owner\'s alone, in a folder anyone may read (it holds BMC passwords)', async () => {
  const open = path.join(dir, 'open-folder');
  mkdirSync(open, { mode: 0o755 });
  chmodSync(open, 0o755);
  const file = path.join(open, 'switchboard.db');
  const store = new SqliteStore(file);
  await store.nodes.create({ name: 'bmc1', driver: 'cmd', params: { cmd: ['/bin/cat'] }, ondemand: false, consoleEnabled: true, labels: {}, power: null, consolePort: null, vnc: null, watchPatterns: [] });
  for (const f of [file, `${file}-wal`, `${file}-shm`]) assert.equal(modeOf(f), 0o600, f);
  await store.close();
});

test('a store an older run left readable by others is made the owner\'s alone when opened', async () => {
  const file = path.join(dir, 'older.db');
  // An older run, still open (so its -wal and -shm are there), whose files anyone may read.
  const older = new SqliteStore(file);
  for (const f of [file, `${file}-wal`, `${file}-shm`]) chmodSync(f, 0o644);
  const store = new SqliteStore(file);
  for (const f of [file, `${file}-wal`, `${file}-shm`]) assert.equal(modeOf(f), 0o600, f);
  await store.close();
  await older.close();
});

test('the log (-wal) is checkpointed by a thread of its own: it stays small however much is written', async () => {
  const file = path.join(dir, 'busy.db');
  const store = new SqliteStore(file, { checkpointMs: 50 });
  // The checkpoint thread does not keep a process running, so the waits for its reports need this.
  const keepAlive = setInterval(() => {}, 60_000);
  try {
    const at = new Date().toISOString();
    // A checkpoint that started after the writes took all of the log. Reports made before them may
    // still be on their way to this thread: on a busy machine they come late.
    const complete = (since: number) => new Promise<void>((resolve) => {
      const on = (r: { log: number; checkpointed: number; at: number }) => {
        if (r.at > since && r.log > 0 && r.checkpointed === r.log) {
          store.events.off('checkpoint', on);
          resolve();
        }
      };
      store.events.on('checkpoint', on);
    });
    for (let round = 0; round < 12; round++) {
      await store.fleet.insertMany(Array.from({ length: 1000 }, (_, i) => ({
        id: `m-${round}-${i}`, node: 'n1', method: 'cliCommand', index: i, state: 'queued' as const, submittedAt: at, updatedAt: at, reply: null, error: null,
        replyMethod: 'file', replyDirectory: 'x'.repeat(400), replyFileName: `${i}.log`, replyFile: null, replyFileError: null, held: false,
      })));
      // The next write starts the log afresh once a checkpoint took all of it.
      await complete(Date.now());
    }
    const db = statSync(file).size;
    const wal = statSync(`${file}-wal`).size;
    assert.ok(db > 6e6, `the database holds what was written (${db} bytes)`);
    assert.ok(wal < db / 4, `the log stays small: ${wal} bytes beside a ${db}-byte database`);
  } finally {
    clearInterval(keepAlive);
    await store.close();
  }
});

test('a store left open does not keep its process running (a daemon that fails to start exits)', async (t) => {
  const file = path.join(dir, 'left-open.db');
  const store = new URL('../../src/store/sqlite.ts', import.meta.url).href;
  // Opened, checkpointed once, never closed: the checkpoint thread must not hold the process.
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e',
    `const { SqliteStore } = await import(${JSON.stringify(store)}); const s = new SqliteStore(${JSON.stringify(file)}, { checkpointMs: 20 }); await s.fleet.countByState(); const k = setInterval(() => {}, 60000); await new Promise((r) => s.events.once('checkpoint', r)); clearInterval(k); console.log('open');`,
  ], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code, signal] = await once(child, 'exit');
  clearTimeout(guard);
  assert.equal(out.trim(), 'open');
  assert.deepEqual([code, signal], [0, null], 'it exited by itself');
});
