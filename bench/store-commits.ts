// How long the daemon's thread waits on the store per fleet message (insert, then two state
// changes: three commits, as a round trip makes), with SQLite's own WAL checkpoints (in the commit
// that takes the log past 1,000 pages, on the caller's thread) and with the store's checkpoint
// thread (src/store/checkpointer.ts). The store is the real one, on disk under os.tmpdir().
//   npx tsx bench/store-commits.ts      BENCH_STORE_MESSAGES (20000)  BENCH_STORE_ROUNDS (2)
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteStore } from '../src/store/sqlite.js';
import { fmt, log, markdownTable, percentile, removeDir } from './lib.js';

const MESSAGES = Number(process.env.BENCH_STORE_MESSAGES ?? 20_000);
const ROUNDS = Number(process.env.BENCH_STORE_ROUNDS ?? 2);

async function run(dir: string, checkpointMs: number): Promise<number[]> {
  const store = new SqliteStore(path.join(dir, `s-${checkpointMs}-${Math.random().toString(36).slice(2)}.db`), { checkpointMs });
  const ms: number[] = [];
  try {
    for (let i = 0; i < MESSAGES; i++) {
      const at = new Date().toISOString();
      const id = `m-${i}-${'x'.repeat(24)}`;
      const t0 = performance.now();
      await store.fleet.insertMany([{
        id, node: 'n-000', method: 'hello', index: 0, state: 'queued', submittedAt: at, updatedAt: at, reply: null, error: null,
        replyMethod: 'console', replyDirectory: '', replyFileName: null, replyFile: null, replyFileError: null, held: false,
      }]);
      await store.fleet.updateMany([{ id, state: 'running', at }], () => true);
      await store.fleet.updateMany([{ id, state: 'replied', reply: { id, node: 'n-000', state: 'replied', at: Date.now() }, at }], () => true);
      ms.push(performance.now() - t0);
      // Let the checkpoint thread's reports in, as the daemon's event loop would.
      if (i % 100 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    await store.close();
  }
  return ms.sort((a, b) => a - b);
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'sb-bench-store-'));
const rows: string[][] = [];
try {
  for (let r = 1; r <= ROUNDS; r++) {
    for (const [label, checkpointMs] of [["SQLite's own (in the commit)", 0], ['checkpoint thread, every 1 s', 1000]] as const) {
      log(`round ${r}: ${label}, ${MESSAGES} messages`);
      const xs = await run(dir, checkpointMs);
      const sum = xs.reduce((a, b) => a + b, 0);
      rows.push([label, String(r), String(MESSAGES), fmt(percentile(xs, 50), 3), fmt(percentile(xs, 99), 2), fmt(percentile(xs, 99.9), 2), fmt(xs[xs.length - 1], 2),
        String(xs.filter((x) => x > 2).length), fmt(sum, 0)]);
    }
  }
} finally {
  removeDir(dir);
}
process.stdout.write(`## Store commits per fleet message (${new Date().toISOString()}, ${os.cpus().length} cores, disk under ${os.tmpdir()})\n\n`);
process.stdout.write(`${markdownTable(['checkpoints', 'round', 'messages', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'messages over 2 ms', 'total ms'], rows)}\n`);
