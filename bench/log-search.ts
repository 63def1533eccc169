// Log search over ~1 GB of console logs: synthetic time-stamped logs (as log-file.ts writes them)
// for many nodes, each a live file and rotated ones, on disk under os.tmpdir(); then the search
// engine of GET /api/v1/logs/search (searchLogs, and the regex worker) timed over all of them.
//   node --import tsx bench/log-search.ts
//     BENCH_LOG_MB (1024): total size written   BENCH_LOG_NODES (64)   BENCH_LOG_FILES (4 per node)
// The files were just written, so they are likely in the page cache: this measures the search's
// CPU cost, not the disk. The peer is GNU grep over the same files (what a conserver user searches
// its logs with; it has no time window). Prints a markdown table on stdout; progress on stderr.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { lineStamp } from '../src/outputs/log-file.js';
import { searchLogs, type LineMatcher, type SearchTarget, type SearchWindow } from '../src/outputs/log-search.js';
import { regexSearch } from '../src/outputs/log-search-regex.js';
import { fmt, log, markdownTable, MB, removeDir } from './lib.js';

const TOTAL_MB = Number(process.env.BENCH_LOG_MB ?? 1024);
const NODES = Number(process.env.BENCH_LOG_NODES ?? 64);
const FILES = Number(process.env.BENCH_LOG_FILES ?? 4);
/** The logs cover the 10 days before now; each node has 4 rare lines, spread over them. */
const SPAN_MS = 10 * 86_400_000;

/** One node's files, oldest first: lines stamped at an even pace from `t0` on. Returns bytes written. */
async function writeNode(dir: string, node: string, bytes: number, t0: number): Promise<{ target: SearchTarget; lines: number }> {
  const perFile = Math.ceil(bytes / FILES);
  const names = Array.from({ length: FILES }, (_, i) => (i === FILES - 1 ? `${node}.log` : `${node}.log.${FILES - 1 - i}`));
  const approxLines = Math.ceil(bytes / 100);
  const step = SPAN_MS / approxLines;
  const filler = randomBytes(48).toString('hex');
  const rareEvery = Math.max(1, Math.floor(approxLines / 4));
  let n = 0;
  for (const name of names) {
    const fh = await open(path.join(dir, name), 'w');
    let written = 0;
    while (written < perFile) {
      const parts: string[] = [];
      let size = 0;
      while (size < 1 << 20 && written + size < perFile) {
        const t = new Date(t0 + n * step);
        const text = n % rareEvery === rareEvery - 1 ? `kernel: BUG: soft lockup - CPU#${n % 8} stuck (${node})` : `systemd[1]: ${filler.slice(n % 40, 40 + (n % 50))} ok ${n}`;
        const line = `${lineStamp(t)}${text}\r\n`;
        parts.push(line);
        size += line.length;
        n++;
      }
      await fh.write(parts.join(''));
      written += size;
    }
    await fh.close();
  }
  return { target: { node, filesOldestFirst: names.map((f) => path.join(dir, f)) }, lines: n };
}

async function timeSearch(what: string, run: () => AsyncIterable<unknown>): Promise<{ what: string; ms: number; hits: number }> {
  const t = performance.now();
  let hits = 0;
  for await (const _ of run()) hits++;
  const ms = performance.now() - t;
  log(`${what}: ${hits} hits in ${fmt(ms, 0)} ms`);
  return { what, ms, hits };
}

/** GNU grep over every file, lines counted from its output (the peer). */
async function timeGrep(what: string, targets: SearchTarget[], args: string[]): Promise<{ what: string; ms: number; hits: number }> {
  const files = targets.flatMap((t) => t.filesOldestFirst);
  const t = performance.now();
  const hits = await new Promise<number>((resolve, reject) => {
    const p = spawn('grep', ['-h', ...args, ...files], { stdio: ['ignore', 'pipe', 'inherit'] });
    let n = 0;
    p.stdout.on('data', (c: Buffer) => {
      for (let i = c.indexOf(10); i >= 0; i = c.indexOf(10, i + 1)) n++;
    });
    p.on('error', reject);
    p.on('close', (code) => (code === 0 || code === 1 ? resolve(n) : reject(new Error(`grep exited ${code}`))));
  });
  const ms = performance.now() - t;
  log(`${what}: ${hits} hits in ${fmt(ms, 0)} ms`);
  return { what, ms, hits };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sbbench-logsearch-'));
  try {
    const now = Date.now();
    const t0 = now - SPAN_MS;
    const perNode = (TOTAL_MB * MB) / NODES;
    log(`writing ${TOTAL_MB} MB: ${NODES} nodes x ${FILES} files in ${dir}`);
    const started = performance.now();
    const targets: SearchTarget[] = [];
    let lines = 0;
    for (let i = 0; i < NODES; i++) {
      const r = await writeNode(dir, `node${String(i).padStart(3, '0')}`, perNode, t0);
      targets.push(r.target);
      lines += r.lines;
    }
    log(`wrote ${lines} lines in ${fmt((performance.now() - started) / 1000)} s`);
    const rare: LineMatcher = { literal: 'soft lockup' };
    const lastHour: SearchWindow = { since: now - 3_600_000 };
    const midDay: SearchWindow = { since: t0 + 4.5 * 86_400_000, until: t0 + 5.5 * 86_400_000 };
    const results = [
      await timeSearch('literal, rare ("soft lockup"), all time', () => searchLogs(targets, rare, {})),
      await timeSearch('literal, rare, last hour (since=1h)', () => searchLogs(targets, rare, lastHour)),
      await timeSearch('literal, rare, one day in the middle (since/until)', () => searchLogs(targets, rare, midDay)),
      await timeSearch('literal, no match at all, all time', () => searchLogs(targets, { literal: 'no such text anywhere' }, {})),
      await timeSearch('regex (worker), rare (/soft lockup - CPU#\\d+ stuck/), all time', () => regexSearch({ targets, pattern: 'soft lockup - CPU#\\d+ stuck', flags: '', window: {}, limit: 100_000 }, 600_000)),
      await timeGrep('peer: grep -F "soft lockup", all time', targets, ['-F', 'soft lockup']),
      await timeGrep('peer: grep -F, no match at all', targets, ['-F', 'no such text anywhere']),
      await timeGrep('peer: grep -E "soft lockup - CPU#[0-9]+ stuck"', targets, ['-E', 'soft lockup - CPU#[0-9]+ stuck']),
    ];
    const totalMB = (TOTAL_MB * MB) / MB;
    process.stdout.write(`\n### Log search over ${TOTAL_MB} MB (${NODES} nodes x ${FILES} files, ${lines} lines, files just written: page cache warm)\n\n`);
    process.stdout.write(`${markdownTable(['search', 'hits', 'time (s)', 'effective MB/s (log size / time)'], results.map((r) => [r.what, String(r.hits), fmt(r.ms / 1000, 2), fmt(totalMB / (r.ms / 1000), 0)]))}\n`);
  } finally {
    removeDir(dir);
  }
}

await main();
