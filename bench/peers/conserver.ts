// conserver 8.2.7 (Debian's conserver-server / conserver-client) as the side-by-side peer: a private
// instance on 127.0.0.1 as described in ../shared/tools/conserver-notes.md (-E, trusted 127.0.0.1,
// exec consoles, initdelay 0, -m consoles per helper process).
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { allProcs, descendants, freePort, isAlive, killPids, sleep, start, stop, waitFor, type Started } from '../lib.js';

const execFileP = promisify(execFile);

export const CONSERVER = '/usr/sbin/conserver';
export const CONSOLE = '/usr/bin/console';

export interface ConserverConsole {
  name: string;
  /** The exec line (conserver runs it with /bin/sh -c). */
  exec: string;
}

export interface ConserverOptions {
  dir: string;
  consoles: ConserverConsole[];
  /** Consoles per helper process (-m). */
  perHelper?: number;
}

export class Conserver {
  port = 0;
  private proc?: Started;
  readonly logDir: string;

  constructor(private readonly opts: ConserverOptions) {
    this.logDir = opts.dir;
  }

  get pid(): number {
    if (!this.proc) throw new Error('conserver is not running');
    return this.proc.pid;
  }

  static async version(): Promise<string> {
    try {
      const { stdout, stderr } = await execFileP(CONSERVER, ['-V'], { timeout: 5000 });
      const m = /version ([\d.]+)/.exec(stdout + stderr);
      return m ? m[1] : 'unknown';
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      const m = /version ([\d.]+)/.exec(`${e.stdout ?? ''}${e.stderr ?? ''}`);
      return m ? m[1] : 'unknown';
    }
  }

  logFile(name: string): string {
    return path.join(this.logDir, `${name}.log`);
  }

  async start(): Promise<void> {
    const cf = path.join(this.opts.dir, 'conserver.cf');
    const pw = path.join(this.opts.dir, 'conserver.passwd');
    const lines = [
      `default * { type exec; master 127.0.0.1; rw *; logfile "${this.logDir}/&.log"; }`,
      'config * { initdelay 0; sslrequired no; }',
      'access * { trusted 127.0.0.1; }',
      ...this.opts.consoles.map((c) => `console ${c.name} { exec "${c.exec.replace(/"/g, '\\"')}"; }`),
    ];
    writeFileSync(cf, `${lines.join('\n')}\n`);
    writeFileSync(pw, '*any*:\n');
    this.port = await freePort();
    const args = ['-C', cf, '-P', pw, '-p', String(this.port), '-M', '127.0.0.1', '-E', '-m', String(this.opts.perHelper ?? 256)];
    // Its own log lines go to stderr; keep them in a file for post-mortems.
    this.proc = start(CONSERVER, args, { cwd: this.opts.dir, stdio: ['ignore', 'ignore', 'ignore'] });
    const p = this.proc;
    await waitFor('conserver to answer on its port', 10_000, async () => {
      if (!p || p.proc.exitCode !== null) throw new Error('conserver exited at start');
      try {
        await this.status();
        return true;
      } catch {
        return false;
      }
    }, 50);
  }

  /** `console -u`: name → state (up, down, init). */
  async status(): Promise<Map<string, string>> {
    const { stdout } = await execFileP(CONSOLE, this.clientArgs('-u'), { timeout: 10_000, maxBuffer: 16 * 1024 * 1024 });
    const m = new Map<string, string>();
    for (const line of stdout.split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 2 && f[0]) m.set(f[0], f[1]);
    }
    return m;
  }

  clientArgs(...rest: string[]): string[] {
    return ['-n', '-E', '-M', '127.0.0.1', '-p', String(this.port), ...rest];
  }

  /** The conserver processes themselves: the master and its helper children. */
  serverPids(procs = allProcs()): number[] {
    if (!this.proc) return [];
    return [this.proc.pid, ...descendants(this.proc.pid, procs).filter((p) => p.comm === 'conserver').map((p) => p.pid)];
  }

  /** The console programs (sh -c and what it runs): everything below a helper that is not conserver. */
  programPids(procs = allProcs()): number[] {
    if (!this.proc) return [];
    return descendants(this.proc.pid, procs).filter((p) => p.comm !== 'conserver').map((p) => p.pid);
  }

  /**
   * SIGTERM the master and wait for it and its helpers. conserver may leave console programs
   * running: with `reap` (the default) they are killed by PID; `leftBehind` counts them either way.
   */
  async stop(opts: { graceMs?: number; reap?: boolean } = {}): Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean; ms: number; programs: number[]; leftBehind: number[] }> {
    if (!this.proc) return { code: 0, signal: null, killed: false, ms: 0, programs: [], leftBehind: [] };
    const procs = allProcs();
    const helpers = this.serverPids(procs).slice(1);
    const programs = this.programPids(procs);
    const t0 = Date.now();
    const r = await stop(this.proc, 'SIGTERM', opts.graceMs ?? 10_000);
    this.proc = undefined;
    const ms = Date.now() - t0;
    // The helpers are the master's children and should follow it; make sure they do.
    await waitFor('conserver helpers to exit', 3000, () => helpers.every((pid) => !isAlive(pid, 'conserver')), 50).catch(() => undefined);
    await killPids(helpers.filter((pid) => isAlive(pid, 'conserver')));
    await sleep(200);
    const leftBehind = programs.filter((pid) => isAlive(pid));
    if (opts.reap ?? true) await killPids(leftBehind);
    return { ...r, ms, programs, leftBehind };
  }
}
