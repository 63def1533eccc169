// Output sinks and watch patterns: console throughput with 0, 1 and 3 tcp outputs, and with 20
// watch patterns; conserver logging the same flood alongside, as the peer. One node runs `yes` (a
// line of typical length); each output's receiver (in this process) reads and counts records. Over
// a fixed window once the console streams: log file growth (MB/s, the console's pace), records the
// receivers got, records dropped, and every process's CPU. The receivers share the 2 cores with
// the daemon, as a log shipper on the same box would.
//   npm run bench:outputs      BENCH_REPS (3 rounds)  BENCH_WINDOW_MS (3000)  BENCH_SETUPS (all; e.g. 0:0,3:20)
import { closeSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { allProcs, cpuDeltaMs, cpuTicksByPid, fmt, freePort, log, machineBusyPct, markdownTable, MB, removeDir, sleep, start, stop, tmpDir, waitFor } from './lib.js';
import { Conserver } from './peers/conserver.js';
import { Switchboard } from './peers/switchboard.js';

const SINK_COUNTS = [0, 1, 3];
const WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 3000);
const SETTLE_MS = 500;
const LINE = 'kernel: [  123.456789] eth0: link up, 10Gbps, full duplex, flow control rx/tx';

interface Receiver {
  port: number;
  readonly records: number;
  /** CPU ms the receiver has used so far. */
  cpuMs(): number;
  close(): Promise<void>;
}

/** One console record's length with its newline: all are alike here (same node, line and time format). */
const RECORD_BYTES = JSON.stringify({ node: 'flood', type: 'console', message: LINE, time: new Date().toISOString() }).length + 1;

/**
 * BENCH_RECEIVER=node (the default): a receiver in this process, counting bytes (a scan per record
 * would cost more CPU than the daemon spends sending). BENCH_RECEIVER=socat: `socat -u TCP-LISTEN
 * /dev/null`, a native process as a log shipper's input would be, its bytes read off /proc/PID/io;
 * it takes less of the two cores the daemon and the console share.
 */
const RECEIVER = process.env.BENCH_RECEIVER ?? 'node';

async function receiver(): Promise<Receiver> {
  return RECEIVER === 'socat' ? socatReceiver() : nodeReceiver();
}

async function nodeReceiver(): Promise<Receiver> {
  let bytes = 0;
  const server = net.createServer((s) => {
    s.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cpu0 = process.cpuUsage();
  return {
    port: (server.address() as net.AddressInfo).port,
    get records() {
      return Math.floor(bytes / RECORD_BYTES);
    },
    // The whole bench process: the receivers are most of what it does meanwhile.
    cpuMs: () => {
      const u = process.cpuUsage(cpu0);
      return (u.user + u.system) / 1000;
    },
    close: async () => void server.close(),
  };
}

async function socatReceiver(): Promise<Receiver> {
  const port = await freePort();
  const p = start('socat', ['-u', `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr`, 'OPEN:/dev/null'], { stdio: 'ignore' });
  // Listening once 127.0.0.1:port is in /proc/net/tcp in state 0A (a probe connection would be the one socat serves).
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const listening = () => readFileSync('/proc/net/tcp', 'utf8').split('\n').some((l) => {
    const f = l.trim().split(/\s+/);
    return f[1] === local && f[3] === '0A';
  });
  await waitFor(`socat listening on ${port}`, 5000, listening, 20);
  const rchar = () => {
    try {
      return Number(/^rchar: (\d+)/m.exec(readFileSync(`/proc/${p.pid}/io`, 'utf8'))?.[1] ?? 0);
    } catch {
      return 0;
    }
  };
  const cpu0 = cpuTicksByPid([p.pid]);
  return {
    port,
    get records() {
      return Math.floor(rchar() / RECORD_BYTES);
    },
    cpuMs: () => cpuDeltaMs(cpu0, cpuTicksByPid([p.pid])),
    close: async () => void (await stop(p)),
  };
}

/**
 * Bytes per console line in a log, read off its tail: LINE, its line end as the pty made it, and
 * Switchboard's time stamp (conserver's log has none).
 */
function bytesPerLine(file: string): number {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    const n = readSync(fd, buf, 0, buf.length, Math.max(0, size(file) - buf.length));
    const at: number[] = [];
    for (let i = buf.indexOf(LINE); i >= 0 && i < n; i = buf.indexOf(LINE, i + 1)) at.push(i);
    const gaps = at.slice(1).map((x, i) => x - at[i]).sort((a, b) => a - b);
    return gaps[Math.floor(gaps.length / 2)];
  } finally {
    closeSync(fd);
  }
}

function size(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** Twenty patterns of the kind people watch for; none matches LINE, as on a healthy console. */
const PATTERNS = [
  'Kernel panic - not syncing', 'Oops:', 'Call Trace:', 'BUG: ', 'soft lockup', 'hard LOCKUP', 'hung_task', 'Out of memory',
  'segfault at', 'general protection', 'I/O error', 'EXT4-fs error', 'XFS .* Corruption', 'MCE: ', 'Machine check',
  'NMI watchdog', 'rcu_sched self-detected stall', 'watchdog: BUG', 'thermal.*critical', 'login:\\s*$',
].map((regex, i) => ({ name: `p${i}`, regex }));

async function run(sinks: number, patterns = 0): Promise<string[]> {
  const dir = tmpDir('outputs');
  const receivers = await Promise.all(Array.from({ length: sinks }, () => receiver()));
  const config = path.join(dir, 'switchboard.yaml');
  writeFileSync(config, JSON.stringify({
    outputs: receivers.map((r, i) => ({ name: `r${i}`, type: 'tcp', address: `127.0.0.1:${r.port}` })),
    watchPatterns: PATTERNS.slice(0, patterns),
  }));
  const sb = new Switchboard({ dataDir: dir, args: ['--config', config] });
  await sb.start();
  try {
    await sb.createNode('flood', ['yes', LINE]);
    await sb.waitConnected('flood');
    await sleep(SETTLE_MS);
    const logFile = path.join(dir, 'logs', 'flood.log');
    const yesPid = (await sb.node('flood')).session?.info.pid ?? 0;
    const recvCpu = () => (RECEIVER === 'socat' ? receivers.reduce((a, r) => a + r.cpuMs(), 0) : (receivers[0]?.cpuMs() ?? 0));
    const [log0, got0, cpu0, yes0, recv0, t0] = [size(logFile), receivers.map((r) => r.records), cpuTicksByPid([sb.pid]), cpuTicksByPid([yesPid]), recvCpu(), performance.now()];
    const busy = await machineBusyPct(WINDOW_MS);
    const [log1, got1, cpu1, yes1, recv1, t1] = [size(logFile), receivers.map((r) => r.records), cpuTicksByPid([sb.pid]), cpuTicksByPid([yesPid]), recvCpu(), performance.now()];
    const stats = sinks ? (await sb.api<{ outputs: { dropped: number }[] }>('GET', '/outputs')).outputs : [];
    // Lines the watch worker never checked because matching fell behind, from /metrics.
    const scrape = patterns ? await (await fetch(`${sb.http}/metrics`)).text() : '';
    const skipped = /^switchboard_watch_lines_skipped_total (\d+)/m.exec(scrape)?.[1] ?? '-';
    const s = (t1 - t0) / 1000;
    // MB/s counts the console's own bytes (LINE and a newline), not the log's time stamps.
    const lines = (log1 - log0) / bytesPerLine(logFile);
    const mbs = (lines * (LINE.length + 1)) / MB / s;
    const received = got1.reduce((a, n, i) => a + n - got0[i], 0) / Math.max(1, sinks);
    const cpu = cpuDeltaMs(cpu0, cpu1);
    const pct = (ms: number) => fmt((ms / (t1 - t0)) * 100, 0);
    return [String(sinks), String(patterns), fmt(mbs), fmt(lines / s / 1000, 0), sinks ? fmt(received / s / 1000, 0) : '-', sinks ? String(stats.reduce((a, o) => a + o.dropped, 0)) : '-', skipped,
      pct(cpu), fmt(cpu / ((lines * (LINE.length + 1)) / MB), 0), pct(cpuDeltaMs(yes0, yes1)), sinks ? pct(recv1 - recv0) : '-', fmt(busy * 2, 0)];
  } finally {
    await sb.stop();
    await Promise.all(receivers.map((r) => r.close()));
    removeDir(dir);
  }
}

/** The peer: conserver logging the same flood to its file (it has no sinks or patterns to compare). */
async function runConserver(): Promise<string[]> {
  const dir = tmpDir('outputs-conserver');
  const cs = new Conserver({ dir, consoles: [{ name: 'flood', exec: `yes '${LINE}'` }] });
  await cs.start();
  try {
    await waitFor('conserver console up', 10_000, async () => (await cs.status()).get('flood') === 'up', 50);
    await sleep(SETTLE_MS);
    const logFile = cs.logFile('flood');
    const procs = allProcs();
    const [server, programs] = [cs.serverPids(procs), cs.programPids(procs)];
    const [log0, cpu0, prog0, t0] = [size(logFile), cpuTicksByPid(server), cpuTicksByPid(programs), performance.now()];
    const busy = await machineBusyPct(WINDOW_MS);
    const [log1, cpu1, prog1, t1] = [size(logFile), cpuTicksByPid(server), cpuTicksByPid(programs), performance.now()];
    const lines = (log1 - log0) / bytesPerLine(logFile);
    const mbs = (lines * (LINE.length + 1)) / MB / ((t1 - t0) / 1000);
    const cpu = cpuDeltaMs(cpu0, cpu1);
    const pct = (ms: number) => fmt((ms / (t1 - t0)) * 100, 0);
    return ['conserver 8.2.7 (peer, log file only)', '-', fmt(mbs), fmt(lines / ((t1 - t0) / 1000) / 1000, 0), '-', '-', '-',
      pct(cpu), fmt(cpu / ((lines * (LINE.length + 1)) / MB), 0), pct(cpuDeltaMs(prog0, prog1)), '-', fmt(busy * 2, 0)];
  } finally {
    await cs.stop();
    removeDir(dir);
  }
}

// The machine's noise between runs is ~25 %: every setup runs REPS times, the rounds interleaved so
// a slow minute hurts all setups alike, and the table shows each setup's median run (by MB/s).
const REPS = Number(process.env.BENCH_REPS ?? 3);
// BENCH_SETUPS picks some, e.g. "0:0,3:20" (-1:0 is conserver).
const setups = process.env.BENCH_SETUPS
  ? process.env.BENCH_SETUPS.split(',').map((x) => x.split(':').map(Number))
  : [...SINK_COUNTS.map((n) => [n, 0]), [0, 20], [3, 20], [-1, 0]];
const runs: string[][][] = setups.map(() => []);
for (let rep = 1; rep <= REPS; rep++) {
  for (const [i, [n, p]] of setups.entries()) {
    log(n < 0 ? `outputs: conserver, round ${rep}/${REPS}` : `outputs: ${n} tcp sink(s), ${p} watch patterns, ${WINDOW_MS} ms window, round ${rep}/${REPS}`);
    runs[i].push(n < 0 ? await runConserver() : await run(n, p));
  }
}
// The machine's speed drifts within a run (seen: 20–44 MB/s for the same setup), so each setup's cost
// is also taken against the no-output run of the same round, the median of those shown.
const baseIndex = setups.findIndex(([n, p]) => n === 0 && p === 0);
const costs = (i: number): string => {
  if (baseIndex < 0 || i === baseIndex || setups[i][0] < 0) return '-';
  const c = runs[i].map((r, rep) => (1 - Number(r[2]) / Number(runs[baseIndex][rep][2])) * 100).sort((a, b) => a - b);
  return `${fmt(c[Math.floor(c.length / 2)], 0)} % (${c.map((x) => fmt(x, 0)).join(' / ')})`;
};
const rows = runs.map((r, i) => {
  const sorted = [...r].sort((a, b) => Number(a[2]) - Number(b[2]));
  const median = sorted[Math.floor(sorted.length / 2)];
  return [...median.slice(0, 3), sorted.map((x) => x[2]).join(' / '), costs(i), ...median.slice(3)];
});
process.stdout.write(`${markdownTable(['tcp outputs', 'watch patterns', 'console MB/s (median)', 'every run, slowest first', 'cost against 0 outputs in the same round (median; every round)', 'klines/s', 'krecords/s per output', 'dropped (all outputs)', 'lines the patterns skipped (whole run)', 'daemon CPU %', 'daemon CPU ms per MB', 'yes CPU %', 'receivers CPU %', 'machine busy % (of 200)'], rows)}\n`);
