// 1,000 quiet `cmd`/exec consoles (`sleep 100000` in a pty): time until all are up, server memory
// per console, idle CPU, and what a clean shutdown leaves behind.
//   Switchboard: from POST /api/v1/bulk/nodes until every node's session.state is 'connected'
//                (polling GET /api/v1/nodes); server = the daemon's node process.
//   conserver:   from starting the daemon (consoles come from its config) until `console -u` shows
//                all up; server = master + helper processes (-m 256), never the sh/sleep programs.
// RSS per console = (RSS with 1,000 consoles − RSS before) / 1,000. For conserver "before" is a
// separate instance with one console (it cannot run with none), so it is divided by 999.
import {
  allProcs, cpuDeltaMs, cpuTicksByPid, fmt, isAlive, killPids, log, markdownTable, pssKb, removeDir, rssKb, sleep,
  tmpDir, waitFor,
} from './lib.js';
import { Conserver } from './peers/conserver.js';
import { Switchboard } from './peers/switchboard.js';

const COUNT = Number(process.env.BENCH_CONSOLES ?? 1000);
const IDLE_MS = 5000;
const SETTLE_MS = 2000;
const QUIET = ['/bin/sleep', '100000'];
const UP_TIMEOUT_MS = 60_000;

export interface ManySample {
  server: string;
  consoles: number;
  upSeconds: number;
  rssBeforeKb: number;
  rssAfterKb: number;
  rssPerConsoleKb: number;
  pssBeforeKb?: number;
  pssAfterKb?: number;
  pssPerConsoleKb?: number;
  serverProcesses: number;
  idleCpuMs: number;
  idleSeconds: number;
  shutdownMs: number;
  exitCode: number | null;
  programs: number;
  leftBehind: number;
  note?: string;
}

function name(i: number): string {
  return `q${String(i).padStart(4, '0')}`;
}

async function switchboard(): Promise<ManySample> {
  const dir = tmpDir('many-sb');
  const sb = new Switchboard({ dataDir: dir });
  let programs: number[] = [];
  let started = false;
  try {
    await sb.start();
    started = true;
    await sb.nodes(); // warm the routes up before "before"
    await sleep(500);
    const rssBeforeKb = rssKb([sb.pid]);
    const pssBeforeKb = pssKb([sb.pid]);

    const nodes = Array.from({ length: COUNT }, (_, i) => ({ name: name(i), driver: 'cmd', params: { cmd: QUIET } }));
    const t0 = process.hrtime.bigint();
    const res = await sb.api<{ created: number; failed: number }>('POST', '/bulk/nodes', { nodes });
    if (res.created !== COUNT) throw new Error(`bulk create: ${res.created} created, ${res.failed} failed`);
    const last = await sb.waitAllConnected(COUNT, `${COUNT} switchboard consoles connected`, UP_TIMEOUT_MS, 20);
    const upSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    programs = last.map((n) => n.session?.info.pid).filter((p): p is number => typeof p === 'number');
    const kids = allProcs();
    const sleeping = [...kids.values()].filter((p) => p.ppid === sb.pid && p.comm === 'sleep').length;
    log(`many: switchboard: ${COUNT} up in ${fmt(upSeconds, 2)} s (${programs.length} pids reported, ${sleeping} sleep children)`);

    await sleep(SETTLE_MS);
    const c0 = cpuTicksByPid([sb.pid]);
    const i0 = process.hrtime.bigint();
    await sleep(IDLE_MS);
    const idleCpuMs = cpuDeltaMs(c0, cpuTicksByPid([sb.pid]));
    const idleSeconds = Number(process.hrtime.bigint() - i0) / 1e9;
    const rssAfterKb = rssKb([sb.pid]);
    const pssAfterKb = pssKb([sb.pid]);

    const stopped = await sb.stop();
    started = false;
    // Give the kernel a moment to finish delivering hang-ups before counting.
    await sleep(200);
    const left = programs.filter((pid) => isAlive(pid, 'sleep'));
    return {
      server: 'switchboard', consoles: COUNT, upSeconds,
      rssBeforeKb, rssAfterKb, rssPerConsoleKb: (rssAfterKb - rssBeforeKb) / COUNT,
      pssBeforeKb, pssAfterKb, pssPerConsoleKb: pssAfterKb !== undefined && pssBeforeKb !== undefined ? (pssAfterKb - pssBeforeKb) / COUNT : undefined,
      serverProcesses: 1, idleCpuMs, idleSeconds,
      shutdownMs: stopped.ms, exitCode: stopped.killed ? null : stopped.code, programs: programs.length, leftBehind: left.length,
    };
  } finally {
    if (started) await sb.stop();
    const left = programs.filter((pid) => isAlive(pid, 'sleep'));
    if (left.length) await killPids(left);
    removeDir(dir);
  }
}

async function conserverBaseline(): Promise<{ rssKb: number; pssKb?: number }> {
  const dir = tmpDir('many-cs1');
  const cs = new Conserver({ dir, consoles: [{ name: name(0), exec: QUIET.join(' ') }], perHelper: 256 });
  try {
    await cs.start();
    await waitFor('conserver baseline console up', 10_000, async () => (await cs.status()).get(name(0)) === 'up', 50);
    await sleep(SETTLE_MS);
    const pids = cs.serverPids();
    return { rssKb: rssKb(pids), pssKb: pssKb(pids) };
  } finally {
    await cs.stop();
    removeDir(dir);
  }
}

async function conserver(): Promise<ManySample> {
  const base = await conserverBaseline();
  const dir = tmpDir('many-cs');
  const consoles = Array.from({ length: COUNT }, (_, i) => ({ name: name(i), exec: QUIET.join(' ') }));
  const cs = new Conserver({ dir, consoles, perHelper: 256 });
  let leftover: number[] = [];
  try {
    const t0 = process.hrtime.bigint();
    await cs.start();
    let last = new Map<string, string>();
    await waitFor(`${COUNT} conserver consoles up`, UP_TIMEOUT_MS, async () => {
      last = await cs.status();
      let up = 0;
      for (const s of last.values()) if (s === 'up') up++;
      return up === COUNT;
    }, 20).catch((err: Error) => {
      const states = new Map<string, number>();
      for (const s of last.values()) states.set(s, (states.get(s) ?? 0) + 1);
      throw new Error(`${err.message}; states: ${JSON.stringify(Object.fromEntries(states))}`);
    });
    const upSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    await sleep(SETTLE_MS);
    let procs = allProcs();
    let serverPids = cs.serverPids(procs);
    log(`many: conserver: ${COUNT} up in ${fmt(upSeconds, 2)} s (${serverPids.length} conserver processes, ${cs.programPids(procs).length} program processes)`);

    const c0 = cpuTicksByPid(serverPids);
    const i0 = process.hrtime.bigint();
    await sleep(IDLE_MS);
    const idleCpuMs = cpuDeltaMs(c0, cpuTicksByPid(serverPids));
    const idleSeconds = Number(process.hrtime.bigint() - i0) / 1e9;
    procs = allProcs();
    serverPids = cs.serverPids(procs);
    const rssAfterKb = rssKb(serverPids);
    const pssAfterKb = pssKb(serverPids);

    const stopped = await cs.stop({ reap: false });
    leftover = stopped.leftBehind;
    return {
      server: 'conserver', consoles: COUNT, upSeconds,
      rssBeforeKb: base.rssKb, rssAfterKb, rssPerConsoleKb: (rssAfterKb - base.rssKb) / (COUNT - 1),
      pssBeforeKb: base.pssKb, pssAfterKb,
      pssPerConsoleKb: pssAfterKb !== undefined && base.pssKb !== undefined ? (pssAfterKb - base.pssKb) / (COUNT - 1) : undefined,
      serverProcesses: serverPids.length, idleCpuMs, idleSeconds,
      shutdownMs: stopped.ms, exitCode: stopped.killed ? null : stopped.code, programs: stopped.programs.length, leftBehind: leftover.length,
      note: 'each console is `/bin/sh -c` plus `sleep` (2 processes); RSS/PSS "before" = a conserver with 1 console (it cannot run with none), so the difference is divided by 999',
    };
  } finally {
    await cs.stop(); // no-op when stopped above
    const left = leftover.filter((pid) => isAlive(pid));
    if (left.length) {
      log(`many: conserver left ${left.length} console program processes running after SIGTERM; killing them by PID`);
      await killPids(left);
    }
    removeDir(dir);
  }
}

export interface ManyResult {
  samples: ManySample[];
}

export async function runMany(): Promise<ManyResult> {
  const samples: ManySample[] = [];
  samples.push(await switchboard());
  samples.push(await conserver());
  return { samples };
}

export function manyTable(r: ManyResult): string {
  const rows = r.samples.map((s) => [
    s.server, String(s.consoles), fmt(s.upSeconds, 2),
    `${fmt(s.rssPerConsoleKb, 1)} (${fmt(s.rssBeforeKb / 1024, 1)} → ${fmt(s.rssAfterKb / 1024, 1)} MB)`,
    s.pssPerConsoleKb === undefined ? 'n/a' : `${fmt(s.pssPerConsoleKb, 1)} (${fmt((s.pssBeforeKb ?? 0) / 1024, 1)} → ${fmt((s.pssAfterKb ?? 0) / 1024, 1)} MB)`,
    `${fmt(s.idleCpuMs, 0)} ms / ${fmt(s.idleSeconds, 1)} s (${fmt(s.idleCpuMs / 10 / s.idleSeconds, 1)}%)`,
    `${s.exitCode === null ? 'killed' : `exit ${s.exitCode}`} in ${fmt(s.shutdownMs / 1000, 2)} s`,
    `${s.leftBehind} of ${s.programs}`,
  ]);
  return markdownTable(
    ['server', 'consoles', 'all up (s)', 'RSS KB per console (server total)', 'PSS KB per console (server total)', 'idle server CPU', 'SIGTERM', 'console processes left behind'],
    rows,
  );
}
