// Keystroke echo round trip: one byte written, time until it comes back, one at a time.
// The console program is bench/echo.py (its pty in raw mode, echoes every byte), so the echo is the
// program's and not the kernel's line discipline.
//   bare pty     node-pty spawns echo.py directly
//   switchboard  TCP attach (rw) and WebSocket attach (rw) to a `cmd` node running echo.py
//   conserver    `console -a` (rw) under a node-pty, to an exec console running echo.py
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as pty from 'node-pty';
import WebSocket from 'ws';
import { adoptOrphan, fmt, log, releaseOrphan, signed, start, stop, markdownTable, percentile, removeDir, sleep, tmpDir, waitFor, withTimeout } from './lib.js';
import { CONSOLE, Conserver } from './peers/conserver.js';
import { Switchboard } from './peers/switchboard.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ECHO_PY = path.join(HERE, 'echo.py');
const SAMPLES = Number(process.env.BENCH_ECHO_SAMPLES ?? 2000);
/** Round trips before measuring, per path: a freshly started Node.js daemon is still compiling its hot path. */
const WARMUP_MS = Number(process.env.BENCH_ECHO_WARMUP_MS ?? 3000);
const ROUNDS = 4;
const SAMPLE_TIMEOUT_MS = 2000;

/** A real python3 binary (not a pyenv shim script, whose start-up runs a shell). */
export function python(): string {
  for (const p of ['/usr/bin/python3', '/bin/python3']) if (existsSync(p)) return p;
  return 'python3';
}

export interface EchoSample {
  path: string;
  samples: number;
  p50us: number;
  p90us: number;
  p99us: number;
  maxUs: number;
  meanUs: number;
}

/**
 * Measures round trips over any byte transport. `send` writes one byte; `feed` must be called with
 * everything that comes back. Bytes are printable letters (never the Ctrl-E escape).
 */
class RoundTrips {
  private waiting?: { byte: number; resolve: (t: bigint) => void };
  readonly times: number[] = [];

  constructor(readonly label: string, private readonly send: (b: Buffer) => void) {}

  feed(data: Buffer | string): void {
    const w = this.waiting;
    if (!w) return;
    const has = typeof data === 'string' ? data.includes(String.fromCharCode(w.byte)) : data.includes(w.byte);
    if (has) {
      this.waiting = undefined;
      w.resolve(process.hrtime.bigint());
    }
  }

  /** Unmeasured round trips for `ms`. */
  async warmUp(ms: number): Promise<void> {
    const end = Date.now() + ms;
    while (Date.now() < end) await this.run(50, 0, false);
  }

  /** `n` measured round trips after `warmup` unmeasured ones. */
  async run(n: number, warmup: number, record = true): Promise<void> {
    for (let i = 0; i < warmup + n; i++) {
      const byte = 0x61 + (i % 26);
      let timer: NodeJS.Timeout | undefined;
      const back = new Promise<bigint>((resolve, reject) => {
        this.waiting = { byte, resolve };
        timer = setTimeout(() => reject(new Error(`${this.label}: no echo within ${SAMPLE_TIMEOUT_MS} ms (sample ${i})`)), SAMPLE_TIMEOUT_MS);
      });
      const t0 = process.hrtime.bigint();
      this.send(Buffer.from([byte]));
      const t1 = await back.finally(() => clearTimeout(timer));
      if (record && i >= warmup) this.times.push(Number(t1 - t0) / 1000);
    }
  }

  result(): EchoSample {
    const times = [...this.times].sort((a, b) => a - b);
    return {
      path: this.label,
      samples: times.length,
      p50us: percentile(times, 50),
      p90us: percentile(times, 90),
      p99us: percentile(times, 99),
      maxUs: times[times.length - 1],
      meanUs: times.reduce((a, b) => a + b, 0) / times.length,
    };
  }
}

function spawnPty(file: string, args: string[]): pty.IPty {
  const p = pty.spawn(file, args, {
    name: 'xterm-256color',
    cols: 80,
    rows: 24,
    cwd: HERE,
    env: { ...process.env, TERM: 'xterm-256color' } as Record<string, string>,
  });
  adoptOrphan(p.pid); // killed by cleanupAll if the bench is interrupted
  return p;
}

async function killPty(p: pty.IPty): Promise<void> {
  const exited = new Promise<void>((resolve) => p.onExit(() => resolve()));
  try {
    process.kill(p.pid, 'SIGTERM');
  } catch {
    releaseOrphan(p.pid);
    return;
  }
  await withTimeout(exited, 5000, `pty child ${p.pid} to exit`).catch(() => {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone
    }
  });
  releaseOrphan(p.pid);
}

interface EchoPath {
  rt: RoundTrips;
  close(): Promise<void>;
}

async function barePty(): Promise<EchoPath> {
  const p = spawnPty(python(), [ECHO_PY]);
  let seen = '';
  const rt = new RoundTrips('bare pty (node-pty, echo.py)', (b) => p.write(b.toString('latin1')));
  p.onData((d) => {
    seen += d;
    rt.feed(d);
  });
  try {
    await waitFor('echo.py READY on the bare pty', 10_000, () => seen.includes('READY'));
  } catch (err) {
    await killPty(p);
    throw err;
  }
  return { rt, close: () => killPty(p) };
}

/** Two nodes running echo.py: one for the TCP client, one for the WebSocket client. */
async function switchboardPaths(): Promise<EchoPath[]> {
  const dir = tmpDir('echo-sb');
  const sb = new Switchboard({ dataDir: dir });
  const closers: (() => Promise<void> | void)[] = [
    async () => {
      try {
        const r = await sb.stop();
        if (r.code !== 0) log(`switchboard exited with ${r.code} after the echo bench`);
      } finally {
        removeDir(dir);
      }
    },
  ];
  const closeAll = async () => {
    for (const c of closers.reverse()) await c();
  };
  try {
    await sb.start();
    await sb.createNode('e1', [python(), ECHO_PY]);
    await sb.createNode('e2', [python(), ECHO_PY]);
    await sb.waitConnected('e1');
    await sb.waitConnected('e2');
    await sleep(300); // READY goes to the log; raw mode is set

    const sock = await sb.attachTcp('e1', 'rw');
    closers.push(() => void sock.destroy());
    const tcp = new RoundTrips('switchboard (TCP attach, rw)', (b) => sock.write(b));
    sock.on('data', (d: Buffer) => tcp.feed(d));
    sock.resume();

    const url = `${sb.http.replace(/^http/, 'ws')}/api/v1/nodes/e2/console?mode=rw&replay=false`;
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${sb.token}` } });
    closers.push(() => ws.terminate());
    await withTimeout(new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    }), 10_000, 'WebSocket attach');
    const wsrt = new RoundTrips('switchboard (WebSocket, rw)', (b) => ws.send(b, { binary: true }));
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) wsrt.feed(data);
    });
    await sleep(300); // attach notices
    let closed = false;
    const once = async () => {
      if (!closed) await closeAll();
      closed = true;
    };
    return [{ rt: tcp, close: once }, { rt: wsrt, close: once }];
  } catch (err) {
    await closeAll();
    throw err;
  }
}

async function conserverPath(): Promise<EchoPath> {
  const dir = tmpDir('echo-cs');
  const cs = new Conserver({ dir, consoles: [{ name: 'e1', exec: `${python()} ${ECHO_PY}` }] });
  let client: pty.IPty | undefined;
  const close = async () => {
    if (client) await killPty(client);
    try {
      await cs.stop();
    } finally {
      removeDir(dir);
    }
  };
  try {
    await cs.start();
    await waitFor('conserver console e1 up', 10_000, async () => (await cs.status()).get('e1') === 'up', 50);
    await sleep(300);
    const c = spawnPty(CONSOLE, cs.clientArgs('-a', 'e1'));
    client = c;
    let seen = '';
    const rt = new RoundTrips('conserver (console -a under a pty, rw)', (b) => c.write(b.toString('latin1')));
    c.onData((d) => {
      seen += d;
      rt.feed(d);
    });
    await waitFor('console -a banner', 10_000, () => /help\]|attached/.test(seen));
    await sleep(300);
    return { rt, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The reference: bench/relay.ts (node-pty + one TCP socket, nothing else) in its own process. */
async function relayPath(): Promise<EchoPath> {
  const relay = start(process.execPath, ['--import', 'tsx', path.join(HERE, 'relay.ts'), python(), ECHO_PY], {
    cwd: path.dirname(HERE), stdio: ['ignore', 'pipe', 'inherit'],
  });
  let sock: net.Socket | undefined;
  const close = async () => {
    sock?.destroy();
    await stop(relay);
  };
  try {
    const port = await withTimeout(new Promise<number>((resolve, reject) => {
      relay.proc.stdout?.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      void relay.exited.then(() => reject(new Error('bench/relay.ts exited at start')));
    }), 20_000, 'bench/relay.ts to listen');
    await sleep(300);
    const s = net.connect({ host: '127.0.0.1', port });
    sock = s;
    s.setNoDelay(true);
    await withTimeout(new Promise<void>((resolve, reject) => {
      s.once('connect', () => resolve());
      s.once('error', reject);
    }), 5000, 'connect to bench/relay.ts');
    const rt = new RoundTrips('reference: minimal Node relay (node-pty + TCP, bench/relay.ts)', (b) => s.write(b));
    s.on('data', (d: Buffer) => rt.feed(d));
    return { rt, close };
  } catch (err) {
    await close();
    throw err;
  }
}

export interface EchoResult {
  samples: EchoSample[];
  bare: EchoSample;
}

export async function runEcho(): Promise<EchoResult> {
  const paths: EchoPath[] = [];
  try {
    paths.push(await barePty());
    paths.push(...(await switchboardPaths()));
    paths.push(await conserverPath());
    paths.push(await relayPath());
    for (const p of paths) await p.rt.warmUp(WARMUP_MS);
    // Interleaved rounds, so a burst of background noise does not land on one path only.
    const per = Math.ceil(SAMPLES / ROUNDS);
    for (let round = 0; round < ROUNDS; round++) {
      for (const p of paths) await p.rt.run(per, 20);
    }
  } finally {
    for (const p of paths) await p.close();
  }
  const samples = paths.map((p) => p.rt.result());
  for (const s of samples) log(`echo: ${s.path}: p50 ${fmt(s.p50us, 0)} µs, p99 ${fmt(s.p99us, 0)} µs (${s.samples} samples)`);
  return { bare: samples[0], samples };
}

export function echoTable(r: EchoResult): string {
  const rows = r.samples.map((s) => [
    s.path, String(s.samples), fmt(s.p50us, 0), fmt(s.p90us, 0), fmt(s.p99us, 0), fmt(s.maxUs, 0), fmt(s.meanUs, 0),
    s === r.bare ? '—' : signed(s.p50us - r.bare.p50us), s === r.bare ? '—' : signed(s.p99us - r.bare.p99us),
  ]);
  return markdownTable(['path', 'samples', 'p50 µs', 'p90 µs', 'p99 µs', 'max µs', 'mean µs', 'p50 over bare pty', 'p99 over bare pty'], rows);
}
