// Real peers for the telnet and tcp drivers, on free loopback ports, stopped by PID:
//  - a "serial machine": a shell on a pty (socat), the pty standing in for the machine's serial port;
//  - ser2net serving such ptys over telnet and raw TCP, as it serves real serial ports;
//  - socat serving a shell on plain TCP;
//  - a blackhole: a port that never answers a connect (for connect timeouts).
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { tempDir } from './daemon.js';
import { spawnTracked, stopProcess } from './processes.js';
import { freePort } from './ports.js';
import { waitUntil } from './wait.js';

export { freePort };

/** A shell's environment that prints a plain prompt and reads no rc files. */
function shellEnv(home: string): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: home, LANG: 'C', PS1: '$ ' };
}

/** socat's address for a shell in a pty of its own, with the pty as its controlling terminal. */
const SHELL = 'EXEC:/bin/sh -i,pty,stderr,setsid,ctty';

/** A child process whose output lines are kept, so a test can wait for one. */
class PeerProcess {
  readonly lines: string[] = [];
  private readonly wakers = new Set<() => void>();

  constructor(readonly proc: ChildProcess, private readonly what: string) {
    const wake = () => {
      for (const w of this.wakers) w();
    };
    for (const stream of [proc.stdout!, proc.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        this.lines.push(line);
        wake();
      });
    }
    proc.on('exit', wake);
  }

  waitForLine(pattern: RegExp, timeoutMs = 15_000): Promise<string> {
    return waitUntil(() => this.lines.find((l) => pattern.test(l)), {
      what: `${this.what}: ${pattern}`,
      timeoutMs,
      subscribe: (wake) => {
        this.wakers.add(wake);
        return () => this.wakers.delete(wake);
      },
      failIf: () => (this.proc.exitCode !== null ? `${this.what} exited (${this.proc.exitCode}): ${this.lines.slice(-3).join(' | ')}` : undefined),
    });
  }

  stop(): Promise<unknown> {
    return stopProcess(this.proc);
  }
}

export interface SerialMachine {
  /** The pty a serial server opens, as it would open /dev/ttyS0. */
  device: string;
  stop(): Promise<void>;
}

/** A machine's serial port: a pty whose other side is a login shell (prompt `$ `). */
export async function startSerialMachine(name = 'ttyS0'): Promise<SerialMachine> {
  const dir = tempDir('serial');
  const device = path.join(dir, name);
  const peer = new PeerProcess(
    spawnTracked('socat', ['-d', '-d', `PTY,link=${device},raw,echo=0`, SHELL], { env: shellEnv(dir) }),
    `serial machine ${name}`,
  );
  await peer.waitForLine(/starting data transfer loop/);
  return {
    device,
    async stop() {
      await peer.stop();
    },
  };
}

export interface Ser2netPort {
  mode: 'telnet' | 'raw';
  device: string;
}

export interface Ser2net {
  /** The TCP port of each configured serial port, in the order given. */
  ports: number[];
  stop(): Promise<void>;
  /** Start again on the same ports (after stop). */
  start(): Promise<void>;
}

/** ser2net (4.x, YAML config) serving each device in telnet or raw mode on its own port. */
export async function startSer2net(serve: Ser2netPort[]): Promise<Ser2net> {
  const dir = tempDir('ser2net');
  const ports: number[] = [];
  for (let i = 0; i < serve.length; i++) ports.push(await freePort());
  const config = path.join(dir, 'ser2net.yaml');
  const connections = serve.map((s, i) => [
    `connection: &port${i}`,
    `  accepter: ${s.mode === 'telnet' ? 'telnet(rfc2217=false),' : ''}tcp,127.0.0.1,${ports[i]}`,
    `  connector: serialdev,${s.device},115200n81,local`,
    '  options:',
    '    kickolduser: true', // a reconnecting console replaces its own stale connection
  ].join('\n'));
  writeFileSync(config, ['%YAML 1.1', '---', ...connections, ''].join('\n'));

  let peer: PeerProcess | undefined;
  const server: Ser2net = {
    ports,
    async start() {
      // -n: stay in the foreground; -u: no UUCP locks; -r: print "Ready" once the ports listen.
      peer = new PeerProcess(spawnTracked('/usr/sbin/ser2net', ['-n', '-u', '-r', '-c', config]), 'ser2net');
      await peer.waitForLine(/^Ready$/);
    },
    async stop() {
      await peer?.stop();
      peer = undefined;
    },
  };
  await server.start();
  return server;
}

export interface SocatShell {
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/**
 * socat serving a shell on plain TCP, one connection at a time (no fork: stopping socat by
 * PID then really ends the connection, as a forked child would outlive its parent).
 */
export async function startSocatShell(): Promise<SocatShell> {
  const dir = tempDir('socat');
  const port = await freePort();
  let peer: PeerProcess | undefined;
  const socat: SocatShell = {
    port,
    async start() {
      peer = new PeerProcess(spawnTracked('socat', ['-d', '-d', `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr`, SHELL], { env: shellEnv(dir) }), 'socat');
      await peer.waitForLine(/listening on/);
    },
    async stop() {
      await peer?.stop();
      peer = undefined;
    },
  };
  await socat.start();
  return socat;
}

/**
 * A loopback port that never completes a connect: a listener that accepts nothing, its one-slot
 * queue already full, so the kernel drops further SYNs and the connecting side waits.
 */
export async function startBlackhole(): Promise<{ port: number; stop(): Promise<unknown> }> {
  const script = [
    'import socket, sys',
    's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)',
    'port = s.getsockname()[1]',
    'fill = []',
    'for _ in range(2):',
    '    c = socket.socket(); c.setblocking(False); c.connect_ex(("127.0.0.1", port)); fill.append(c)',
    'print(port, flush=True)',
    'sys.stdin.read()',
  ].join('\n');
  const peer = new PeerProcess(spawnTracked('python3', ['-c', script], { stdio: ['pipe', 'pipe', 'pipe'] }), 'blackhole');
  const port = Number(await peer.waitForLine(/^\d+$/));
  return { port, stop: () => peer.stop() };
}
