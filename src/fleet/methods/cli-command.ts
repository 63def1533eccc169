// cliCommand: run argv (no shell unless the argv itself is one, e.g. ['bash', '-c', '...']) in its
// own process group, collect stdout and stderr up to a cap, and on methodTimeout kill the whole
// group, so that what the command started dies with it.
import { spawn } from 'node:child_process';
import { CappedText } from './capped-text.js';

/** Each of stdout and stderr; both together keep a reply under NATS's default max_payload (1 MB). */
export const OUTPUT_CAP_BYTES = 256 * 1024;

export interface CommandResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
  timedOut: boolean;
  /** Set when the program could not be started (ENOENT, EACCES). */
  spawnError?: string;
}

/** `onSpawn` is told the process's pid once it runs (for the agent's ps). */
export function runCommand(argv: string[], opts: { timeoutMs: number; cwd?: string; onSpawn?: (pid: number) => void }): Promise<CommandResult> {
  return new Promise((resolve) => {
    if (argv.length === 0 || argv[0] === '') {
      resolve({ exitCode: null, signal: null, stdout: '', stderr: '', truncated: false, timedOut: false, spawnError: 'no command given (data / methodArgs is empty)' });
      return;
    }
    const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd });
    if (child.pid !== undefined) opts.onSpawn?.(child.pid);
    const out = new CappedText(OUTPUT_CAP_BYTES);
    const err = new CappedText(OUTPUT_CAP_BYTES);
    child.stdout.on('data', (c: Buffer) => out.add(c));
    child.stderr.on('data', (c: Buffer) => err.add(c));
    let timedOut = false;
    const killGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch { /* already gone */ }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, opts.timeoutMs);
    let spawnError: string | undefined;
    child.once('error', (e: NodeJS.ErrnoException) => {
      spawnError = `${argv[0]}: ${e.code ?? e.message}`;
    });
    // 'close': the pipes are drained too. A background child that keeps them open holds this
    // until the timeout kills the group.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        exitCode: code, signal, stdout: out.text(), stderr: err.text(), truncated: out.truncated || err.truncated, timedOut,
        ...(spawnError && { spawnError }),
      });
    });
  });
}
