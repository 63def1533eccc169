// The caller's side of log-search-worker.ts: its hits as an async generator; the worker is
// terminated when the consumer stops (client gone, limit reached) or the time budget runs out.
import { once } from 'node:events';
import { errors } from '../errors.js';
import type { LogHit } from './log-search.js';
import { startModuleWorker } from '../util/module-worker.js';
import type { RegexSearchJob, WorkerMessage } from './log-search-worker.js';

export async function* regexSearch(job: RegexSearchJob, budgetMs: number, signal?: AbortSignal): AsyncGenerator<LogHit> {
  const worker = startModuleWorker(import.meta.url, 'log-search-worker', { workerData: job });
  const failed = once(worker, 'error').then(([err]) => Promise.reject(err as Error));
  failed.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new errors.SEARCH_TIMEOUT(`a regex search ran past ${budgetMs / 1000} s`)), budgetMs);
  });
  timedOut.catch(() => {});
  // The consumer may be waiting on the worker when its client leaves: the abort ends that wait.
  const aborted = signal ? once(signal, 'abort').then(() => [{ done: true }] as [WorkerMessage]) : new Promise<never>(() => {});
  try {
    for (;;) {
      const [msg] = (await Promise.race([once(worker, 'message'), failed, timedOut, aborted])) as [WorkerMessage];
      if ('done' in msg) return;
      yield* msg.hits;
      worker.postMessage('more');
    }
  } finally {
    clearTimeout(timer);
    await worker.terminate();
  }
}
