// Simulated BMCs as a benchmark peer: OpenIPMI's ipmi_sim on loopback UDP (recipe:
// ../shared/tools/bmc-sim/), each with an SOL serial line whose far end is a TCP server in the
// bench process. ipmi_sim is the TCP *client* of a `sol "tcp:HOST:PORT"` device and retries only
// every 10 s, so the server listens before ipmi_sim starts. The bench plays every host: what it
// writes on a line is that host's console output. No history buffer: without one ipmi_sim stops
// reading the line while its 16 KB SOL buffer is full, so a fast writer is paced, not truncated.
// Every ipmi_sim is started and stopped by PID (bench/lib.ts).
import dgram from 'node:dgram';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { PROBE, writeSimConfig } from '../../test/support/ipmi-sim-config.js';
import { freeUdpPort } from '../../test/support/ports.js';
import { start, stop, waitFor, type Started } from '../lib.js';

export const IPMI_SIM = '/usr/bin/ipmi_sim';
export const IPMITOOL = '/usr/bin/ipmitool';
export const BMC_USER = 'admin';
export const BMC_PASSWORD = 'password';

/** The host side of one BMC's serial line. */
export class SerialLine {
  port = 0;
  /** Keystrokes that reached the host (bytes). */
  received = 0;
  connections = 0;
  private socket?: net.Socket;
  private readonly server = net.createServer((s) => this.accept(s));

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  get connected(): boolean {
    return this.socket !== undefined;
  }

  /** Console output from the host; false when the socket buffer is full (then wait for drained()). */
  write(data: string | Buffer): boolean {
    return this.socket?.write(data) ?? false;
  }

  drained(): Promise<void> {
    const s = this.socket;
    if (!s || !s.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        s.off('drain', done);
        s.off('close', done);
        resolve();
      };
      s.on('drain', done);
      s.on('close', done);
    });
  }

  private accept(socket: net.Socket): void {
    this.socket?.destroy(); // a restarted ipmi_sim replaces its old connection
    this.socket = socket;
    this.connections++;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => (this.received += chunk.length));
    socket.on('error', () => { /* ipmi_sim gone: the close follows */ });
    socket.on('close', () => {
      if (this.socket === socket) this.socket = undefined;
    });
  }

  async close(): Promise<void> {
    this.socket?.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export interface Bmc {
  port: number;
  serial: SerialLine;
  proc: Started;
}

/** N ipmi_sim BMCs, each with a serial line; stop() stops them all by PID. */
export class BmcFarm {
  readonly bmcs: Bmc[] = [];

  constructor(private readonly dir: string) {}

  get pids(): number[] {
    return this.bmcs.map((b) => b.proc.pid);
  }

  /** Start `count` BMCs, `parallel` at a time; resolves when every one answers IPMI and holds its serial line. */
  async start(count: number, parallel = 10): Promise<void> {
    const probe = dgram.createSocket('udp4');
    const answered = new Set<number>();
    probe.on('message', (_msg, rinfo) => answered.add(rinfo.port));
    await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', resolve));
    try {
      let next = 0;
      const worker = async () => {
        while (next < count) {
          next++;
          const bmc = await this.startOne();
          this.bmcs.push(bmc);
          // UDP may drop a probe sent before the bind: send again until it answers.
          await waitFor(`ipmi_sim on udp/${bmc.port} to answer`, 20_000, () => {
            if (bmc.proc.proc.exitCode !== null) throw new Error(`ipmi_sim on udp/${bmc.port} exited (${bmc.proc.proc.exitCode})`);
            if (answered.has(bmc.port) && bmc.serial.connected) return true;
            probe.send(PROBE, bmc.port, '127.0.0.1');
            return false;
          }, 50);
        }
      };
      await Promise.all(Array.from({ length: parallel }, worker));
    } finally {
      probe.close();
    }
  }

  private async startOne(): Promise<Bmc> {
    const serial = new SerialLine();
    await serial.listen();
    const port = await freeUdpPort();
    const d = path.join(this.dir, `bmc-${port}`);
    mkdirSync(path.join(d, 'persist'), { recursive: true });
    writeSimConfig(d, { port, users: [{ name: BMC_USER, password: BMC_PASSWORD, privilege: 'admin' }], solPort: serial.port });
    const proc = start(IPMI_SIM, ['-n', '-c', path.join(d, 'lan.conf'), '-f', path.join(d, 'bmc.emu'), '-s', path.join(d, 'persist')]);
    return { port, serial, proc };
  }

  async stop(): Promise<void> {
    await Promise.all(this.bmcs.map(async (b) => {
      await stop(b.proc);
      await b.serial.close();
    }));
  }
}
