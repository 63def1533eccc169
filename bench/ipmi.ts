// N simulated BMCs (ipmi_sim on loopback, bench/peers/bmc.ts) with SOL consoles, through one
// Switchboard daemon per console driver in turn, on the same BMCs:
//   ipmi-sol:     native RMCP+ SOL inside the daemon; every console shares one UDP socket.
//   ipmitool-sol: one `ipmitool -I lanplus ... sol activate` process per console, in a pty (what
//                 conserver, OBMd and ironic run). Server = the daemon PLUS its ipmitool processes.
// The bench is every host: it holds each BMC's serial line (a TCP server ipmi_sim connects to), so
// what it writes there is console output. Measured per driver:
//   - time and CPU until GET /api/v1/nodes shows every session 'connected' (console 1 alone first,
//     then 2..N in one bulk POST);
//   - memory after full GCs (through the daemon's inspector): daemon PSS with N consoles − the same
//     daemon with 0 nodes, / N, and without console 1's one-time cost; for ipmitool-sol also the
//     ipmitool processes' PSS / N;
//   - CPU of the daemon and its children (every thread, schedstat) over a window at idle, and over a
//     window while the bench writes a line a second on every serial line (all must reach the logs);
//   - SOL throughput of one console: BENCH_IPMI_THROUGHPUT_MB of text poured into one serial line
//     as fast as ipmi_sim takes it, timed until its end marker is in the node's log file;
//   - at the end, a line written on every serial line must appear in that node's log;
//   - session state changes and daemon warnings after all were up (reconnects), and SIGTERM.
// ipmi_sim's CPU is shown for context and never counted.
import { randomBytes } from 'node:crypto';
import { openSync, readSync, closeSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import {
  descendants, fmt, isAlive, killPids, log, MB, pssKb, removeDir, rssKb, runDeltaMs, runMs, runNsByPid, sleep, tmpDir,
  ussKb, waitFor,
} from './lib.js';
import { BMC_PASSWORD, BMC_USER, BmcFarm, type Bmc } from './peers/bmc.js';
import { Switchboard } from './peers/switchboard.js';

export const IPMI_BMCS = Number(process.env.BENCH_IPMI_BMCS ?? 100);
const WINDOW_MS = Number(process.env.BENCH_IPMI_WINDOW_MS ?? 20_000);
const THROUGHPUT_BYTES = Math.round(Number(process.env.BENCH_IPMI_THROUGHPUT_MB ?? 5) * MB);
const THROUGHPUT_TIMEOUT_MS = 120_000;
const UP_TIMEOUT_MS = 120_000;
const SETTLE_MS = 3000;
export const IPMI_DRIVERS = ['ipmi-sol', 'ipmitool-sol'] as const;
export type IpmiDriver = (typeof IPMI_DRIVERS)[number];
/** "Idle CPU near zero": this many % of one core, daemon and children together. */
export const IDLE_CPU_TARGET_PCT = 1;
/** Daemon memory per native SOL console. */
export const NATIVE_KB_TARGET = 16;

const TICK = 'tick ';

interface CpuWindow {
  seconds: number;
  daemonMs: number;
  /** The daemon's children (ipmitool processes); 0 for ipmi-sol. */
  helpersMs: number;
  /** ipmi_sim processes, for context: not counted. */
  bmcMs: number;
}

/** The daemon process's memory (kB) right after a full GC, and before it (raw PSS). */
interface Memory {
  pss: number;
  uss: number;
  rss: number;
  /** V8 heap in use after the GC. */
  heap: number;
  /** PSS just before the GC: what a plain reading shows, garbage included. */
  rawPss: number;
}

export interface IpmiSample {
  driver: IpmiDriver;
  consoles: number;
  connected: number;
  /** From the bulk POST of consoles 2..N until all N are connected. */
  connectedSeconds: number;
  startupDaemonCpuMs: number;
  startupHelpersCpuMs: number;
  /** The daemon with 0 nodes, with console 1 alone, with all N (each 3 s after they connected). */
  memory: { none: Memory; one: Memory; all: Memory };
  helpers: number;
  helpersPssKb: number;
  helpersRssKb: number;
  idle: CpuWindow;
  ticking: CpuWindow & { linesLogged: number; linesExpected: number };
  throughput: {
    bytes: number; arrived: number; seconds: number; complete: boolean; intactLines: number; lines: number;
    /** UDP datagrams delivered on the machine meanwhile: SOL data packets plus their ACKs. */
    datagrams: number;
  } & Omit<CpuWindow, 'seconds'>;
  /** UDP datagrams the kernel dropped for a full receive buffer while this driver ran (system-wide). */
  udpDrops: number;
  /** Lines written on every serial line at the end that were found in the node's log. */
  check: { found: number; seconds: number };
  /** 'console failed' / 'console down' warnings until all were up: attempts that had to be retried. */
  warningsBeforeUp: number;
  /** Log lines after all were up (should be 0 for a console that stays connected). */
  stateChangesAfterUp: number;
  warningsAfterUp: number;
  warningSamples: string[];
  /** After the windows, the throughput run and the check. */
  memoryEnd: Memory;
  helpersEnd: number;
  shutdownMs: number;
  exitCode: number | null;
  helpersLeft: number;
}

function name(i: number): string {
  return `bmc${String(i).padStart(4, '0')}`;
}

function logFile(dir: string, node: string): string {
  return path.join(dir, 'logs', `${node}.log`);
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function readText(file: string, from = 0): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return '';
  }
  try {
    const size = statSync(file).size;
    const buf = Buffer.alloc(Math.max(0, size - from));
    readSync(fd, buf, 0, buf.length, from);
    return buf.toString('latin1');
  } finally {
    closeSync(fd);
  }
}

/** System-wide UDP counters (/proc/net/snmp): datagrams delivered, and dropped for a full receive buffer. */
function udp(): { in: number; rcvbufErrors: number } {
  const rows = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
  const head = rows[0].split(/\s+/);
  const vals = rows[1].split(/\s+/).map(Number);
  return { in: vals[head.indexOf('InDatagrams')], rcvbufErrors: vals[head.indexOf('RcvbufErrors')] };
}

function countTicks(files: string[]): number {
  let n = 0;
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, 'latin1');
    } catch {
      continue;
    }
    for (let i = text.indexOf(TICK); i >= 0; i = text.indexOf(TICK, i + TICK.length)) n++;
  }
  return n;
}

function stateChanges(sb: Switchboard): { states: number; warnings: number } {
  return {
    states: sb.logCounts.get('session state') ?? 0,
    warnings: (sb.logCounts.get('console failed') ?? 0) + (sb.logCounts.get('console down') ?? 0),
  };
}

/** CPU of the daemon, its children and the BMCs over `ms`. */
async function cpuWindow(sb: Switchboard, bmcs: BmcFarm, ms: number): Promise<CpuWindow> {
  const helpers = descendants(sb.pid).map((p) => p.pid);
  const d0 = runNsByPid([sb.pid]);
  const h0 = runNsByPid(helpers);
  const b0 = runNsByPid(bmcs.pids);
  const t0 = process.hrtime.bigint();
  await sleep(ms);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return {
    seconds,
    daemonMs: runDeltaMs(d0, runNsByPid([sb.pid])),
    helpersMs: runDeltaMs(h0, runNsByPid(helpers)),
    bmcMs: runDeltaMs(b0, runNsByPid(bmcs.pids)),
  };
}

/** Every serial line prints a line a second, each at its own offset within the second. */
function startTicking(bmcs: Bmc[]): () => void {
  const timers: NodeJS.Timeout[] = [];
  let stopped = false;
  bmcs.forEach((b, i) => {
    let seq = 0;
    const offset = Math.floor((i * 1000) / bmcs.length);
    timers.push(setTimeout(() => {
      if (stopped) return;
      const tick = () => b.serial.write(`${TICK}${name(i)} ${++seq} ${Date.now()}\r\n`);
      tick();
      timers.push(setInterval(tick, 1000));
    }, offset));
  });
  return () => {
    stopped = true;
    for (const t of timers) clearTimeout(t);
  };
}

/** Pour text into one serial line as fast as ipmi_sim reads it; time until its log has the end marker. */
async function throughput(sb: Switchboard, bmc: Bmc, file: string): Promise<IpmiSample['throughput']> {
  const LINE = 80; // 8-digit line number, a space, 69 'x', CR LF
  const lines = Math.ceil(THROUGHPUT_BYTES / LINE);
  const bytes = lines * LINE;
  const marker = `END ${randomBytes(6).toString('hex')}`;
  const base = fileSize(file);
  const helpers = descendants(sb.pid).map((p) => p.pid);
  const d0 = runNsByPid([sb.pid]);
  const h0 = runNsByPid(helpers);
  const b0 = runNsByPid([bmc.proc.pid]);
  const u0 = udp().in;
  const t0 = process.hrtime.bigint();
  const writing = (async () => {
    const filler = 'x'.repeat(LINE - 11);
    for (let i = 0; i < lines;) {
      let chunk = '';
      for (let k = 0; k < 800 && i < lines; k++, i++) chunk += `${String(i).padStart(8, '0')} ${filler}\r\n`;
      if (!bmc.serial.write(chunk)) await bmc.serial.drained();
    }
    bmc.serial.write(`${marker}\r\n`);
  })();
  let complete = true;
  // The marker is written after all the text, so once it is in the log the text has arrived (or was lost).
  await waitFor(`${marker} in ${path.basename(file)}`, THROUGHPUT_TIMEOUT_MS, () => readText(file, Math.max(base, fileSize(file) - 4096)).includes(marker), 20).catch((err: Error) => {
    complete = false;
    log(`ipmi: throughput: ${err.message}`);
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const daemonMs = runDeltaMs(d0, runNsByPid([sb.pid]));
  const helpersMs = runDeltaMs(h0, runNsByPid(helpers));
  const bmcMs = runDeltaMs(b0, runNsByPid([bmc.proc.pid]));
  const datagrams = udp().in - u0;
  await Promise.race([writing, sleep(1000)]);
  const text = readText(file, base);
  const seen = new Set<string>();
  for (const m of text.matchAll(/(\d{8}) x{69}\r\n/g)) seen.add(m[1]);
  return { bytes, arrived: text.length, seconds, complete, intactLines: seen.size, lines, datagrams, daemonMs, helpersMs, bmcMs };
}

async function measure(driver: IpmiDriver, bmcs: BmcFarm): Promise<IpmiSample> {
  const n = bmcs.bmcs.length;
  const dir = tmpDir(`ipmi-${driver}`);
  const sb = new Switchboard({ dataDir: dir, inspect: true });
  let started = false;
  let helperPids: number[] = [];
  const udp0 = udp().rcvbufErrors;
  try {
    await sb.start();
    started = true;
    for (let i = 0; i < 20; i++) await sb.nodes(); // warm the routes up before "before"
    await sleep(SETTLE_MS);
    const memory = async (): Promise<Memory> => {
      const rawPss = pssKb([sb.pid]) ?? NaN;
      const heap = (await sb.collectGarbage()).usedSize / 1024;
      await sleep(1000); // V8 returns freed pages after sweeping, which runs concurrently
      return { pss: pssKb([sb.pid]) ?? NaN, uss: ussKb([sb.pid]) ?? NaN, rss: rssKb([sb.pid]), heap, rawPss };
    };
    const none = await memory();

    const params = (b: Bmc) => ({
      host: '127.0.0.1', port: b.port, user: BMC_USER, password: BMC_PASSWORD, cipherSuite: 3, privilege: 'administrator', timeoutMs: 1000, takeOver: false,
    });
    const nodes = bmcs.bmcs.map((b, i) => ({ name: name(i), driver, params: params(b) }));
    const logs = nodes.map((x) => logFile(dir, x.name));
    // Console 1 alone first: what the first console costs once (code loaded and compiled, the
    // shared UDP socket) apart from what each further console adds.
    await sb.api('POST', '/nodes', nodes[0]);
    await sb.waitAllConnected(1, `the first ${driver} console connected`, UP_TIMEOUT_MS, 50);
    await sleep(SETTLE_MS);
    const one = await memory();
    const firstHelpers = new Set(descendants(sb.pid).map((p) => p.pid));

    const cpu0 = runMs([sb.pid]);
    const t0 = process.hrtime.bigint();
    const rest = nodes.slice(1);
    if (rest.length) {
      const res = await sb.api<{ created: number; failed: number; results: unknown[] }>('POST', '/bulk/nodes', { nodes: rest });
      if (res.created !== rest.length) throw new Error(`bulk create: ${res.created} created, ${res.failed} failed: ${JSON.stringify(res.results.slice(0, 3))}`);
    }
    let connected = 0;
    let connectedSeconds = NaN;
    try {
      const last = await sb.waitAllConnected(n, `${n} ${driver} consoles connected`, UP_TIMEOUT_MS, 100);
      connected = last.length;
      connectedSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    } catch (err) {
      // Measure what there is; the report says how many never connected and why.
      log(`ipmi: ${driver}: ${(err as Error).message}\n${sb.warnings.slice(0, 5).join('\n')}`);
      connected = (await sb.nodes()).filter((x) => x.session?.state === 'connected').length;
    }
    const startupDaemonCpuMs = runMs([sb.pid]) - cpu0;
    helperPids = descendants(sb.pid).map((p) => p.pid);
    const startupHelpersCpuMs = runMs(helperPids.filter((pid) => !firstHelpers.has(pid))); // all started after t0
    const up = stateChanges(sb);
    log(`ipmi: ${driver}: ${connected} of ${n} connected in ${fmt(connectedSeconds, 2)} s, daemon CPU ${fmt(startupDaemonCpuMs / 1000, 2)} s`
      + `${helperPids.length ? `, ${helperPids.length} children (${fmt(startupHelpersCpuMs / 1000, 2)} s CPU)` : ''}`);

    await sleep(SETTLE_MS);
    helperPids = descendants(sb.pid).map((p) => p.pid);
    const all = await memory();
    const helpersPssKb = helperPids.length ? pssKb(helperPids) ?? NaN : 0;
    const helpersRssKb = rssKb(helperPids);
    const mb = (k: keyof Memory) => [none, one, all].map((m) => fmt(m[k] / 1024)).join(' → ');
    log(`ipmi: ${driver}: daemon PSS ${mb('pss')} MB (USS ${mb('uss')}) with 0, 1, ${n} consoles; `
      + `${helperPids.length} children ${fmt(helpersPssKb / 1024)} MB PSS`);

    log(`ipmi: ${driver}: idle window ${WINDOW_MS / 1000} s`);
    const idle = await cpuWindow(sb, bmcs, WINDOW_MS);

    log(`ipmi: ${driver}: every console printing a line a second, window ${WINDOW_MS / 1000} s`);
    const stopTicking = startTicking(bmcs.bmcs);
    await sleep(1500);
    const lines0 = countTicks(logs);
    const ticking = await cpuWindow(sb, bmcs, WINDOW_MS);
    const linesLogged = countTicks(logs) - lines0;
    stopTicking();
    await sleep(1500);

    log(`ipmi: ${driver}: throughput, ${fmt(THROUGHPUT_BYTES / MB)} MB through ${nodes[0].name}`);
    const tp = await throughput(sb, bmcs.bmcs[0], logs[0]);
    log(`ipmi: ${driver}: ${fmt(tp.arrived / MB, 2)} MB in ${fmt(tp.seconds, 2)} s = ${fmt(tp.arrived / MB / tp.seconds, 3)} MB/s (${tp.intactLines} of ${tp.lines} lines intact)`);
    await sleep(1000);

    const nonce = randomBytes(6).toString('hex');
    const c0 = Date.now();
    bmcs.bmcs.forEach((b, i) => b.serial.write(`check ${name(i)} ${nonce}\r\n`));
    const pending = new Set(nodes.keys());
    await waitFor('the check line in every log', 15_000, () => {
      for (const i of pending) if (readText(logs[i], Math.max(0, fileSize(logs[i]) - 4096)).includes(`check ${name(i)} ${nonce}`)) pending.delete(i);
      return pending.size === 0;
    }, 100).catch(() => undefined);
    const check = { found: n - pending.size, seconds: (Date.now() - c0) / 1000 };

    const end = stateChanges(sb);
    const memoryEnd = await memory();
    helperPids = descendants(sb.pid).map((p) => p.pid);
    const helpersEnd = helperPids.length;
    const warningSamples = sb.warnings.slice(0, 3);

    const stopped = await sb.stop();
    started = false;
    await sleep(300);
    const left = helperPids.filter((pid) => isAlive(pid));
    if (left.length) {
      log(`ipmi: ${driver}: ${left.length} children still running after the daemon stopped; killing them by PID`);
      await killPids(left);
    }
    return {
      driver, consoles: n, connected, connectedSeconds, startupDaemonCpuMs, startupHelpersCpuMs,
      memory: { none, one, all },
      helpers: helperPids.length, helpersPssKb, helpersRssKb,
      idle, ticking: { ...ticking, linesLogged, linesExpected: Math.round(n * ticking.seconds) },
      throughput: tp, check,
      warningsBeforeUp: up.warnings, stateChangesAfterUp: end.states - up.states, warningsAfterUp: end.warnings - up.warnings, warningSamples,
      memoryEnd, helpersEnd, udpDrops: udp().rcvbufErrors - udp0,
      shutdownMs: stopped.ms, exitCode: stopped.killed ? null : stopped.code, helpersLeft: left.length,
    };
  } finally {
    if (started) await sb.stop();
    const left = helperPids.filter((pid) => isAlive(pid));
    if (left.length) await killPids(left);
    removeDir(dir);
  }
}

export interface IpmiResult {
  bmcs: number;
  bmcStartSeconds: number;
  bmcPssKb: number;
  windowMs: number;
  samples: IpmiSample[];
  failed: { driver: IpmiDriver; error: string }[];
}

export async function runIpmi(): Promise<IpmiResult> {
  const dir = tmpDir('bmcs');
  const farm = new BmcFarm(dir);
  const result: IpmiResult = { bmcs: IPMI_BMCS, bmcStartSeconds: 0, bmcPssKb: 0, windowMs: WINDOW_MS, samples: [], failed: [] };
  try {
    const t0 = Date.now();
    await farm.start(IPMI_BMCS);
    result.bmcStartSeconds = (Date.now() - t0) / 1000;
    result.bmcPssKb = pssKb(farm.pids) ?? NaN;
    log(`ipmi: ${IPMI_BMCS} ipmi_sim BMCs up in ${fmt(result.bmcStartSeconds, 1)} s (${fmt(result.bmcPssKb / 1024)} MB PSS together), serial lines held by the bench`);
    for (const driver of IPMI_DRIVERS) {
      try {
        result.samples.push(await measure(driver, farm));
      } catch (err) {
        const error = (err as Error).message;
        log(`ipmi: ${driver} failed: ${error}`);
        result.failed.push({ driver, error });
      }
      await sleep(1000); // let the BMCs see the last sessions closed
    }
  } finally {
    await farm.stop();
    removeDir(dir);
  }
  return result;
}

const pct = (ms: number, s: number) => (ms / 10) / s;

function cpuCell(w: CpuWindow, helpers: boolean): string {
  const total = pct(w.daemonMs + w.helpersMs, w.seconds);
  return helpers
    ? `${fmt(total, 2)}% (daemon ${fmt(pct(w.daemonMs, w.seconds), 2)}%, ipmitool ${fmt(pct(w.helpersMs, w.seconds), 2)}%)`
    : `${fmt(total, 2)}%`;
}

/** Metric rows, one column per driver: the two side by side. */
export function ipmiTable(r: IpmiResult): string {
  const s = r.samples;
  const row = (metric: string, cell: (x: IpmiSample) => string, target = '') => `| ${metric} | ${s.map(cell).join(' | ')} | ${target} |`;
  const perConsole = (kb: number, x: IpmiSample) => kb / x.consoles;
  /** Per console over all N (the target's measure) and per further console (N vs 1). */
  const delta = (x: IpmiSample, k: keyof Memory) => `${fmt(perConsole(x.memory.all[k] - x.memory.none[k], x))} (${fmt((x.memory.all[k] - x.memory.one[k]) / (x.consoles - 1))})`;
  const lines = [
    `| | ${s.map((x) => `\`${x.driver}\``).join(' | ')} | target |`,
    `|---|${s.map(() => '---').join('|')}|---|`,
    row('consoles connected', (x) => `${x.connected} of ${x.consoles}`),
    row('all connected after (s) (consoles 2..N, one bulk POST)', (x) => fmt(x.connectedSeconds, 2)),
    row('CPU to bring them up (s)', (x) => {
      const s = (ms: number) => fmt(ms / 1000, 2);
      return x.helpers ? `${s(x.startupDaemonCpuMs + x.startupHelpersCpuMs)} (daemon ${s(x.startupDaemonCpuMs)}, ipmitool ${s(x.startupHelpersCpuMs)})` : s(x.startupDaemonCpuMs);
    }),
    row('daemon PSS after a full GC with 0 → 1 → N consoles (MB)', (x) => `${fmt(x.memory.none.pss / 1024)} → ${fmt(x.memory.one.pss / 1024)} → ${fmt(x.memory.all.pss / 1024)}`),
    row('**daemon PSS per console (KB)**: (N − 0) / N, in brackets (N − 1) / (N − 1)', (x) => `**${delta(x, 'pss')}**`, `≤ ${NATIVE_KB_TARGET} KB (native)`),
    row('daemon USS (private) per console (KB), same', (x) => delta(x, 'uss')),
    row('daemon RSS per console (KB), same', (x) => delta(x, 'rss')),
    row('V8 heap in use per console (KB), same', (x) => delta(x, 'heap')),
    row('daemon PSS per console (KB) without the GC, same', (x) => delta(x, 'rawPss')),
    row('ipmitool processes: count, PSS total (MB), per console (KB)', (x) => (x.helpers ? `${x.helpers}, ${fmt(x.helpersPssKb / 1024)}, ${fmt(perConsole(x.helpersPssKb, x))}` : '—')),
    row('**total PSS per console (KB)** (daemon (N − 0) / N + ipmitool)', (x) => `**${fmt(perConsole(x.memory.all.pss - x.memory.none.pss + x.helpersPssKb, x))}**`),
    row(`**CPU idle** (% of a core, ${r.windowMs / 1000} s)`, (x) => `**${cpuCell(x.idle, x.helpers > 0)}**`, `≤ ${IDLE_CPU_TARGET_PCT}% ("near zero")`),
    row(`**CPU, a line/s on every console** (% of a core, ${r.windowMs / 1000} s)`, (x) => `**${cpuCell(x.ticking, x.helpers > 0)}**`),
    row('lines logged / written in that window', (x) => `${x.ticking.linesLogged} / ${x.ticking.linesExpected}`),
    row('ipmi_sim side CPU idle / ticking (not counted)', (x) => `${fmt(pct(x.idle.bmcMs, x.idle.seconds), 2)}% / ${fmt(pct(x.ticking.bmcMs, x.ticking.seconds), 2)}%`),
    row('**SOL throughput, one console, into its log (MB/s)**', (x) => `**${fmt(x.throughput.arrived / MB / x.throughput.seconds, 3)}**${x.throughput.complete ? '' : ' (incomplete)'}`),
    row('… bytes, time, lines intact', (x) => `${fmt(x.throughput.arrived / MB, 2)} MB in ${fmt(x.throughput.seconds, 1)} s, ${x.throughput.intactLines} of ${x.throughput.lines}`),
    row('… UDP datagrams meanwhile (machine); bytes per SOL data packet if each is ACKed alone', (x) => `${x.throughput.datagrams}; ${fmt(x.throughput.arrived / (x.throughput.datagrams / 2), 0)}`),
    row('… CPU meanwhile: % of a core (ms per MB); that BMC\'s ipmi_sim', (x) => {
      const t = x.throughput;
      const ms = t.daemonMs + t.helpersMs;
      const parts = t.helpersMs ? ` (daemon ${fmt(pct(t.daemonMs, t.seconds), 0)}%, ipmitool ${fmt(pct(t.helpersMs, t.seconds), 0)}%)` : '';
      return `${fmt(pct(ms, t.seconds), 0)}%${parts} (${fmt(ms / (t.arrived / MB), 0)}); ${fmt(pct(t.bmcMs, t.seconds), 0)}%`;
    }),
    row('check line on every serial line found in its log', (x) => `${x.check.found} of ${x.consoles} (${fmt(x.check.seconds, 1)} s)`),
    row('console failed+down warnings before all were up (retried attempts)', (x) => String(x.warningsBeforeUp), '0'),
    row('session state changes / console failed+down after all up', (x) => `${x.stateChangesAfterUp} / ${x.warningsAfterUp}`, '0 / 0'),
    row('daemon at the end, after a GC: PSS / USS / V8 heap in use (MB); children', (x) => {
      const mb = (m: Memory) => `${fmt(m.pss / 1024)} / ${fmt(m.uss / 1024)} / ${fmt(m.heap / 1024)}`;
      return `${mb(x.memoryEnd)} (after connecting: ${mb(x.memory.all)}); ${x.helpersEnd}`;
    }),
    row('UDP datagrams dropped, receive buffer full (machine)', (x) => String(x.udpDrops), '0'),
    row('SIGTERM; children left running', (x) => `${x.exitCode === null ? 'killed' : `exit ${x.exitCode}`} in ${fmt(x.shutdownMs / 1000, 2)} s; ${x.helpersLeft}`, '0 left'),
  ];
  return lines.join('\n');
}

export interface IpmiVerdict {
  target: string;
  measured: string;
  met: boolean;
}

export function ipmiVerdicts(r: IpmiResult): IpmiVerdict[] {
  const out: IpmiVerdict[] = [];
  const native = r.samples.find((x) => x.driver === 'ipmi-sol');
  if (native) {
    const m = native.memory;
    const kb = (m.all.pss - m.none.pss) / native.consoles;
    const further = (m.all.pss - m.one.pss) / (native.consoles - 1);
    const uss = (m.all.uss - m.none.uss) / native.consoles;
    out.push({
      target: `≤ ${NATIVE_KB_TARGET} KB daemon memory per native SOL console`,
      measured: `${fmt(kb)} KB PSS (USS ${fmt(uss)} KB) per console at ${native.consoles}; ${fmt(further)} KB PSS per console after the first`,
      met: kb <= NATIVE_KB_TARGET,
    });
  }
  for (const x of r.samples) {
    const p = pct(x.idle.daemonMs + x.idle.helpersMs, x.idle.seconds);
    out.push({ target: `${x.driver}: idle CPU near zero (≤ ${IDLE_CPU_TARGET_PCT}% of a core) with ${x.consoles} consoles`, measured: `${fmt(p, 2)}%`, met: p <= IDLE_CPU_TARGET_PCT });
    out.push({ target: `${x.driver}: a line written on every serial line appears in that node's log`, measured: `${x.check.found} of ${x.consoles}`, met: x.check.found === x.consoles });
  }
  for (const f of r.failed) out.push({ target: `${r.bmcs} ${f.driver} consoles`, measured: f.error.slice(0, 200), met: false });
  return out;
}
