// Switchboard vs conserver, side by side on this machine.
//   npm run bench                              # build, then every part but ipmi
//   node --import tsx bench/run.ts fanout      # one part (or several): fanout, echo, many, ssh, ipmi
//   npm run bench -- ipmi                      # build, then the ipmi part (not in the default set)
// Prints a markdown report on stdout (progress on stderr) and writes it, with the raw numbers as
// JSON, to bench/out/. Environment knobs: BENCH_REPS (fan-out repetitions, default 3),
// BENCH_WINDOW_MS (fan-out window, 5000), BENCH_ECHO_SAMPLES (2000), BENCH_CONSOLES (1000),
// BENCH_SB_NODE_ARGS (extra node flags for the daemon, e.g. --cpu-prof --cpu-prof-dir=DIR),
// BENCH_SSH_CONSOLES (ssh console counts, default 200,500), BENCH_SSH_WINDOW_MS (10000),
// BENCH_SSH_OPTS (extra ssh client options for conserver's consoles), BENCH_IPMI_BMCS (simulated
// BMCs, default 100), BENCH_IPMI_WINDOW_MS (ipmi CPU windows, 20000), BENCH_IPMI_THROUGHPUT_MB (5).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runEcho, echoTable, type EchoResult } from './echo-latency.js';
import { runFanout, fanoutTable, FANOUT_CLIENTS, type FanoutResult } from './fanout.js';
import { ipmiTable, ipmiVerdicts, runIpmi, type IpmiResult } from './ipmi.js';
import { cleanupAll, fmt, log, machineBusyPct, markdownTable } from './lib.js';
import { runMany, manyTable, type ManyResult } from './many-consoles.js';
import { IPMI_SIM, IPMITOOL } from './peers/bmc.js';
import { CONSERVER, CONSOLE, Conserver } from './peers/conserver.js';
import { SSH, SSHD } from './peers/sshd.js';
import { REPO } from './peers/switchboard.js';
import { runSsh, sshTable, type SshResult } from './ssh-consoles.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PARTS = ['fanout', 'echo', 'many', 'ssh', 'ipmi'] as const;
type Part = (typeof PARTS)[number];
/** What a bare `npm run bench` runs: ipmi (about 2¼ more minutes, needs openipmi) only when asked for by name. */
const DEFAULT_PARTS: Part[] = ['fanout', 'echo', 'many', 'ssh'];

/** conserver's figures from ../shared/tools/conserver-notes.md (ms CPU per MB at 1 / 10 / 50 clients). */
/** Above this whole-machine busy % with nothing of ours running, the run is flagged as disturbed. */
const QUIET_PCT = 15;

const NOTES_CS_CPU_PER_MB: Record<number, number> = { 1: 8.7, 10: 2.0, 50: 1.4 };

function parseParts(argv: string[]): Part[] {
  if (argv.length === 0) return [...DEFAULT_PARTS];
  for (const a of argv) {
    if (!(PARTS as readonly string[]).includes(a)) {
      throw new Error(`unknown part '${a}'; usage: node --import tsx bench/run.ts [${PARTS.join('|')} ...]`);
    }
  }
  return argv as Part[];
}

function preflight(parts: Part[]): void {
  const missing: string[] = [];
  // Every part but ipmi compares with conserver.
  if (parts.some((p) => p !== 'ipmi')) for (const bin of [CONSERVER, CONSOLE, '/usr/bin/socat']) if (!existsSync(bin)) missing.push(bin);
  if (parts.includes('ssh')) for (const bin of [SSHD, SSH, '/usr/bin/perl']) if (!existsSync(bin)) missing.push(bin);
  if (parts.includes('ipmi')) for (const bin of [IPMI_SIM, IPMITOOL]) if (!existsSync(bin)) missing.push(bin);
  if (missing.length) throw new Error(`missing ${missing.join(', ')}: apt-get install -y conserver-server conserver-client socat openssh-server openssh-client openipmi ipmitool`);
  if (parts.includes('ssh') && process.getuid?.() !== 0) throw new Error('the ssh part needs root (it creates the test users and runs sshd)');
  if (!existsSync(path.join(REPO, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is not built: run `npm run build` (npm run bench does)');
}

function firstLine(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 }).toString().split('\n')[0].trim();
  } catch {
    return 'unknown';
  }
}

/** `ssh -V` prints its version on stderr. */
function sshVersion(): string {
  const r = spawnSync(SSH, ['-V'], { encoding: 'utf8', timeout: 5000 });
  return `${r.stderr ?? ''}${r.stdout ?? ''}`.split('\n')[0].trim() || 'unknown';
}

async function machine(): Promise<Record<string, string>> {
  const cpus = os.cpus();
  return {
    nproc: String(os.availableParallelism()),
    cpu: cpus[0]?.model ?? 'unknown',
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    conserver: await Conserver.version(),
    openssh: sshVersion(),
    socat: firstLine('/usr/bin/socat', ['-V']).replace(/^socat by.*$/, '') || firstLine('/bin/sh', ['-c', "socat -V | grep 'socat version'"]),
    switchboard: firstLine('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD']) + (firstLine('git', ['-C', REPO, 'status', '--porcelain', 'src']) ? ' (src/ has uncommitted changes)' : ''),
    date: new Date().toISOString(),
  };
}

interface Verdict {
  target: string;
  measured: string;
  met: boolean;
}

function verdicts(fanout?: FanoutResult, echo?: EchoResult, many?: ManyResult, ssh?: SshResult, ipmi?: IpmiResult): Verdict[] {
  const out: Verdict[] = [];
  if (fanout) {
    for (const n of FANOUT_CLIENTS) {
      const sb = fanout.summary.find((s) => s.server === 'switchboard' && s.clients === n)
        ?? fanout.summary.find((s) => s.server.startsWith('switchboard') && s.clients === n);
      const cs = fanout.summary.find((s) => s.server === 'conserver' && s.clients === n);
      if (!sb || !cs) continue;
      out.push({
        target: `fan-out ${n} client${n > 1 ? 's' : ''}: ${sb.server} CPU per MB ≤ ½ conserver's`,
        measured: `${fmt(sb.cpuMsPerMB, 2)} vs conserver ${fmt(cs.cpuMsPerMB, 2)} ms/MB this run (limit ${fmt(cs.cpuMsPerMB / 2, 2)}); `
          + `notes' conserver ${NOTES_CS_CPU_PER_MB[n]} → limit ${fmt(NOTES_CS_CPU_PER_MB[n] / 2, 2)}`,
        met: sb.cpuMsPerMB <= cs.cpuMsPerMB / 2,
      });
    }
  }
  if (echo) {
    const tcp = echo.samples.find((s) => s.path.startsWith('switchboard (TCP'));
    const ws = echo.samples.find((s) => s.path.startsWith('switchboard (WebSocket'));
    for (const s of [tcp, ws]) {
      if (!s) continue;
      const d50 = s.p50us - echo.bare.p50us;
      const d99 = s.p99us - echo.bare.p99us;
      out.push({
        target: `echo, ${s.path.replace('switchboard ', '')}: ≤ +60 µs p50 and ≤ +150 µs p99 over bare pty`,
        measured: `+${fmt(d50, 0)} µs p50, ${d99 >= 0 ? '+' : ''}${fmt(d99, 0)} µs p99 (bare ${fmt(echo.bare.p50us, 0)} / ${fmt(echo.bare.p99us, 0)} µs)`,
        met: d50 <= 60 && d99 <= 150,
      });
    }
  }
  if (many) {
    const sb = many.samples.find((s) => s.server === 'switchboard');
    if (sb) {
      out.push({ target: `${sb.consoles} consoles up in ≤ 1 s`, measured: `${fmt(sb.upSeconds, 2)} s`, met: sb.upSeconds <= 1 });
      out.push({ target: '≤ 16 KB server RSS per console', measured: `${fmt(sb.rssPerConsoleKb, 1)} KB (PSS ${fmt(sb.pssPerConsoleKb, 1)} KB)`, met: sb.rssPerConsoleKb <= 16 });
    }
  }
  if (ssh) {
    for (const sb of ssh.samples.filter((s) => s.server === 'switchboard')) {
      const cs = ssh.samples.find((s) => s.server !== 'switchboard' && s.consoles === sb.consoles);
      if (!cs) continue;
      out.push({
        target: `${sb.consoles} ssh consoles: switchboard ≥ 5x less RSS per console than conserver + ssh`,
        measured: `${fmt(sb.rssPerConsoleKb, 1)} vs ${fmt(cs.rssPerConsoleKb, 1)} KB (${fmt(cs.rssPerConsoleKb / sb.rssPerConsoleKb, 1)}x less)`,
        met: sb.rssPerConsoleKb * 5 <= cs.rssPerConsoleKb,
      });
      if (sb.pssPerConsoleKb !== undefined && cs.pssPerConsoleKb !== undefined) {
        out.push({
          target: `${sb.consoles} ssh consoles: switchboard ≥ 5x less PSS per console than conserver + ssh`,
          measured: `${fmt(sb.pssPerConsoleKb, 1)} vs ${fmt(cs.pssPerConsoleKb, 1)} KB (${fmt(cs.pssPerConsoleKb / sb.pssPerConsoleKb, 1)}x less)`,
          met: sb.pssPerConsoleKb * 5 <= cs.pssPerConsoleKb,
        });
      }
    }
    for (const f of ssh.failed) out.push({ target: `${f.consoles} ssh consoles through ${f.server}`, measured: f.error.slice(0, 200), met: false });
  }
  if (ipmi) out.push(...ipmiVerdicts(ipmi));
  return out;
}

async function main(): Promise<void> {
  const parts = parseParts(process.argv.slice(2));
  preflight(parts);
  const info = await machine();
  if (parts.includes('ipmi')) {
    info.ipmitool = firstLine(IPMITOOL, ['-V']);
    info.ipmi_sim = firstLine('dpkg-query', ['-W', '-f', '${Package} ${Version}', 'openipmi']); // ipmi_sim --version exits 1
  }
  const t0 = Date.now();
  let fanout: FanoutResult | undefined;
  let echo: EchoResult | undefined;
  let many: ManyResult | undefined;
  let ssh: SshResult | undefined;
  let ipmi: IpmiResult | undefined;
  /** How busy the machine was (with nothing of ours running) just before each part. */
  const quiet: Record<string, number> = {};
  const checkQuiet = async (part: string) => {
    quiet[part] = await machineBusyPct(1000);
    if (quiet[part] > QUIET_PCT) log(`warning: the machine is ${fmt(quiet[part], 0)}% busy before ${part} with nothing of the bench running; numbers will be disturbed`);
  };
  try {
    if (parts.includes('fanout')) {
      await checkQuiet('fanout');
      log('fan-out: one `yes` console, 1/10/50 read-only clients');
      fanout = await runFanout();
    }
    if (parts.includes('echo')) {
      await checkQuiet('echo');
      log('echo: keystroke round trips');
      echo = await runEcho();
    }
    if (parts.includes('many')) {
      await checkQuiet('many');
      log('many: 1,000 quiet consoles');
      many = await runMany();
    }
    if (parts.includes('ssh')) {
      await checkQuiet('ssh');
      log('ssh: concurrent ssh consoles against a local sshd');
      ssh = await runSsh();
    }
    if (parts.includes('ipmi')) {
      await checkQuiet('ipmi');
      log('ipmi: SOL consoles of simulated BMCs, native ipmi-sol vs ipmitool-sol');
      ipmi = await runIpmi();
    }
  } finally {
    await cleanupAll();
  }

  const md: string[] = [];
  md.push('# Switchboard vs conserver: benchmark run', '');
  md.push(`Command: \`node --import tsx bench/run.ts${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}\` (took ${Math.round((Date.now() - t0) / 1000)} s)`, '');
  info['busy before each part'] = Object.entries(quiet).map(([k, v]) => `${k} ${fmt(v, 0)}%`).join(', ');
  md.push(markdownTable(['machine', ''], Object.entries(info).map(([k, v]) => [k, v])), '');
  const noisy = Object.entries(quiet).filter(([, v]) => v > QUIET_PCT);
  if (noisy.length) {
    md.push(`**Warning:** other work was running on the machine (${noisy.map(([k, v]) => `${fmt(v, 0)}% CPU before ${k}`).join(', ')}); these numbers are disturbed.`, '');
  }
  if (fanout) {
    md.push(`## Fan-out: one \`yes\` console, N read-only clients (median of ${fanout.reps}, ${fanout.windowMs / 1000} s windows)`, '');
    const clientKinds = [...new Map(fanout.summary.map((x) => [x.server, x.client])).entries()].map(([srv, c]) => `${srv}: ${c}`).join('; ');
    md.push(`Clients (${clientKinds}) write to /dev/null; bytes counted from /proc/PID/io wchar. `
      + 'Server CPU = utime+stime of conserver master + helpers / the Switchboard node process; never `yes` or the clients. MB = 10^6 bytes. '
      + 'Console logs on tmpfs (/dev/shm); Switchboard log rotation set beyond the run (conserver does not rotate either). '
      + '"bare pty" = `yes` in a pty read by socat, no server: the ceiling of this machine.', '');
    md.push(fanoutTable(fanout), '');
  }
  if (echo) {
    md.push('## Keystroke echo round trip (one byte at a time, bench/echo.py in raw mode)', '');
    md.push(echoTable(echo), '');
  }
  if (many) {
    md.push(`## ${many.samples[0]?.consoles ?? ''} quiet consoles (\`sleep 100000\` in a pty)`, '');
    md.push('Switchboard: from POST /api/v1/bulk/nodes until GET /api/v1/nodes shows all connected. conserver (-m 256): from starting the daemon until `console -u` shows all up. '
      + 'RSS/PSS of the server processes only. Left behind: recorded console PIDs still running after SIGTERM (then killed by PID).', '');
    md.push(manyTable(many), '');
    for (const s of many.samples) if (s.note) md.push(`${s.server}: ${s.note}`, '');
  }
  if (ssh) {
    md.push('## SSH consoles (one local OpenSSH sshd, every session printing a line a second)', '');
    md.push('Switchboard: N nodes with driver `ssh` (in-process ssh2, host key pinned), one POST /api/v1/bulk/nodes; server = the daemon process. '
      + `conserver (-m 256): N exec consoles \`${ssh.sshCommand}\`; server = conserver master + helpers PLUS the ssh clients. `
      + '"All connected": until the server reports every console up (Switchboard: session connected; conserver: `console -u` up, which only means ssh was started). '
      + '"All printing": until every console log holds a line from the session. Memory per console = (after − before) / N, measured after the CPU window; '
      + 'conserver\'s "before" is an instance with 1 ssh console, so it divides by N − 1. '
      + 'CPU is read from /proc/PID/task/*/schedstat, every thread (exact run time): this kernel samples utime/stime at the tick, which misses the short timer-aligned bursts of hundreds of mostly idle processes. '
      + `Every session runs \`${ssh.tickCommand}\` (sshd ForceCommand); the sshd side is the same for both and is not counted.`, '');
    md.push(sshTable(ssh), '');
    for (const s of ssh.samples) if (s.note) md.push(`${s.server}, ${s.consoles}: ${s.note}`, '');
    for (const f of ssh.failed) md.push(`${f.server} with ${f.consoles} consoles failed: ${f.error}`, '');
  }
  if (ipmi) {
    md.push(`## IPMI Serial over LAN: ${ipmi.bmcs} simulated BMCs (ipmi_sim), native \`ipmi-sol\` vs \`ipmitool-sol\``, '');
    md.push(`${ipmi.bmcs} OpenIPMI ipmi_sim processes on loopback (up in ${fmt(ipmi.bmcStartSeconds, 1)} s, ${fmt(ipmi.bmcPssKb / 1024, 1)} MB PSS together, never counted), `
      + 'each with an SOL serial line held by the bench (ipmi_sim is the TCP client of `sol "tcp:…"`), so the bench writes what every host prints. '
      + 'One daemon per driver in turn, on the same BMCs; params cipherSuite 3, administrator, timeoutMs 1000, takeOver false. '
      + 'Console 1 is created alone (POST /api/v1/nodes), then consoles 2..N with one POST /api/v1/bulk/nodes, timed until GET /api/v1/nodes shows every session connected. '
      + 'Memory: the daemon is started with the V8 inspector on, and every reading follows two full GCs (HeapProfiler.collectGarbage) and 1 s; '
      + 'per console = (with N consoles − the same daemon with 0 nodes) / N, in brackets (N − 1 console) / (N − 1) without the first console\'s one-time cost; '
      + 'for ipmitool-sol plus the ipmitool processes\' PSS / N. CPU = daemon + its children, every thread, from /proc/PID/task/*/schedstat. '
      + 'Ticking: the bench writes one line a second on every serial line (staggered over the second). Throughput: text poured into one serial line as fast as ipmi_sim reads it '
      + '(without a history buffer ipmi_sim stops reading while its 16 KB SOL buffer waits for ACKs, so nothing is dropped), timed until an end marker is in the node\'s log file (tmpfs).', '');
    md.push(ipmiTable(ipmi), '');
    for (const x of ipmi.samples) if (x.warningSamples.length) md.push(`${x.driver}: first daemon warnings: \`${x.warningSamples.join('` `')}\``, '');
    for (const f of ipmi.failed) md.push(`${f.driver} failed: ${f.error}`, '');
  }
  const v = verdicts(fanout, echo, many, ssh, ipmi);
  if (v.length) {
    md.push('## Targets', '');
    md.push(markdownTable(['target', 'measured', 'verdict'], v.map((x) => [x.target, x.measured, x.met ? 'met' : '**not met**'])), '');
  }
  const report = md.join('\n');
  process.stdout.write(`${report}\n`);

  const outDir = path.join(HERE, 'out');
  mkdirSync(outDir, { recursive: true });
  const stamp = info.date.replace(/[:.]/g, '-');
  writeFileSync(path.join(outDir, `results-${stamp}.md`), `${report}\n`);
  writeFileSync(path.join(outDir, 'latest.md'), `${report}\n`);
  writeFileSync(path.join(outDir, `results-${stamp}.json`), `${JSON.stringify({ machine: info, parts, fanout, echo, many, ssh, ipmi, targets: v }, null, 2)}\n`);
  log(`written to ${path.relative(REPO, outDir)}/results-${stamp}.md (and latest.md, .json)`);
}

let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log(`${sig}: stopping everything the bench started`);
    void cleanupAll().finally(() => process.exit(130));
  });
}

main().then(
  () => process.exit(0),
  async (err: Error) => {
    await cleanupAll();
    process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
