// A private OpenSSH sshd for the ssh benchmark: loopback only, its own host key and config, the
// test users from test/support/sshd-setup.ts, tuned for hundreds of concurrent logins, and every
// session running `command` instead of a shell (so every console prints without anyone typing).
// Started and stopped by PID; its sessions (sshd processes forked from the listener and what
// they run) are found through /proc parent links and ended by PID.
import { readFileSync } from 'node:fs';
import {
  ensureSshUsers, fingerprintOf, KEY_USER, writeSshdConfig, writeSshdKeys,
} from '../../test/support/sshd-setup.js';
import { allProcs, descendants, freePort, isAlive, killPids, sleep, start, stop, waitFor, withTimeout, type ProcStat, type Started } from '../lib.js';

export const SSHD = '/usr/sbin/sshd';
export const SSH = '/usr/bin/ssh';

export interface BenchSshdOptions {
  dir: string;
  /** What every session runs (sshd ForceCommand, run by the user's shell). */
  command: string;
  /** sshd MaxStartups (default 2000:30:2000: hundreds of logins at once are never dropped early). */
  maxStartups?: string;
}

export class BenchSshd {
  port = 0;
  /** Host key fingerprint, as `ssh-keygen -lf` prints it. */
  fingerprint = '';
  /** The key user's private key file (unencrypted) and its contents. */
  keyFile = '';
  privateKey = '';
  readonly user = KEY_USER;
  private proc?: Started;
  private tail: string[] = [];

  constructor(private readonly opts: BenchSshdOptions) {}

  get pid(): number {
    if (!this.proc) throw new Error('sshd is not running');
    return this.proc.pid;
  }

  async start(): Promise<void> {
    ensureSshUsers();
    const keys = writeSshdKeys(this.opts.dir);
    this.keyFile = keys.userKey;
    this.privateKey = readFileSync(keys.userKey, 'utf8');
    this.fingerprint = fingerprintOf(`${keys.hostKey}.pub`);
    this.port = await freePort();
    const config = writeSshdConfig({
      dir: this.opts.dir, port: this.port, keys, logLevel: 'INFO',
      extra: [
        `MaxStartups ${this.opts.maxStartups ?? '2000:30:2000'}`,
        'MaxSessions 10',
        `ForceCommand ${this.opts.command}`,
      ],
    });
    const p = start(SSHD, ['-D', '-e', '-f', config], { cwd: this.opts.dir, stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = p;
    let listening: (() => void) | undefined;
    const ready = new Promise<void>((resolve) => (listening = resolve));
    let buf = '';
    // Drain stderr for sshd's whole life (a full pipe would stall it); keep the last lines.
    p.proc.stderr?.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        this.tail.push(line);
        if (this.tail.length > 40) this.tail.shift();
        if (listening && line.includes(`Server listening on 127.0.0.1 port ${this.port}`)) {
          listening();
          listening = undefined;
        }
      }
    });
    const exitedEarly = p.exited.then(({ code, signal }) => {
      throw new Error(`sshd exited before listening (code ${code}, signal ${signal}):\n${this.tail.join('\n')}`);
    });
    await withTimeout(Promise.race([ready, exitedEarly]), 10_000, 'sshd to listen');
  }

  lastLines(): string {
    return this.tail.join('\n');
  }

  /** Everything below the listener: per connection an sshd [priv], an sshd for the user, and the command. */
  sessionProcs(procs = allProcs()): ProcStat[] {
    return this.proc ? descendants(this.proc.pid, procs) : [];
  }

  /** Logged-in sessions: sshd's per-connection root processes (children of the listener). */
  connections(procs = allProcs()): number {
    if (!this.proc) return 0;
    const pid = this.proc.pid;
    let n = 0;
    for (const p of procs.values()) if (p.ppid === pid && p.comm === 'sshd') n++;
    return n;
  }

  /**
   * Wait until no session is left (clients gone, sshd notices); after `graceMs` the rest are
   * ended by PID. Returns how many processes had to be killed.
   */
  async drain(graceMs = 10_000): Promise<number> {
    // Gone means reaped, not just exited: the listener collects its children within a second or two.
    const left = await waitFor('sshd sessions to end', graceMs, () => this.sessionProcs().length === 0, 100)
      .then(() => [] as ProcStat[], () => this.sessionProcs().filter((p) => p.state !== 'Z'));
    if (!left.length) return 0;
    await killPids(left.map((p) => p.pid));
    await waitFor('killed sshd sessions to go', 5000, () => this.sessionProcs().length === 0, 50).catch(() => undefined);
    return left.length;
  }

  /** Stop the listener and end whatever sessions are left, all by PID. */
  async stop(): Promise<void> {
    if (!this.proc) return;
    const sessions = this.sessionProcs();
    await stop(this.proc, 'SIGTERM', 5000);
    this.proc = undefined;
    await killPids(sessions.map((p) => p.pid).filter((pid) => isAlive(pid)));
    await sleep(100);
  }

  /** The ssh client command line for one console (what conserver execs); `extra` goes before the destination. */
  sshCommand(extra: string[] = []): string[] {
    return [
      SSH, '-tt', '-F', '/dev/null', '-i', this.keyFile, ...extra,
      '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR',
      '-p', String(this.port), `${this.user}@127.0.0.1`,
    ];
  }
}
