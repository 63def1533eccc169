// A real BMC for tests: OpenIPMI's ipmi_sim on a free loopback UDP port, with chassis power and
// boot device kept in plain files the test reads (recipe: ../shared/tools/bmc-sim/). Stopped by PID.
// Optionally its SOL serial line is a TCP listener the test holds (ipmi_sim is the TCP client of a
// `sol "tcp:..."` device), plain or with a shell behind it.
import type { ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { chmodSync, readFileSync, watch, writeFileSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { escapeRegExp } from './console-clients.js';
import { tempDir } from './daemon.js';
import { PROBE, writeSimConfig } from './ipmi-sim-config.js';
import { freeUdpPort } from './ports.js';
import { exited, spawnTracked, stopProcess } from './processes.js';
import { onEvents, waitUntil } from './wait.js';

export const BMC_USER = 'admin';
export const BMC_PASSWORD = 'password';
/** A user limited to User privilege: may read, may not control power. */
export const BMC_RO_USER = 'viewer';
export const BMC_RO_PASSWORD = 'viewpass';

// ipmi_sim runs this for every chassis action; it must exit 0 or the BMC answers 0xff.
const CHASSIS_CONTROL = `#!/bin/sh
dir=$1; shift; op=$1; shift
ts=$(date +%s.%N)
case "$op" in
  get) for k in "$@"; do case "$k" in
         power) echo "power:$(cat "$dir/power")" ;; boot) echo "boot:$(cat "$dir/boot")" ;; *) echo "$k:0" ;;
       esac; done ;;
  set) while [ $# -ge 2 ]; do k=$1; v=$2; shift 2
         echo "$ts set $k $v" >> "$dir/events.log"
         case "$k" in power) echo "$v" > "$dir/power" ;; boot) echo "$v" > "$dir/boot" ;; shutdown) echo 0 > "$dir/power" ;; esac
       done ;;
esac
exit 0
`;

export interface BmcSim {
  host: string;
  port: number;
  dir: string;
  /** The running ipmi_sim's PID (changes after restart). */
  readonly pid: number;
  /** The SOL serial line, when started with `serial`. */
  serial?: SerialLine;
  /** chassis/power as ipmi_sim last wrote it ('0' | '1'). */
  power(): string;
  /** chassis/boot (none|pxe|default|cdrom|bios). */
  boot(): string;
  events(): string[];
  /** kill -9 ipmi_sim (by PID): the BMC vanishes without closing anything. */
  crash(): Promise<void>;
  /** Start ipmi_sim again on the same port and serial line, after crash(). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface BmcSimOptions {
  /**
   * Give the BMC an SOL serial line on a TCP port the test listens on (before ipmi_sim starts, as
   * ipmi_sim only retries its connect every 10 s). 'shell': a shell (`sh -i` on a pty) is the host
   * behind the line; its output is console output, and keystrokes reach it.
   */
  serial?: boolean | 'shell';
}

/** The host side of the BMC's SOL serial line. */
export interface SerialLine {
  /** The loopback TCP port ipmi_sim connects to. */
  port: number;
  /** Console output, as the host's serial port would send it (dropped while nobody is connected). */
  write(text: string | Buffer): void;
  /** Everything the SOL user typed, as latin1 text, BREAKs taken out. */
  readonly received: string;
  /**
   * BREAKs seen: ipmi_sim (lanserv/sol.c, sol_tcp_send_break) passes one to a tcp: device as the
   * telnet IAC BREAK bytes ff f3, in line with the data.
   */
  readonly breaks: number;
  /** Where each BREAK came in the line's data: its offset in `received` (what followed it starts there). */
  readonly breakOffsets: readonly number[];
  /** Connections ipmi_sim made so far (a restarted simulator connects again). */
  readonly connections: number;
  readonly connected: boolean;
  /** Resolves when `check` holds, re-checked whenever something arrives or the line changes. */
  waitFor<T>(what: string, check: () => T | undefined | false, timeoutMs?: number): Promise<T>;
  waitReceived(pattern: string | RegExp, timeoutMs?: number): Promise<string>;
}

const IAC = 0xff;
const BREAK = 0xf3;

class SerialListener extends EventEmitter implements SerialLine {
  port = 0;
  received = '';
  breaks = 0;
  readonly breakOffsets: number[] = [];
  connections = 0;
  private socket?: net.Socket;
  private iac = false;
  private readonly server = net.createServer((s) => this.accept(s));

  constructor(private readonly host?: ChildProcess) {
    super();
    this.setMaxListeners(0);
    host?.stdout!.on('data', (chunk: Buffer) => this.write(chunk));
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  get connected(): boolean {
    return this.socket !== undefined;
  }

  write(text: string | Buffer): void {
    this.socket?.write(typeof text === 'string' ? Buffer.from(text, 'latin1') : text);
  }

  waitFor<T>(what: string, check: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
    return waitUntil(check, {
      what,
      timeoutMs,
      subscribe: onEvents(this, 'change'),
      describe: () => JSON.stringify({ received: this.received.slice(-300), breaks: this.breaks, connections: this.connections, connected: this.connected }),
    });
  }

  waitReceived(pattern: string | RegExp, timeoutMs?: number): Promise<string> {
    const re = typeof pattern === 'string' ? new RegExp(escapeRegExp(pattern)) : pattern;
    return this.waitFor(`serial line to receive ${re}`, () => re.exec(this.received)?.[0], timeoutMs);
  }

  private accept(socket: net.Socket): void {
    this.socket?.destroy(); // a restarted ipmi_sim replaces its old connection
    this.socket = socket;
    this.connections++;
    this.iac = false;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.keystrokes(chunk));
    socket.on('error', () => { /* ipmi_sim killed: the close follows */ });
    socket.on('close', () => {
      if (this.socket === socket) this.socket = undefined;
      this.emit('change');
    });
    this.emit('change');
  }

  private keystrokes(chunk: Buffer): void {
    const text: number[] = [];
    for (const byte of chunk) {
      if (this.iac) {
        this.iac = false;
        if (byte === BREAK) {
          this.breaks++;
          this.breakOffsets.push(this.received.length + text.length);
          continue;
        }
        text.push(IAC); // ipmi_sim does not escape data on a tcp: line, so IAC is only a prefix before BREAK
      } else if (byte === IAC) {
        this.iac = true;
        continue;
      }
      text.push(byte);
    }
    const data = Buffer.from(text);
    this.received += data.toString('latin1');
    if (data.length > 0) this.host?.stdin!.write(data);
    this.emit('change');
  }

  async close(): Promise<void> {
    this.socket?.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (this.host) await stopProcess(this.host);
  }
}

/** A shell on a pty of its own, talking through the process's stdin/stdout (socat). */
function startSerialShell(dir: string): ChildProcess {
  return spawnTracked('socat', ['STDIO', 'EXEC:/bin/sh -i,pty,stderr,setsid,ctty'], {
    stdio: ['pipe', 'pipe', 'ignore'],
    env: { PATH: process.env.PATH, HOME: dir, LANG: 'C', PS1: '$ ' },
  });
}

export async function startBmcSim(opts: BmcSimOptions = {}): Promise<BmcSim> {
  const dir = tempDir('bmc');
  const chassis = path.join(dir, 'chassis');
  mkdirSync(path.join(dir, 'persist'), { recursive: true });
  mkdirSync(chassis, { recursive: true });
  writeFileSync(path.join(chassis, 'power'), '0\n');
  writeFileSync(path.join(chassis, 'boot'), 'default\n');
  writeFileSync(path.join(chassis, 'events.log'), '');
  const control = path.join(dir, 'chassis-control.sh');
  writeFileSync(control, CHASSIS_CONTROL);
  chmodSync(control, 0o755);
  const port = await freeUdpPort();
  let serial: SerialListener | undefined;
  if (opts.serial) {
    serial = new SerialListener(opts.serial === 'shell' ? startSerialShell(dir) : undefined);
    await serial.listen();
  }
  writeSimConfig(dir, {
    port,
    users: [
      { name: BMC_USER, password: BMC_PASSWORD, privilege: 'admin' },
      { name: BMC_RO_USER, password: BMC_RO_PASSWORD, privilege: 'user' },
    ],
    chassisControl: `${control} ${chassis}`,
    solPort: serial?.port,
  });

  let proc: ChildProcess;
  const launch = async () => {
    const connectionsBefore = serial?.connections ?? 0;
    proc = spawnTracked('ipmi_sim', ['-n', '-c', path.join(dir, 'lan.conf'), '-f', path.join(dir, 'bmc.emu'), '-s', path.join(dir, 'persist')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const p = proc;
    let output = '';
    p.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (output += d.toString()));

    // Ready when it answers: probe over UDP; each probe's answer (or process exit) wakes the wait.
    const probe = dgram.createSocket('udp4');
    let answered = false;
    probe.on('message', () => (answered = true));
    await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', resolve));
    try {
      await waitUntil(() => answered, {
        what: `ipmi_sim to answer on udp/${port}`,
        subscribe: (wake) => {
          // UDP may drop a probe sent before the bind: resend, as any IPMI client would.
          const resend = setInterval(() => probe.send(PROBE, port, '127.0.0.1'), 100);
          probe.send(PROBE, port, '127.0.0.1');
          probe.on('message', wake);
          p.on('exit', wake);
          return () => {
            clearInterval(resend);
            probe.off('message', wake);
            p.off('exit', wake);
          };
        },
        failIf: () => (p.exitCode !== null ? `ipmi_sim exited: ${output.trim()}` : undefined),
        describe: () => output,
      });
    } finally {
      probe.close();
    }
    // ipmi_sim connects its SOL line while it starts up; SOL is usable once it has.
    await serial?.waitFor('ipmi_sim to connect its SOL serial line', () => serial!.connections > connectionsBefore && serial!.connected);
  };
  await launch();

  const read = (f: string) => readFileSync(path.join(chassis, f), 'utf8').trim();
  return {
    host: '127.0.0.1',
    port,
    dir,
    get pid() {
      return proc.pid!;
    },
    serial,
    power: () => read('power'),
    boot: () => read('boot'),
    events: () => read('events.log').split('\n').filter(Boolean),
    async crash() {
      const done = exited(proc);
      if (proc.exitCode === null && proc.signalCode === null) process.kill(proc.pid!, 'SIGKILL');
      await done;
    },
    restart: launch,
    async stop() {
      await stopProcess(proc);
      await serial?.close();
    },
  };
}

/** ipmitool's lanplus options for this simulator: suite 3, answers within 1 s, 2 retries. */
export function ipmitoolArgs(bmc: Pick<BmcSim, 'host' | 'port'>): string[] {
  return ['-I', 'lanplus', '-C', '3', '-N', '1', '-R', '2', '-H', bmc.host, '-p', String(bmc.port), '-U', BMC_USER, '-P', BMC_PASSWORD];
}

/**
 * `ipmitool sol activate` with stdin kept open (a pipe: it needs no terminal) and its output kept;
 * stdbuf (which execs ipmitool, same PID) unbuffers stdout, or the banner would wait for exit.
 * Type `~.` after a CR to make it deactivate and quit; kill it by PID to leave the payload busy.
 */
export class IpmitoolSol extends EventEmitter {
  output = '';
  readonly proc: ChildProcess;

  constructor(bmc: Pick<BmcSim, 'host' | 'port'>) {
    super();
    this.proc = spawnTracked('stdbuf', ['-o0', 'ipmitool', ...ipmitoolArgs(bmc), 'sol', 'activate'], { stdio: ['pipe', 'pipe', 'pipe'] });
    for (const stream of [this.proc.stdout!, this.proc.stderr!]) {
      stream.on('data', (d: Buffer) => {
        this.output += d.toString('latin1');
        this.emit('change');
      });
    }
    this.proc.on('exit', () => this.emit('change'));
  }

  /** Resolves when SOL is up: ipmitool has printed its banner. */
  operational(): Promise<string> {
    return this.waitFor('[SOL Session operational');
  }

  waitFor(pattern: string | RegExp): Promise<string> {
    const re = typeof pattern === 'string' ? new RegExp(escapeRegExp(pattern)) : pattern;
    return waitUntil(() => re.exec(this.output)?.[0], {
      what: `ipmitool to print ${re}`,
      timeoutMs: 10_000,
      subscribe: onEvents(this, 'change'),
      failIf: () => (this.proc.exitCode !== null ? `ipmitool exited (${this.proc.exitCode})` : undefined),
      describe: () => this.output,
    });
  }

  type(text: string): void {
    this.proc.stdin!.write(text);
  }
}

/** Wait for the simulator's chassis files to say something, woken by changes in chassis/. */
export function waitChassis<T>(bmc: BmcSim, what: string, check: () => T | undefined | false): Promise<T> {
  return waitUntil(check, {
    what,
    timeoutMs: 10_000,
    subscribe: (wake) => {
      const w = watch(path.join(bmc.dir, 'chassis'), wake);
      return () => w.close();
    },
    describe: () => `power=${bmc.power()} boot=${bmc.boot()} events=${bmc.events().join(' | ')}`,
  });
}
