// A regex log search in a worker thread: a regular expression can backtrack for a long time on one
// line, and here that holds up only this thread, which the daemon terminates when the client goes
// away or the search runs out of time. Hits go back in batches, each waiting for the caller's go-ahead.
import { parentPort, workerData } from 'node:worker_threads';
import { once } from 'node:events';
import { searchNodeLog, type LogHit, type SearchTarget, type SearchWindow } from './log-search.js';

export interface RegexSearchJob {
  targets: SearchTarget[];
  pattern: string;
  flags: string;
  window: SearchWindow;
  limit: number;
}

/** Worker → caller: a batch of hits, or the end. Caller → worker: 'more' after each batch. */
export type WorkerMessage = { hits: LogHit[] } | { done: true };

export const BATCH = 256;

async function run(port: NonNullable<typeof parentPort>, job: RegexSearchJob): Promise<void> {
  let batch: LogHit[] = [];
  let count = 0;
  const flush = async () => {
    port.postMessage({ hits: batch } satisfies WorkerMessage);
    batch = [];
    await once(port, 'message');
  };
  const regex = new RegExp(job.pattern, job.flags);
  for (const target of job.targets) {
    for await (const hit of searchNodeLog(target.node, target.filesOldestFirst, { regex }, job.window)) {
      batch.push(hit);
      if (++count >= job.limit) break;
      if (batch.length >= BATCH) await flush();
    }
    if (count >= job.limit) break;
    // A node's hits go out when it is done: the next node may take long.
    if (batch.length) await flush();
  }
  if (batch.length) await flush();
  port.postMessage({ done: true } satisfies WorkerMessage);
}

if (parentPort) await run(parentPort, workerData as RegexSearchJob);
