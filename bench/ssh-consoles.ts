// N concurrent ssh consoles against one local OpenSSH sshd, every session printing a line a
// second, through each server in turn:
//   Switchboard: N nodes with driver `ssh` (in-process ssh2; host key pinned), created with one
//                POST /api/v1/bulk/nodes. Server = the daemon's node process.
//   conserver:   N exec consoles `exec ssh -tt ...` (one ssh client process per console).
//                Server = conserver master + helpers PLUS the ssh clients they spawn: that is what
//                a conserver needs to hold N ssh consoles.
// Measured per server: time until every console is connected (the server's own view) and until
// every console's log shows output; memory per console (RSS and PSS, (after − before) / N); CPU
// over a window while the consoles print; what is left after SIGTERM. The sshd side (sshd
// processes and the printing command) is the same for both and never counted as server.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  allProcs, fmt, isAlive, killPids, log, markdownTable, pssKb, removeDir, rssKb, runDeltaMs, runMs, runNsByPid, sleep,
  tmpDir, waitFor, type ProcStat,
} from './lib.js';
import { Conserver } from './peers/conserver.js';
import { BenchSshd } from './peers/sshd.js';
import { Switchboard } from './peers/switchboard.js';

/** Console counts, run in order; a count that fails is reported and the larger ones are skipped. */
export const SSH_COUNTS = (process.env.BENCH_SSH_CONSOLES ?? '200,500').split(',').map((s) => Number(s.trim())).filter((n) => n > 0);
const WINDOW_MS = Number(process.env.BENCH_SSH_WINDOW_MS ?? 10_000);
/** Extra ssh client options for conserver's consoles, e.g. `-o KexAlgorithms=curve25519-sha256` (what ssh2 negotiates). */
const SSH_OPTS = (process.env.BENCH_SSH_OPTS ?? '').split(' ').filter(Boolean);
const SETTLE_MS = 2000;
const UP_TIMEOUT_MS = 120_000;
/** The line every session prints: one process per session, no fork per line (a `while sleep 1; do date; done`
 *  loop would fork two processes per console per second: 1,000 forks/s at N=500 on this 2-core VM). */
export const TICK_COMMAND = `exec /usr/bin/perl -e '$| = 1; while (1) { print "tick ", time, "\\n"; sleep 1 }'`;
const TICK = 'tick ';

export interface SshSample {
  server: string;
  consoles: number;
  /** From the start (Switchboard: bulk POST; conserver: starting the daemon) until the server says all are up. */
  connectedSeconds: number;
  /** Until every console's log holds at least one tick line. */
  printingSeconds: number;
  /** CPU the server side used from the start until all were printing (conserver: its processes and the ssh clients). */
  startupCpuMs: number;
  rssBeforeKb: number;
  rssAfterKb: number;
  rssPerConsoleKb: number;
  pssBeforeKb?: number;
  pssAfterKb?: number;
  pssPerConsoleKb?: number;
  /** Divisor for the per-console figures (N, or N − 1 for conserver's 1-console baseline). */
  perConsoleOf: number;
  /** Breakdown of the "after" totals (conserver: the conserver processes and the ssh clients). */
  parts: { name: string; processes: number; rssKb: number; pssKb?: number; cpuMs: number }[];
  cpuMs: number;
  windowSeconds: number;
  /** tick lines that reached the logs during the window, against N per second. */
  linesInWindow: number;
  /** sshd-side CPU over the same window (sshd session processes and the printing commands), for context. */
  sshdCpuMs: number;
  sshdConnections: number;
  shutdownMs: number;
  exitCode: number | null;
  /** ssh client processes still running after SIGTERM (conserver only; killed by PID afterwards). */
  clientsLeft: number;
  clients: number;
  /** sshd session processes that had not ended 10 s after the server stopped (killed by PID). */
  sshdSessionsKilled: number;
  note?: string;
}

function name(i: number): string {
  return `s${String(i).padStart(4, '0')}`;
}

function tickCount(file: string): number {
  let text: string;
  try {
    text = readFileSync(file, 'latin1');
  } catch {
    return 0;
  }
  let n = 0;
  for (let i = text.indexOf(TICK); i >= 0; i = text.indexOf(TICK, i + TICK.length)) n++;
  return n;
}

function totalTicks(files: string[]): number {
  return files.reduce((sum, f) => sum + tickCount(f), 0);
}

/** Resolves with the seconds since t0 once every file holds a tick line. */
async function allPrinting(what: string, files: string[], t0: bigint): Promise<number> {
  const pending = new Set(files);
  await waitFor(what, UP_TIMEOUT_MS, () => {
    for (const f of pending) if (tickCount(f) > 0) pending.delete(f);
    return pending.size === 0;
  }, 100).catch((err: Error) => {
    throw new Error(`${err.message}; ${pending.size} of ${files.length} consoles never printed`);
  });
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function pss(pids: number[]): number | undefined {
  return pids.length ? pssKb(pids) : 0;
}

/** CPU of the server parts and the sshd side over the window, and the tick lines logged meanwhile. */
async function window(serverParts: { name: string; pids: number[] }[], sshd: BenchSshd, logs: string[]) {
  const sshdPids = sshd.sessionProcs().map((p) => p.pid);
  const before = serverParts.map((p) => runNsByPid(p.pids));
  const sshd0 = runNsByPid(sshdPids);
  const lines0 = totalTicks(logs);
  const t0 = process.hrtime.bigint();
  await sleep(WINDOW_MS);
  const cpu = serverParts.map((p, i) => runDeltaMs(before[i], runNsByPid(p.pids)));
  const sshdCpuMs = runDeltaMs(sshd0, runNsByPid(sshdPids));
  const windowSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const linesInWindow = totalTicks(logs) - lines0;
  return { cpu, sshdCpuMs, windowSeconds, linesInWindow };
}

async function switchboard(n: number, sshd: BenchSshd): Promise<SshSample> {
  const dir = tmpDir('ssh-sb');
  const sb = new Switchboard({ dataDir: dir });
  let started = false;
  try {
    await sb.start();
    started = true;
    await sb.nodes(); // warm the routes up before "before"
    await sleep(500);
    const rssBeforeKb = rssKb([sb.pid]);
    const pssBeforeKb = pssKb([sb.pid]);

    const params = { host: '127.0.0.1', port: sshd.port, user: sshd.user, privateKey: sshd.privateKey, hostKeyFingerprint: sshd.fingerprint };
    const nodes = Array.from({ length: n }, (_, i) => ({ name: name(i), driver: 'ssh', params }));
    const logs = nodes.map((x) => path.join(dir, 'logs', `${x.name}.log`));
    const cpu0 = runMs([sb.pid]);
    const t0 = process.hrtime.bigint();
    const res = await sb.api<{ created: number; failed: number; results: unknown[] }>('POST', '/bulk/nodes', { nodes });
    if (res.created !== n) throw new Error(`bulk create: ${res.created} created, ${res.failed} failed: ${JSON.stringify(res.results.slice(0, 3))}`);
    const printing = allPrinting(`${n} switchboard ssh consoles printing`, logs, t0);
    const last = await sb.waitAllConnected(n, `${n} switchboard ssh consoles connected`, UP_TIMEOUT_MS, 50);
    const connectedSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const printingSeconds = await printing;
    const startupCpuMs = runMs([sb.pid]) - cpu0;
    const everFailed = last.filter((x) => x.session?.lastError).length;
    log(`ssh: switchboard: ${n} connected in ${fmt(connectedSeconds, 2)} s, all printing after ${fmt(printingSeconds, 2)} s (${sshd.connections()} sshd connections; ${everFailed} nodes had an error on the way)`);

    await sleep(SETTLE_MS);
    const w = await window([{ name: 'switchboard', pids: [sb.pid] }], sshd, logs);
    const rssAfterKb = rssKb([sb.pid]);
    const pssAfterKb = pssKb([sb.pid]);
    const sshdConnections = sshd.connections();

    const stopped = await sb.stop();
    started = false;
    const t1 = Date.now();
    const sshdSessionsKilled = await sshd.drain(10_000);
    log(`ssh: switchboard: stopped in ${fmt(stopped.ms / 1000, 2)} s; sshd sessions gone ${fmt((Date.now() - t1) / 1000, 1)} s later (${sshdSessionsKilled} killed)`);
    return {
      server: 'switchboard', consoles: n, connectedSeconds, printingSeconds, startupCpuMs,
      rssBeforeKb, rssAfterKb, rssPerConsoleKb: (rssAfterKb - rssBeforeKb) / n,
      pssBeforeKb, pssAfterKb, pssPerConsoleKb: pssAfterKb !== undefined && pssBeforeKb !== undefined ? (pssAfterKb - pssBeforeKb) / n : undefined,
      perConsoleOf: n,
      parts: [{ name: 'switchboard daemon', processes: 1, rssKb: rssAfterKb, pssKb: pssAfterKb, cpuMs: w.cpu[0] }],
      cpuMs: w.cpu[0], windowSeconds: w.windowSeconds, linesInWindow: w.linesInWindow, sshdCpuMs: w.sshdCpuMs, sshdConnections,
      shutdownMs: stopped.ms, exitCode: stopped.killed ? null : stopped.code, clientsLeft: 0, clients: 0, sshdSessionsKilled,
      note: everFailed ? `${everFailed} nodes logged an error before connecting (retried by the session)` : undefined,
    };
  } finally {
    if (started) await sb.stop();
    await sshd.drain(10_000);
    removeDir(dir);
  }
}

function conserverProcs(cs: Conserver, procs: Map<number, ProcStat>) {
  const server = cs.serverPids(procs);
  const programs = cs.programPids(procs);
  return { server, programs, ssh: programs.filter((pid) => procs.get(pid)?.comm === 'ssh') };
}

async function conserverBaseline(sshd: BenchSshd, exec: string): Promise<{ rssKb: number; pssKb?: number }> {
  const dir = tmpDir('ssh-cs1');
  const cs = new Conserver({ dir, consoles: [{ name: name(0), exec }], perHelper: 256 });
  try {
    await cs.start();
    await allPrinting('conserver baseline ssh console printing', [cs.logFile(name(0))], process.hrtime.bigint());
    await sleep(SETTLE_MS);
    const p = conserverProcs(cs, allProcs());
    const pids = [...p.server, ...p.programs];
    return { rssKb: rssKb(pids), pssKb: pssKb(pids) };
  } finally {
    await cs.stop();
    await sshd.drain(10_000);
    removeDir(dir);
  }
}

async function conserver(n: number, sshd: BenchSshd): Promise<SshSample> {
  const exec = `exec ${sshd.sshCommand(SSH_OPTS).join(' ')}`;
  const base = await conserverBaseline(sshd, exec);
  const dir = tmpDir('ssh-cs');
  const consoles = Array.from({ length: n }, (_, i) => ({ name: name(i), exec }));
  const logs = consoles.map((c) => path.join(dir, `${c.name}.log`));
  const cs = new Conserver({ dir, consoles, perHelper: 256 });
  let leftover: number[] = [];
  try {
    const t0 = process.hrtime.bigint();
    await cs.start();
    const printing = allPrinting(`${n} conserver ssh consoles printing`, logs, t0);
    let last = new Map<string, string>();
    const statusErrors: string[] = [];
    await waitFor(`${n} conserver consoles up`, UP_TIMEOUT_MS, async () => {
      try {
        last = await cs.status();
      } catch (err) {
        // `console -u` can fail or time out while the master is busy starting consoles: ask again.
        const e = err as Error & { killed?: boolean; code?: unknown; stderr?: string };
        const said = (e.stderr ?? '').replace(/\s+/g, ' ').trim();
        statusErrors.push(`${e.killed ? 'timed out after 10 s' : `exit ${String(e.code)}`}${said ? `: ${said}` : ''}`);
        log(`ssh: conserver: console -u failed (${statusErrors.at(-1)}); asking again`);
        return false;
      }
      let up = 0;
      for (const s of last.values()) if (s === 'up') up++;
      return up === n;
    }, 50).catch((err: Error) => {
      const states = new Map<string, number>();
      for (const s of last.values()) states.set(s, (states.get(s) ?? 0) + 1);
      throw new Error(`${err.message}; states: ${JSON.stringify(Object.fromEntries(states))}; console -u errors: ${JSON.stringify(statusErrors.slice(-3))}`);
    });
    const connectedSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const printingSeconds = await printing;
    let procs = allProcs();
    let p = conserverProcs(cs, procs);
    // Every one of these processes was started after t0, so their whole run time is the startup's.
    const startupCpu = { conserver: runMs(p.server), ssh: runMs(p.programs) };
    const startupCpuMs = startupCpu.conserver + startupCpu.ssh;
    await sleep(SETTLE_MS);
    procs = allProcs();
    p = conserverProcs(cs, procs);
    const other = p.programs.filter((pid) => !p.ssh.includes(pid)).map((pid) => procs.get(pid)?.comm);
    log(`ssh: conserver: ${n} up in ${fmt(connectedSeconds, 2)} s, all printing after ${fmt(printingSeconds, 2)} s `
      + `using ${fmt(startupCpu.conserver / 1000, 2)} s CPU in conserver and ${fmt(startupCpu.ssh / 1000, 2)} s in the ssh clients `
      + `(${p.server.length} conserver processes, ${p.ssh.length} ssh clients${other.length ? `, other programs: ${[...new Set(other)].join(',')}` : ''}; ${sshd.connections()} sshd connections)`);

    const w = await window([{ name: 'conserver', pids: p.server }, { name: 'ssh', pids: p.programs }], sshd, logs);
    procs = allProcs();
    p = conserverProcs(cs, procs);
    const serverRss = rssKb(p.server);
    const sshRss = rssKb(p.programs);
    const serverPss = pss(p.server);
    const sshPss = pss(p.programs);
    const rssAfterKb = serverRss + sshRss;
    const pssAfterKb = serverPss !== undefined && sshPss !== undefined ? serverPss + sshPss : undefined;
    const sshdConnections = sshd.connections();

    const stopped = await cs.stop({ reap: false });
    leftover = stopped.leftBehind;
    const t1 = Date.now();
    if (leftover.length) {
      log(`ssh: conserver left ${leftover.length} of ${stopped.programs.length} ssh clients running after SIGTERM; killing them by PID`);
      await killPids(leftover);
    }
    const sshdSessionsKilled = await sshd.drain(10_000);
    log(`ssh: conserver: stopped in ${fmt(stopped.ms / 1000, 2)} s; sshd sessions gone ${fmt((Date.now() - t1) / 1000, 1)} s later (${sshdSessionsKilled} killed)`);
    return {
      server: 'conserver + ssh', consoles: n, connectedSeconds, printingSeconds, startupCpuMs,
      rssBeforeKb: base.rssKb, rssAfterKb, rssPerConsoleKb: (rssAfterKb - base.rssKb) / (n - 1),
      pssBeforeKb: base.pssKb, pssAfterKb,
      pssPerConsoleKb: pssAfterKb !== undefined && base.pssKb !== undefined ? (pssAfterKb - base.pssKb) / (n - 1) : undefined,
      perConsoleOf: n - 1,
      parts: [
        { name: 'conserver master + helpers', processes: p.server.length, rssKb: serverRss, pssKb: serverPss, cpuMs: w.cpu[0] },
        { name: 'ssh clients', processes: p.programs.length, rssKb: sshRss, pssKb: sshPss, cpuMs: w.cpu[1] },
      ],
      cpuMs: w.cpu[0] + w.cpu[1], windowSeconds: w.windowSeconds, linesInWindow: w.linesInWindow, sshdCpuMs: w.sshdCpuMs, sshdConnections,
      shutdownMs: stopped.ms, exitCode: stopped.killed ? null : stopped.code,
      clientsLeft: leftover.length, clients: stopped.programs.length, sshdSessionsKilled,
      note: '"before" = a conserver with 1 ssh console (it cannot run with none), so the difference is divided by N − 1'
        + (statusErrors.length ? `; \`console -u\` failed ${statusErrors.length} time(s) while the consoles came up (${statusErrors[0]}) and was asked again` : ''),
    };
  } finally {
    await cs.stop(); // no-op when stopped above
    const left = leftover.filter((pid) => isAlive(pid));
    if (left.length) await killPids(left);
    await sshd.drain(10_000);
    removeDir(dir);
  }
}

export interface SshResult {
  samples: SshSample[];
  /** Counts that were tried and failed, with the reason. */
  failed: { consoles: number; server: string; error: string }[];
  windowMs: number;
  tickCommand: string;
  sshCommand: string;
}

export async function runSsh(): Promise<SshResult> {
  const dir = tmpDir('sshd');
  const sshd = new BenchSshd({ dir, command: TICK_COMMAND });
  const result: SshResult = { samples: [], failed: [], windowMs: WINDOW_MS, tickCommand: TICK_COMMAND, sshCommand: '' };
  try {
    await sshd.start();
    result.sshCommand = `exec ${sshd.sshCommand(SSH_OPTS).join(' ')}`.replace(sshd.keyFile, 'KEY').replace(String(sshd.port), 'PORT');
    log(`ssh: sshd ${sshd.pid} on 127.0.0.1:${sshd.port}, host key ${sshd.fingerprint}`);
    for (const n of SSH_COUNTS) {
      let ok = true;
      for (const [label, run] of [['switchboard', switchboard], ['conserver + ssh', conserver]] as const) {
        log(`ssh: ${label}, ${n} consoles`);
        try {
          result.samples.push(await run(n, sshd));
        } catch (err) {
          ok = false;
          const error = (err as Error).message;
          log(`ssh: ${label} with ${n} consoles failed: ${error}\nsshd said:\n${sshd.lastLines().split('\n').slice(-5).join('\n')}`);
          result.failed.push({ consoles: n, server: label, error });
          await sshd.drain(10_000);
        }
      }
      if (!ok) break; // the machine does not hold this many; larger counts will not do better
    }
  } finally {
    await sshd.stop();
    removeDir(dir);
  }
  return result;
}

export function sshTable(r: SshResult): string {
  const rows = r.samples.map((s) => [
    s.server, String(s.consoles), fmt(s.connectedSeconds, 2), fmt(s.printingSeconds, 2), fmt(s.startupCpuMs / 1000, 2),
    `${fmt(s.rssPerConsoleKb, 1)} (${fmt(s.rssBeforeKb / 1024, 1)} → ${fmt(s.rssAfterKb / 1024, 1)} MB)`,
    s.pssPerConsoleKb === undefined ? 'n/a' : `${fmt(s.pssPerConsoleKb, 1)} (${fmt((s.pssBeforeKb ?? 0) / 1024, 1)} → ${fmt((s.pssAfterKb ?? 0) / 1024, 1)} MB)`,
    s.parts.map((p) => `${p.name} ×${p.processes}: ${fmt(p.rssKb / 1024, 1)} / ${fmt((p.pssKb ?? NaN) / 1024, 1)} MB`).join('; '),
    `${fmt(s.cpuMs / 10 / s.windowSeconds, 1)}%${s.parts.length > 1 ? ` (${s.parts.map((p) => `${p.name.split(' ')[0]} ${fmt(p.cpuMs / 10 / s.windowSeconds, 1)}%`).join(', ')})` : ''}`,
    `${s.linesInWindow} / ${Math.round(s.consoles * s.windowSeconds)}`,
    `${fmt(s.sshdCpuMs / 10 / s.windowSeconds, 1)}%`,
    `${s.exitCode === null ? 'killed' : `exit ${s.exitCode}`} in ${fmt(s.shutdownMs / 1000, 2)} s`,
    s.clients ? `${s.clientsLeft} of ${s.clients}` : '—',
    String(s.sshdSessionsKilled),
  ]);
  return markdownTable(
    ['server', 'consoles', 'all connected (s)', 'all printing (s)', 'server CPU s to bring all up', 'RSS KB per console (total before → after)', 'PSS KB per console (total before → after)',
      'after: RSS / PSS by part', `server CPU % of a core (${r.windowMs / 1000} s window)`, 'tick lines logged / expected', 'sshd side CPU (not counted)',
      'SIGTERM', 'ssh clients left running', 'sshd session processes killed after 10 s'],
    rows,
  );
}
