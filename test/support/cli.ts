// Run the `switchboard` binary as a user would: with pipes, or under a real pseudo-terminal.
import * as pty from 'node-pty';
import { once } from 'node:events';
import { after } from 'node:test';
import { BIN, type DaemonHandle } from './daemon.js';
import { exited, spawnTracked } from './processes.js';
import { Transcript } from './console-clients.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function cliEnv(d: DaemonHandle, extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, SWITCHBOARD_URL: d.url, SWITCHBOARD_TOKEN: d.token, ...extra };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  return env;
}

export function runCli(d: DaemonHandle, args: string[], opts: { input?: string; env?: Record<string, string | undefined>; cwd?: string } = {}): Promise<CliResult> {
  return runSwitchboard(args, { ...opts, env: cliEnv(d, opts.env) });
}

/** The binary with exactly this environment (no daemon implied), e.g. for `gen-cert` or a `serve` expected to fail. */
export async function runSwitchboard(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliResult> {
  const proc = spawnTracked(process.execPath, [BIN, ...args], { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (c: Buffer) => (stdout += c));
  proc.stderr!.on('data', (c: Buffer) => (stderr += c));
  // 'close', not just 'exit': the last output may still be in the pipes when the process exits.
  const closed = once(proc, 'close');
  if (opts.input !== undefined) proc.stdin!.end(opts.input);
  else proc.stdin!.end();
  const { code } = await exited(proc);
  await closed;
  return { code, stdout, stderr };
}

const ptys = new Set<pty.IPty>();
after(() => {
  for (const p of ptys) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch { /* gone */ }
  }
});

/** A program in a pseudo-terminal, with a transcript of its screen output. */
export class PtySession extends Transcript {
  readonly proc: pty.IPty;
  readonly exit: Promise<number>;

  constructor(file: string, args: string[], env: NodeJS.ProcessEnv) {
    super();
    this.proc = pty.spawn(file, args, { name: 'xterm', cols: 100, rows: 30, env: env as Record<string, string> });
    ptys.add(this.proc);
    this.proc.onData((raw) => {
      // Node's raw tty mode keeps output processing (ONLCR), so the CLI's \r\n shows as \r\r\n.
      const s = raw.replace(/\r+\n/g, '\r\n');
      this.output += s;
      for (const m of s.matchAll(/\[([^\]\r\n]+)\]\r\n/g)) this.notices.push(m[1]);
      this.changed();
    });
    this.exit = new Promise((resolve) => this.proc.onExit(({ exitCode }) => {
      ptys.delete(this.proc);
      this.closed = true;
      this.closeInfo = { code: exitCode };
      this.changed();
      resolve(exitCode);
    }));
  }

  type(text: string): void {
    this.proc.write(text);
  }
}
