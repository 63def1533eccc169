// N simulated BMCs (OpenIPMI ipmi_sim on loopback) with SOL consoles, through one Switchboard
// daemon per driver in turn:
//   ipmi-sol:     native RMCP+ SOL in the daemon; every console shares one UDP socket.
//   ipmitool-sol: one `ipmitool -I lanplus sol activate` process per console (what conserver,
//                 OBMd and ironic do). Server = the daemon PLUS its ipmitool processes.
// Each BMC's serial line is a TCP socket the bench listens on (ipmi_sim is its client), so the
// bench plays every host: it prints a line a second on each, and pours text into one for throughput.
// Measured per driver: time until all consoles are connected; memory per console (PSS, (after −
// before) / N); CPU over a window at idle and while every console prints a line a second; SOL
// throughput of one console into its log file. The ipmi_sim processes are never counted.
//
//   npm run build && node --import tsx bench/ipmi-sol.ts     (BENCH_IPMI_BMCS=100, BENCH_IPMI_WINDOW_MS=20000)
import dgram from 'node:dgram';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  cleanupAll, descendants, fmt, log, markdownTable, pssKb, removeDir, runDeltaMs, runNsByPid, sleep, start, stopMany, tmpDir, waitFor, type Started,
} from './lib.js';
import { Switchboard } from './peers/switchboard.js';

const BMCS = Number(process.env.BENCH_IPMI_BMCS ?? 100);
const WINDOW_MS = Number(process.env.BENCH_IPMI_WINDOW_MS ?? 20_000);
const THROUGHPUT_BYTES = Number(process.env.BENCH_IPMI_THROUGHPUT_BYTES ?? 2_000_000);
const SETTLE_MS = 3000;
const USER = 'admin';
const PASSWORD = 'password';

interface Bmc {
  port: number;
  serial: net.Server;
  line?: net.Socket;
  proc?: Started;
}

function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  return new Promise((resolve) => s.bind(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  }));
}

/** One ipmi_sim whose SOL serial line connects to a server of ours (listening before it starts). */
async function startBmc(dir: string): Promise<Bmc> {
  const bmc: Bmc = { port: await freeUdpPort(), serial: net.createServer() };
  bmc.serial.on('connection', (s) => {
    bmc.line?.destroy();
    bmc.line = s;
    s.on('data', () => undefined); // keystrokes: drained, not needed
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => bmc.serial.listen(0, '127.0.0.1', resolve));
  const serialPort = (bmc.serial.address() as net.AddressInfo).port;
  const d = path.join(dir, `bmc-${bmc.port}`);
  mkdirSync(path.join(d, 'persist'), { recursive: true });
  writeFileSync(path.join(d, 'lan.conf'), `name "bmc${bmc.port}"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 ${bmc.port}
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa12345678900${bmc.port.toString(16).padStart(4, '0')}
  endlan
  user 2 true "${USER}" "${PASSWORD}" admin 10 none md2 md5 straight
  sol "tcp:127.0.0.1:${serialPort}" 115200
`);
  writeFileSync(path.join(d, 'bmc.emu'), 'mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n');
  bmc.proc = start('ipmi_sim', ['-n', '-c', path.join(d, 'lan.conf'), '-f', path.join(d, 'bmc.emu'), '-s', path.join(d, 'persist')]);
  return bmc;
}

interface Sample {
  driver: string;
  consoles: number;
  connectedSeconds: number;
  pssBeforeKb: number;
  pssAfterKb: number;
  pssPerConsoleKb: number;
  processes: number;
  idleCpuPct: number;
  tickingCpuPct: number;
  linesSeen: boolean;
  throughputMBs: number;
}

function serverPids(sb: Switchboard): number[] {
  return [sb.pid, ...descendants(sb.pid).map((p) => p.pid)];
}

async function cpuPct(sb: Switchboard, ms: number): Promise<number> {
  const pids = serverPids(sb);
  const before = runNsByPid(pids);
  await sleep(ms);
  return (runDeltaMs(before, runNsByPid(pids)) / ms) * 100;
}

function logSize(dataDir: string, node: string): number {
  try {
    return statSync(path.join(dataDir, 'logs', `${node}.log`)).size;
  } catch {
    return 0;
  }
}

async function measure(driver: 'ipmi-sol' | 'ipmitool-sol', bmcs: Bmc[]): Promise<Sample> {
  const dataDir = tmpDir(`sb-${driver}`);
  const sb = new Switchboard({ dataDir });
  await sb.start();
  try {
    await sleep(SETTLE_MS);
    const pssBeforeKb = pssKb(serverPids(sb)) ?? NaN;
    const t0 = Date.now();
    const nodes = bmcs.map((b, i) => ({
      name: `bmc${String(i).padStart(4, '0')}`,
      driver,
      params: { host: '127.0.0.1', port: b.port, user: USER, password: PASSWORD, timeoutMs: 1000 },
    }));
    await sb.api('POST', '/bulk/nodes', { nodes });
    await sb.waitAllConnected(bmcs.length, `${bmcs.length} ${driver} consoles connected`, 180_000, 250);
    const connectedSeconds = (Date.now() - t0) / 1000;
    await sleep(SETTLE_MS);
    const pids = serverPids(sb);
    const pssAfterKb = pssKb(pids) ?? NaN;
    log(`${driver}: ${bmcs.length} connected in ${fmt(connectedSeconds)} s; PSS ${pssBeforeKb} → ${pssAfterKb} kB over ${pids.length} processes`);

    const idleCpuPct = await cpuPct(sb, WINDOW_MS);
    let tick = 0;
    const ticker = setInterval(() => {
      tick++;
      for (const b of bmcs) b.line?.write(`tick ${tick} from the serial line\r\n`);
    }, 1000);
    const tickingCpuPct = await cpuPct(sb, WINDOW_MS);
    clearInterval(ticker);
    const linesSeen = await waitFor('the last tick in every log', 10_000, () => nodes.every((n) => logSize(dataDir, n.name) > 0), 200).then(() => true, () => false);

    // Throughput: pour text into one serial line as fast as ipmi_sim takes it; time until the log has it.
    const first = nodes[0]!.name;
    const line = bmcs[0]!.line!;
    const base = logSize(dataDir, first);
    const chunk = Buffer.from(`${'x'.repeat(78)}\r\n`.repeat(64));
    const t1 = Date.now();
    for (let sent = 0; sent < THROUGHPUT_BYTES; sent += chunk.length) {
      if (!line.write(chunk)) await new Promise((resolve) => line.once('drain', resolve));
    }
    await waitFor(`${THROUGHPUT_BYTES} bytes in ${first}.log`, 300_000, () => logSize(dataDir, first) - base >= THROUGHPUT_BYTES * 0.99, 50);
    const throughputMBs = THROUGHPUT_BYTES / 1e6 / ((Date.now() - t1) / 1000);

    return {
      driver, consoles: bmcs.length, connectedSeconds, pssBeforeKb, pssAfterKb,
      pssPerConsoleKb: (pssAfterKb - pssBeforeKb) / bmcs.length, processes: pids.length,
      idleCpuPct, tickingCpuPct, linesSeen, throughputMBs,
    };
  } finally {
    await sb.stop();
    removeDir(dataDir);
  }
}

export function ipmiTable(samples: Sample[]): string {
  return markdownTable(
    ['driver', 'consoles', 'all connected (s)', 'server PSS before → after (kB)', 'PSS per console (KB)', 'server processes', 'CPU idle (% of a core)', `CPU, a line/s on each (% of a core)`, 'ticks in every log', 'one console SOL throughput (MB/s)'],
    samples.map((s) => [
      s.driver, String(s.consoles), fmt(s.connectedSeconds), `${s.pssBeforeKb} → ${s.pssAfterKb}`, fmt(s.pssPerConsoleKb), String(s.processes),
      fmt(s.idleCpuPct, 2), fmt(s.tickingCpuPct, 2), s.linesSeen ? 'yes' : 'NO', fmt(s.throughputMBs, 3),
    ]),
  );
}

async function main(): Promise<void> {
  const dir = tmpDir('bmcs');
  const bmcs: Bmc[] = [];
  try {
    log(`starting ${BMCS} ipmi_sim BMCs`);
    for (let i = 0; i < BMCS; i++) bmcs.push(await startBmc(dir));
    await waitFor('every ipmi_sim to connect its serial line', 60_000, () => bmcs.every((b) => b.line), 100);
    const samples = [await measure('ipmi-sol', bmcs), await measure('ipmitool-sol', bmcs)];
    process.stdout.write(`\n${ipmiTable(samples)}\n\nTargets: ≤ 16 KB daemon PSS per native SOL console; idle CPU near zero with ${BMCS} consoles.\n`);
  } finally {
    for (const b of bmcs) {
      b.line?.destroy();
      b.serial.close();
    }
    await stopMany(bmcs.flatMap((b) => (b.proc ? [b.proc] : [])));
    await cleanupAll();
    removeDir(dir);
  }
}

main().catch(async (err: Error) => {
  process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`);
  await cleanupAll();
  process.exitCode = 1;
});
