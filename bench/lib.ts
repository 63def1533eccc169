// Shared helpers for the benchmarks: processes started and stopped by PID, /proc readings,
// timing, statistics and markdown output. Linux only (it reads /proc).
import { spawn, execFileSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

export const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
export const MB = 1e6;

// --- processes -------------------------------------------------------------------------------

/** Every child the bench started and has not seen exit: stopped by PID on the way out. */
const live = new Map<number, ChildProcess>();
/** Other processes the bench is responsible for (console programs a server left behind). */
const orphans = new Set<number>();

export interface Started {
  proc: ChildProcess;
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function start(file: string, args: string[], opts: SpawnOptions = {}): Started {
  const proc = spawn(file, args, { stdio: ['ignore', 'ignore', 'ignore'], ...opts });
  if (proc.pid === undefined) throw new Error(`could not start ${file}`);
  const pid = proc.pid;
  live.set(pid, proc);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('exit', (code, signal) => {
      live.delete(pid);
      resolve({ code, signal });
    });
    proc.once('error', () => {
      live.delete(pid);
      resolve({ code: null, signal: null });
    });
  });
  return { proc, pid, exited };
}

/** SIGTERM (or the given signal), then SIGKILL after `graceMs`; resolves when the child exited. */
export async function stop(p: Started, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean }> {
  if (!live.has(p.pid)) return { ...(await p.exited), killed: false };
  try {
    process.kill(p.pid, signal);
  } catch {
    // already gone
  }
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }, graceMs);
  const r = await p.exited;
  clearTimeout(timer);
  return { ...r, killed };
}

export async function stopMany(ps: Started[], signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  await Promise.all(ps.map((p) => stop(p, signal)));
}

/** A process (not a child of ours) that must not outlive the bench. */
export function adoptOrphan(pid: number): void {
  orphans.add(pid);
}

/** Whether a PID is a running (not zombie) process, optionally checking its command name. */
/** No longer ours to clean up (it was stopped another way). */
export function releaseOrphan(pid: number): void {
  orphans.delete(pid);
}

export function isAlive(pid: number, comm?: string): boolean {
  const st = readStat(pid);
  if (!st || st.state === 'Z' || st.state === 'X') return false;
  return comm === undefined || st.comm === comm;
}

export async function killPids(pids: Iterable<number>, signal: NodeJS.Signals = 'SIGKILL'): Promise<number> {
  let n = 0;
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
      n++;
    } catch {
      // gone
    }
  }
  return n;
}

/** Stop everything still running that the bench started or adopted. Safe to call twice. */
export async function cleanupAll(): Promise<void> {
  const children = [...live.values()];
  // Whatever runs below our children (console programs) goes too, by PID, after they stop.
  const procs = children.length ? allProcs() : new Map<number, ProcStat>();
  for (const c of children) {
    if (c.pid === undefined) continue;
    for (const d of descendants(c.pid, procs)) orphans.add(d.pid);
  }
  for (const c of children) {
    try {
      if (c.pid !== undefined) process.kill(c.pid, 'SIGTERM');
    } catch {
      // gone
    }
  }
  const deadline = Date.now() + 3000;
  while (live.size && Date.now() < deadline) await sleep(50);
  for (const c of live.values()) {
    try {
      if (c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const pid of orphans) {
    if (isAlive(pid)) await killPids([pid], 'SIGKILL');
  }
  orphans.clear();
}

// --- /proc -----------------------------------------------------------------------------------

export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  /** utime + stime, in clock ticks. */
  cpuTicks: number;
  /** utime and stime apart, in clock ticks: CPU in the process's own code, and in the kernel for it. */
  userTicks: number;
  sysTicks: number;
  /** cutime + cstime, in clock ticks: CPU of the children it has reaped. */
  childTicks: number;
}

export function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const comm = text.slice(open + 1, close);
  const f = text.slice(close + 2).split(' ');
  // f[0] is field 3 (state); utime is field 14, stime 15, cutime 16, cstime 17.
  const [userTicks, sysTicks] = [Number(f[11]), Number(f[12])];
  return { pid, comm, state: f[0], ppid: Number(f[1]), cpuTicks: userTicks + sysTicks, userTicks, sysTicks, childTicks: Number(f[13]) + Number(f[14]) };
}

/** CPU time (ms) of the given processes; processes that are gone count 0. */
export function cpuMs(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) ticks += readStat(pid)?.cpuTicks ?? 0;
  return (ticks * 1000) / CLK_TCK;
}

/** Per-PID CPU ticks, for deltas over a window that only count processes alive at both ends. */
export function cpuTicksByPid(pids: number[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const pid of pids) {
    const s = readStat(pid);
    if (s) m.set(pid, s.cpuTicks);
  }
  return m;
}

export function cpuDeltaMs(before: Map<number, number>, after: Map<number, number>): number {
  let ticks = 0;
  for (const [pid, t] of after) ticks += t - (before.get(pid) ?? t);
  return (ticks * 1000) / CLK_TCK;
}

/**
 * Per-PID CPU time in ns from schedstat: the scheduler's exact run time. utime/stime in
 * /proc/PID/stat are sampled at the timer tick on this kernel (CONFIG_TICK_CPU_ACCOUNTING) and miss
 * short bursts that start right after a tick (a process woken by a 1 s timer that runs for 50 µs is
 * never charged), which matters when hundreds of processes each do a little work a second.
 * /proc/PID/schedstat is the main thread's alone, so this sums /proc/PID/task/TID/schedstat over
 * every thread: a Node process does its file writes, GC and async crypto on other threads.
 */
export function runNsByPid(pids: number[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const pid of pids) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // gone
    }
    let ns = 0;
    let seen = false;
    for (const tid of tids) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
        seen = true;
      } catch {
        // thread gone
      }
    }
    if (seen) m.set(pid, ns);
  }
  return m;
}

/** CPU ms between two runNsByPid readings, counting processes present in both. */
export function runDeltaMs(before: Map<number, number>, after: Map<number, number>): number {
  let ns = 0;
  for (const [pid, t] of after) ns += t - (before.get(pid) ?? t);
  return ns / 1e6;
}

/** Total CPU ms the given processes have run so far (schedstat). */
export function runMs(pids: number[]): number {
  let ns = 0;
  for (const t of runNsByPid(pids).values()) ns += t;
  return ns / 1e6;
}

/** Every process: pid → stat (one pass over /proc). */
export function allProcs(): Map<number, ProcStat> {
  const m = new Map<number, ProcStat>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s) m.set(s.pid, s);
  }
  return m;
}

/** All descendants of `root` (not root itself). */
export function descendants(root: number, procs = allProcs()): ProcStat[] {
  const kids = new Map<number, ProcStat[]>();
  for (const p of procs.values()) {
    const list = kids.get(p.ppid) ?? [];
    list.push(p);
    kids.set(p.ppid, list);
  }
  const out: ProcStat[] = [];
  const todo = [root];
  while (todo.length) {
    const pid = todo.pop() as number;
    for (const k of kids.get(pid) ?? []) {
      out.push(k);
      todo.push(k.pid);
    }
  }
  return out;
}

/** Bytes written by a process so far (write(2) and friends), from /proc/PID/io. */
export function wchar(pid: number): number {
  try {
    const m = /wchar:\s*(\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export interface IoCounters {
  rchar: number;
  wchar: number;
  syscr: number;
  syscw: number;
}

/** /proc/PID/io, summed over the given processes (gone ones count 0). */
export function ioCounters(pids: number[]): IoCounters {
  const sum: IoCounters = { rchar: 0, wchar: 0, syscr: 0, syscw: 0 };
  for (const pid of pids) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/io`, 'utf8');
    } catch {
      continue;
    }
    for (const k of Object.keys(sum) as (keyof IoCounters)[]) {
      const m = new RegExp(`^${k}:\\s*(\\d+)`, 'm').exec(text);
      if (m) sum[k] += Number(m[1]);
    }
  }
  return sum;
}

function statusKb(pid: number, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s*(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export function rssKb(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + statusKb(pid, 'VmRSS'), 0);
}

/** Sum of the given smaps_rollup fields (kB) over the processes, or undefined if one cannot be read. */
function smapsKb(pids: number[], fields: string[]): number | undefined {
  let sum = 0;
  for (const pid of pids) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    } catch {
      return undefined;
    }
    for (const f of fields) {
      const m = new RegExp(`^${f}:\\s*(\\d+) kB`, 'm').exec(text);
      if (!m) return undefined;
      sum += Number(m[1]);
    }
  }
  return sum;
}

/** Sum of PSS (kB) from smaps_rollup, or undefined if it cannot be read. */
export function pssKb(pids: number[]): number | undefined {
  return smapsKb(pids, ['Pss']);
}

/**
 * Memory only these processes hold (USS: Private_Clean + Private_Dirty, kB). Unlike PSS it does
 * not move when other processes start or stop sharing the same files (other node processes on the
 * machine share node's text with the daemon).
 */
export function ussKb(pids: number[]): number | undefined {
  return smapsKb(pids, ['Private_Clean', 'Private_Dirty']);
}

/** Whole-machine CPU busy % (all cores = 100 %) over `ms`, from /proc/stat. */
export async function machineBusyPct(ms = 1000): Promise<number> {
  const read = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] ?? 0);
    return { idle, total: f.reduce((a, b) => a + b, 0) };
  };
  const a = read();
  await sleep(ms);
  const b = read();
  const total = b.total - a.total;
  return total > 0 ? (100 * (total - (b.idle - a.idle))) / total : 0;
}

// --- misc ------------------------------------------------------------------------------------

export function tmpDir(prefix: string): string {
  // tmpfs when there is one: console logs then measure the servers, not the disk.
  const base = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  return mkdtempSync(path.join(base, `sbbench-${prefix}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export { freePort } from '../test/support/ports.js';

/** Poll `check` until it returns a value (not undefined/false) or time runs out. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => T | undefined | false | Promise<T | undefined | false>, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

export function median(xs: number[]): number {
  return percentile([...xs].sort((a, b) => a - b), 50);
}

export function fmt(n: number | undefined, digits = 1): string {
  if (n === undefined || Number.isNaN(n)) return 'n/a';
  return n.toFixed(digits);
}

export function signed(n: number, digits = 0): string {
  return `${n >= 0 ? '+' : '−'}${Math.abs(n).toFixed(digits)}`;
}

export function markdownTable(head: string[], rows: string[][]): string {
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}

export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 23)}] ${msg}\n`);
}
