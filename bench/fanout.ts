// Fan-out: one console running `yes`, N read-only clients of the same light kind on both sides
// (conserver's C `console -s`; for Switchboard's TCP attach port bench/spy-client.c, a C client with
// console's select/read/write loop, or socat with BENCH_SB_CLIENT=socat|both), all writing to /dev/null.
// Over a fixed window after every client is receiving: bytes each client wrote out (from
// /proc/PID/io wchar), server CPU (utime+stime of the server processes, never the `yes` program
// or the clients), and console log growth.
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  cpuDeltaMs, cpuTicksByPid, descendants, fmt, ioCounters, isAlive, killPids, log, markdownTable, median, MB, removeDir, rssKb,
  sleep, start, stopMany, tmpDir, waitFor, wchar, type Started,
} from './lib.js';
import { CONSOLE, Conserver } from './peers/conserver.js';
import { Switchboard } from './peers/switchboard.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const FANOUT_CLIENTS = [1, 10, 50];
const WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 5000);
const SETTLE_MS = 500;
const SOCAT = '/usr/bin/socat';

/** Which light client reads from Switchboard: the bench's C spy client (default), socat, or both. */
export type SbClient = 'c' | 'socat';

export interface FanoutSample {
  /** 'switchboard' (C spy client), 'switchboard (socat clients)' or 'conserver'. */
  server: string;
  client: string;
  clients: number;
  windowS: number;
  perClientMBs: number;
  minClientMBs: number;
  aggregateMBs: number;
  serverCpuMs: number;
  serverCpuPct: number;
  cpuMsPerMB: number;
  logMBs: number;
  clientCpuPct: number;
  /** Server read + write system calls per aggregate MB delivered. */
  serverSyscallsPerMB: number;
  /** Average bytes per server read(2) (console + sockets + files). */
  serverBytesPerRead: number;
  serverRssStartMB: number;
  serverRssEndMB: number;
  /** Average bytes per client read(2): how the server's writes arrive. */
  clientBytesPerRead: number;
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** Compile bench/spy-client.c into bench/out/ (when the source is newer); its path. */
export function buildSpyClient(): string {
  const src = path.join(HERE, 'spy-client.c');
  const bin = path.join(HERE, 'out', 'spy-client');
  if (existsSync(bin) && statSync(bin).mtimeMs >= statSync(src).mtimeMs) return bin;
  mkdirSync(path.dirname(bin), { recursive: true });
  try {
    execFileSync('cc', ['-O2', '-o', bin, src], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  } catch (err) {
    throw new Error(`cannot build ${src} (needs a C compiler; or set BENCH_SB_CLIENT=socat): ${(err as Error).message}`);
  }
  return bin;
}

export function sbClients(): SbClient[] {
  const v = process.env.BENCH_SB_CLIENT ?? 'c';
  if (v === 'both') return ['c', 'socat'];
  if (v === 'c' || v === 'socat') return [v];
  throw new Error(`BENCH_SB_CLIENT must be c, socat or both, not '${v}'`);
}

interface Target {
  name: string;
  client: string;
  /** Start the server with one `yes` console; returns its log file. */
  setup(): Promise<string>;
  serverPids(): number[];
  startClient(devNull: number): Started;
  teardown(): Promise<void>;
}

function switchboardTarget(kind: SbClient): Target {
  const dir = tmpDir('fanout-sb');
  const sb = new Switchboard({ dataDir: dir });
  const spy = kind === 'c' ? buildSpyClient() : '';
  let started = false;
  return {
    name: kind === 'c' ? 'switchboard' : 'switchboard (socat clients)',
    client: kind === 'c' ? 'bench/spy-client (C: select, read, write)' : 'socat - TCP:... (stdin: the handshake)',
    async setup() {
      await sb.start();
      started = true;
      await sb.createNode('f1', ['/usr/bin/yes']);
      await sb.waitConnected('f1');
      return path.join(dir, 'logs', 'f1.log');
    },
    serverPids: () => [sb.pid],
    startClient(devNull) {
      if (kind === 'c') {
        const env = { ...process.env, BENCH_HELLO: sb.hello('f1', 'ro').trimEnd() };
        return start(spy, ['127.0.0.1', String(sb.consolePort)], { stdio: [devNull, devNull, 'ignore'], env });
      }
      const c = start(SOCAT, ['-', `TCP:127.0.0.1:${sb.consolePort}`], { stdio: ['pipe', devNull, 'ignore'] });
      // The handshake; stdin stays open so socat keeps the connection up.
      c.proc.stdin?.on('error', () => {});
      c.proc.stdin?.write(sb.hello('f1', 'ro'));
      return c;
    },
    async teardown() {
      try {
        if (started) {
          const r = await sb.stop();
          if (r.code !== 0) log(`switchboard exited with ${r.code} after the fan-out run`);
        }
      } finally {
        removeDir(dir);
      }
    },
  };
}

function conserverTarget(): Target {
  const dir = tmpDir('fanout-cs');
  const cs = new Conserver({ dir, consoles: [{ name: 'f1', exec: '/usr/bin/yes' }] });
  let started = false;
  let pids: number[] = [];
  return {
    name: 'conserver',
    client: 'console -s (conserver C client)',
    async setup() {
      await cs.start();
      started = true;
      await waitFor('conserver console f1 up', 10_000, async () => (await cs.status()).get('f1') === 'up', 50);
      pids = cs.serverPids();
      return cs.logFile('f1');
    },
    serverPids: () => (pids = cs.serverPids()),
    startClient(devNull) {
      return start(CONSOLE, cs.clientArgs('-s', 'f1'), { stdio: [devNull, devNull, 'ignore'] });
    },
    async teardown() {
      try {
        if (started) await cs.stop();
      } finally {
        removeDir(dir);
      }
    },
  };
}

async function runOne(target: Target, n: number): Promise<FanoutSample> {
  const devNull = openSync('/dev/null', 'r+');
  const clients: Started[] = [];
  try {
    const logFile = await target.setup();
    for (let i = 0; i < n; i++) clients.push(target.startClient(devNull));
    await waitFor(`${n} ${target.name} clients receiving`, 20_000, () => clients.every((c) => wchar(c.pid) > 0), 50);
    for (const c of clients) if (c.proc.exitCode !== null) throw new Error(`a ${target.name} client exited early`);
    await sleep(SETTLE_MS);

    const serverPids = target.serverPids();
    const clientPids = clients.map((c) => c.pid);
    const io0 = ioCounters(serverPids);
    const rss0 = rssKb(serverPids);
    const cpu0 = cpuTicksByPid(serverPids);
    const ccpu0 = cpuTicksByPid(clientPids);
    const w0 = clientPids.map(wchar);
    const cio0 = ioCounters(clientPids);
    const log0 = fileSize(logFile);
    const t0 = process.hrtime.bigint();
    await sleep(WINDOW_MS);
    const cpu1 = cpuTicksByPid(serverPids);
    const ccpu1 = cpuTicksByPid(clientPids);
    const w1 = clientPids.map(wchar);
    const cio1 = ioCounters(clientPids);
    const log1 = fileSize(logFile);
    const io1 = ioCounters(serverPids);
    const rss1 = rssKb(serverPids);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;

    const dead = clients.filter((c) => c.proc.exitCode !== null || c.proc.signalCode !== null).length;
    if (dead) throw new Error(`${dead} ${target.name} clients exited during the window`);
    const perClient = w1.map((w, i) => (w - w0[i]) / MB / secs);
    const aggregate = perClient.reduce((a, b) => a + b, 0);
    const serverCpuMs = cpuDeltaMs(cpu0, cpu1);
    return {
      server: target.name,
      client: target.client,
      clients: n,
      windowS: secs,
      perClientMBs: aggregate / n,
      minClientMBs: Math.min(...perClient),
      aggregateMBs: aggregate,
      serverCpuMs,
      serverCpuPct: (serverCpuMs / 10) / secs,
      cpuMsPerMB: serverCpuMs / (aggregate * secs),
      logMBs: (log1 - log0) / MB / secs,
      clientCpuPct: (cpuDeltaMs(ccpu0, ccpu1) / 10) / secs,
      serverSyscallsPerMB: (io1.syscr - io0.syscr + io1.syscw - io0.syscw) / (aggregate * secs),
      serverBytesPerRead: (io1.rchar - io0.rchar) / Math.max(1, io1.syscr - io0.syscr),
      serverRssStartMB: rss0 / 1024,
      serverRssEndMB: rss1 / 1024,
      clientBytesPerRead: (cio1.rchar - cio0.rchar) / Math.max(1, cio1.syscr - cio0.syscr),
    };
  } finally {
    await stopMany(clients);
    closeSync(devNull);
    await target.teardown();
  }
}

/** The pty ceiling on this machine: `yes` in a pty read by one light reader (socat), no server. */
async function barePtyCeiling(): Promise<number> {
  const devNull = openSync('/dev/null', 'r+');
  const reader = start(SOCAT, ['-u', 'EXEC:/usr/bin/yes,pty,setsid,ctty', 'STDOUT'], { stdio: ['ignore', devNull, 'ignore'] });
  let programs: number[] = [];
  try {
    await waitFor('bare pty reader receiving', 10_000, () => wchar(reader.pid) > 0, 50);
    await sleep(SETTLE_MS);
    programs = descendants(reader.pid).map((p) => p.pid);
    const w0 = wchar(reader.pid);
    const t0 = process.hrtime.bigint();
    await sleep(WINDOW_MS);
    const w1 = wchar(reader.pid);
    return (w1 - w0) / MB / (Number(process.hrtime.bigint() - t0) / 1e9);
  } finally {
    await stopMany([reader]);
    closeSync(devNull);
    await killPids(programs.filter((pid) => isAlive(pid)));
  }
}

export interface FanoutResult {
  /** One reader straight on the pty, median over repetitions. */
  barePtyMBs: number;
  reps: number;
  windowMs: number;
  samples: FanoutSample[];
  /** Median over repetitions, per server and client count. */
  summary: FanoutSample[];
}

export async function runFanout(reps = Number(process.env.BENCH_REPS ?? 3)): Promise<FanoutResult> {
  const samples: FanoutSample[] = [];
  const bare: number[] = [];
  for (let rep = 1; rep <= reps; rep++) {
    bare.push(await barePtyCeiling());
    log(`fan-out rep ${rep}/${reps}: bare pty, one reader: ${fmt(bare[bare.length - 1])} MB/s`);
    for (const n of FANOUT_CLIENTS) {
      // Interleaved, so background noise hits both servers alike.
      const makers = [...sbClients().map((k) => () => switchboardTarget(k)), conserverTarget];
      for (const make of makers) {
        const s = await runOne(make(), n);
        log(`fan-out rep ${rep}/${reps}: ${s.server} ${n} clients: ${fmt(s.perClientMBs)} MB/s per client, ${fmt(s.aggregateMBs)} aggregate, ${fmt(s.cpuMsPerMB, 2)} ms CPU/MB (server ${fmt(s.serverCpuPct, 0)}% CPU), log ${fmt(s.logMBs)} MB/s`);
        samples.push(s);
      }
    }
  }
  const summary: FanoutSample[] = [];
  for (const n of FANOUT_CLIENTS) {
    for (const server of [...new Set(samples.map((s) => s.server))]) {
      const ss = samples.filter((s) => s.server === server && s.clients === n);
      if (!ss.length) continue;
      const med = (k: keyof FanoutSample) => median(ss.map((s) => s[k] as number));
      summary.push({
        server, client: ss[0].client, clients: n, windowS: med('windowS'), perClientMBs: med('perClientMBs'), minClientMBs: med('minClientMBs'),
        aggregateMBs: med('aggregateMBs'), serverCpuMs: med('serverCpuMs'), serverCpuPct: med('serverCpuPct'),
        cpuMsPerMB: med('cpuMsPerMB'), logMBs: med('logMBs'), clientCpuPct: med('clientCpuPct'),
        serverSyscallsPerMB: med('serverSyscallsPerMB'), serverBytesPerRead: med('serverBytesPerRead'),
        serverRssStartMB: med('serverRssStartMB'), serverRssEndMB: med('serverRssEndMB'), clientBytesPerRead: med('clientBytesPerRead'),
      });
    }
  }
  return { barePtyMBs: median(bare), reps, windowMs: WINDOW_MS, samples, summary };
}

export function fanoutTable(r: FanoutResult): string {
  const rows = r.summary.map((s) => [
    s.server, String(s.clients), fmt(s.perClientMBs), fmt(s.minClientMBs), fmt(s.aggregateMBs),
    fmt(s.serverCpuPct, 0), fmt(s.cpuMsPerMB, 2), fmt(s.logMBs), fmt(s.serverSyscallsPerMB, 0),
    `${fmt(s.serverRssStartMB, 0)} → ${fmt(s.serverRssEndMB, 0)}`, fmt(s.clientCpuPct, 0), fmt(s.clientBytesPerRead, 0),
  ]);
  rows.unshift(['bare pty (no server)', '1', fmt(r.barePtyMBs), fmt(r.barePtyMBs), fmt(r.barePtyMBs), '—', '—', '—', '—', '—', '—', '—']);
  return markdownTable(
    ['server', 'clients', 'MB/s per client', 'slowest client MB/s', 'aggregate MB/s', 'server CPU % of a core', 'server CPU ms per aggregate MB', 'log growth MB/s', 'server syscalls per MB', 'server RSS MB (window start → end)', 'clients CPU % (all)', 'bytes per client read'],
    rows,
  );
}
