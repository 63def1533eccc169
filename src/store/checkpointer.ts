// SQLite in WAL mode copies the log back into the database file now and then (a checkpoint). By
// default the commit that takes the log past 1,000 pages does it, on the caller's thread: for the
// daemon that is the event loop, stalled 4-10 ms about once per hundred fleet messages (three
// commits each; measured with better-sqlite3 on this project's disk), which is most of the p99 of a
// fleet round trip. So the store turns that off on its own connection and this thread does it
// instead, with a connection of its own: a PASSIVE checkpoint, which never waits for or blocks a
// writer, every `intervalMs`. If the thread cannot run, the store goes back to SQLite's own way.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** What the thread says after each checkpoint: frames in the log, how many of them are in the database now, and when it started (ms since the epoch). */
export interface CheckpointReport {
  log: number;
  checkpointed: number;
  at: number;
}

// Plain JavaScript evaluated by `new Worker(..., { eval: true })`, so it loads the same from dist/
// and under tsx; better-sqlite3 comes by the absolute path the store itself loads it from.
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 5000');
const timer = setInterval(() => {
  try {
    const at = Date.now();
    const [r] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ log: r.log, checkpointed: r.checkpointed, at });
  } catch (err) {
    parentPort.postMessage({ error: String((err && err.message) || err) });
  }
}, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export class Checkpointer {
  private readonly worker: Worker;
  private readonly ended: Promise<void>;
  private stopped = false;

  /** `onReport` after each checkpoint; `onFailed` once if the thread cannot go on (the store then checkpoints itself). */
  constructor(file: string, intervalMs: number, onReport: (r: CheckpointReport) => void, onFailed: (err: Error) => void) {
    const module = createRequire(import.meta.url).resolve('better-sqlite3');
    // execArgv: none of the process's (an --input-type=module would make SOURCE a module without require).
    this.worker = new Worker(SOURCE, { eval: true, execArgv: [], workerData: { file, intervalMs, module } });
    this.ended = new Promise((resolve) => this.worker.once('exit', () => resolve()));
    let failed = false;
    const fail = (err: Error) => {
      if (failed || this.stopped) return;
      failed = true;
      void this.worker.terminate();
      onFailed(err);
    };
    this.worker.on('message', (m: CheckpointReport | { error: string }) => ('error' in m ? fail(new Error(m.error)) : onReport(m)));
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`the checkpoint thread ended (exit code ${code})`)));
    // Not what keeps the process running; after the listeners, as adding a 'message' one refs it again.
    this.worker.unref();
  }

  /** Ends the thread and its connection (before the store's own connection closes). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.worker.ref(); // its end is waited for now
    this.worker.postMessage('stop'); // nothing happens if it has ended already
    await this.ended;
  }
}
