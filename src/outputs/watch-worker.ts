// The thread that runs watch patterns, so a regex that backtracks for minutes stalls only itself.
// Its source is plain JavaScript evaluated by `new Worker(..., { eval: true })`: that loads the same
// way from dist/ and under tsx (which does not hook worker entry files).

/** One pattern as the worker compiles it. */
export interface WorkerPattern {
  id: number;
  regex: string;
  flags: string;
}

/** Where a group's text splits into its lines: its chunks keep their line ends, LF or CRLF (a line never holds a CR or an LF). */
export const LINE_END = /\r?\n/;

/** Lines of one node, joined with "\n" or "\r\n" (LINE_END), and the patterns (ids) that watch it. */
export interface WorkerGroup {
  patterns: number[];
  text: string;
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

/** Slots of the shared progress array: which pattern the worker is inside now (-1: none, COMBINED: a prefilter of several). */
export const PROGRESS_PATTERN = 0;
/** The worker is inside a prefilter made of several patterns: which one is slow is not known. */
export const COMBINED = -2;

/**
 * workerData: { patterns: WorkerPattern[], progress: SharedArrayBuffer (Int32Array), combine: boolean }.
 *
 * A healthy console matches nothing, so lines are not tested one by one first: a pattern (with
 * `combine`, all patterns of the same flags as one alternation) is tested once against the group's
 * whole text with the m flag, and only a hit sends its patterns to the line-by-line test. That
 * prefilter cannot miss a line's match — ^ and $ meet at every line end with m (a CR is one to them
 * as an LF is, so CRLF text needs no rewriting), and a match inside a line is a match inside the
 * text — unless the pattern looks around or refers back (a lookbehind
 * at a line's start sees the newline before it; numbered groups shift in an alternation), so those
 * patterns always go line by line. A pattern that blows the time budget inside a combined
 * prefilter is found by running the batch again with `combine` off.
 */
export const WATCH_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const progress = new Int32Array(workerData.progress);
const byId = new Map(workerData.patterns.map((p) => [p.id, p]));
const compiled = new Map();
for (const p of workerData.patterns) compiled.set(p.id, new RegExp(p.regex, p.flags));
const LINE_BOUND = /\\(\\?<?[=!]|\\\\[1-9]|\\\\k</;
const plans = new Map();

function plan(ids) {
  const key = ids.join(',');
  let p = plans.get(key);
  if (p) return p;
  p = { filters: [], always: [] };
  const byFlags = new Map();
  for (const id of ids) {
    const { regex, flags } = byId.get(id);
    if (LINE_BOUND.test(regex)) { p.always.push(id); continue; }
    const f = flags.includes('m') ? flags : flags + 'm';
    if (!byFlags.has(f)) byFlags.set(f, []);
    byFlags.get(f).push(id);
  }
  for (const [flags, group] of byFlags) {
    if (workerData.combine && group.length > 1) {
      try {
        p.filters.push({ re: new RegExp(group.map((id) => '(?:' + byId.get(id).regex + ')').join('|'), flags), ids: group, blame: ${COMBINED} });
        continue;
      } catch {}
    }
    for (const id of group) p.filters.push({ re: new RegExp(byId.get(id).regex, flags), ids: [id], blame: id });
  }
  plans.set(key, p);
  return p;
}

parentPort.on('message', (batch) => {
  const matches = [];
  for (let g = 0; g < batch.groups.length; g++) {
    const group = batch.groups[g];
    const p = plan(group.patterns);
    let lines;
    const lineByLine = (ids) => {
      lines ??= group.text.split(${LINE_END});
      for (const id of ids) {
        const re = compiled.get(id);
        // Written before each pattern runs: if it never returns, the main thread reads who is to blame.
        Atomics.store(progress, ${PROGRESS_PATTERN}, id);
        for (let i = 0; i < lines.length; i++) if (re.test(lines[i])) matches.push([g, i, id]);
      }
    };
    for (const f of p.filters) {
      Atomics.store(progress, ${PROGRESS_PATTERN}, f.blame);
      if (f.re.test(group.text)) lineByLine(f.ids);
    }
    if (p.always.length > 0) lineByLine(p.always);
  }
  Atomics.store(progress, ${PROGRESS_PATTERN}, -1);
  parentPort.postMessage({ seq: batch.seq, matches });
});
`;
