// The thread that runs watch patterns, so a regex that backtracks for minutes stalls only itself.
// Its source is plain JavaScript evaluated by `new Worker(..., { eval: true })`: that loads the same
// way from dist/ and under tsx (which does not hook worker entry files).

/** One pattern as the worker compiles it. */
export interface WorkerPattern {
  id: number;
  regex: string;
  flags: string;
}

/** Lines of one node and the patterns (ids) that watch it. */
export interface WorkerGroup {
  patterns: number[];
  lines: string[];
}

export interface WorkerBatch {
  seq: number;
  groups: WorkerGroup[];
}

/** [group index, line index, pattern id] per match. */
export type WorkerMatch = [number, number, number];

export interface WorkerReply {
  seq: number;
  matches: WorkerMatch[];
}

/** Slots of the shared progress array: which pattern the worker is inside now (-1: none). */
export const PROGRESS_PATTERN = 0;

/** workerData: { patterns: WorkerPattern[], progress: SharedArrayBuffer (Int32Array) }. */
export const WATCH_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const progress = new Int32Array(workerData.progress);
const compiled = new Map();
for (const p of workerData.patterns) compiled.set(p.id, new RegExp(p.regex, p.flags));
parentPort.on('message', (batch) => {
  const matches = [];
  for (let g = 0; g < batch.groups.length; g++) {
    const group = batch.groups[g];
    for (const id of group.patterns) {
      const re = compiled.get(id);
      // Written before each pattern runs: if it never returns, the main thread reads who is to blame.
      Atomics.store(progress, ${PROGRESS_PATTERN}, id);
      for (let i = 0; i < group.lines.length; i++) if (re.test(group.lines[i])) matches.push([g, i, id]);
    }
  }
  Atomics.store(progress, ${PROGRESS_PATTERN}, -1);
  parentPort.postMessage({ seq: batch.seq, matches });
});
`;
