// A command run in its own process group: methodTimeout or an abort kills the whole group, so
// that what the command started (a pipeline, a `sleep &`) dies with it.
import { spawn } from 'node:child_process';

export type OutputStream = 'stdout' | 'stderr';

export interface GroupExit {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** The caller's signal ended it. */
  aborted: boolean;
  /** Set when the program could not be started (ENOENT, EACCES). */
  spawnError?: string;
}

export interface GroupRunOptions {
  timeoutMs: number;
  cwd?: string;
  signal?: AbortSignal;
  onOutput(stream: OutputStream, bytes: Buffer): void;
  /** Told the process's pid once it runs (the agent's ps lists it). */
  onSpawn?(pid: number): void;
}

/** Runs argv (no shell unless argv is one) and settles once it has exited and its pipes are drained. */
export function runInProcessGroup(argv: string[], opts: GroupRunOptions): Promise<GroupExit> {
  const notRun = { exitCode: null, signal: null, timedOut: false, aborted: false };
  if (argv.length === 0 || argv[0] === '') return Promise.resolve({ ...notRun, spawnError: 'no command given (data / methodArgs is empty)' });
  if (opts.signal?.aborted) return Promise.resolve({ ...notRun, aborted: true });
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd });
    if (child.pid !== undefined) opts.onSpawn?.(child.pid);
    child.stdout.on('data', (c: Buffer) => opts.onOutput('stdout', c));
    child.stderr.on('data', (c: Buffer) => opts.onOutput('stderr', c));
    let timedOut = false;
    let aborted = false;
    const killGroup = () => {
      if (child.pid === undefined) return; // never started: 'error' says why
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch { /* already gone */ }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, opts.timeoutMs);
    const onAbort = () => {
      aborted = true;
      killGroup();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    let spawnError: string | undefined;
    child.once('error', (e: NodeJS.ErrnoException) => {
      spawnError = `${argv[0]}: ${e.code ?? e.message}`;
    });
    // 'close': the pipes are drained too. A background child that keeps them open holds this
    // until the timeout (or the abort) kills the group.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({ exitCode: code, signal, timedOut, aborted, ...(spawnError && { spawnError }) });
    });
  });
}
