// cliCommand: run argv (no shell unless the argv itself is one, e.g. ['bash', '-c', '...']) in its
// own process group, collect stdout and stderr up to a cap, and on methodTimeout kill the whole
// group, so that what the command started dies with it.
import { CappedText } from './capped-text.js';
import { runInProcessGroup } from './process-group.js';

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
export async function runCommand(argv: string[], opts: { timeoutMs: number; cwd?: string; onSpawn?: (pid: number) => void }): Promise<CommandResult> {
  const captured = { stdout: new CappedText(OUTPUT_CAP_BYTES), stderr: new CappedText(OUTPUT_CAP_BYTES) };
  const { exitCode, signal, timedOut, spawnError } = await runInProcessGroup(argv, {
    ...opts,
    onOutput: (stream, bytes) => captured[stream].add(bytes),
  });
  const { stdout: out, stderr: err } = captured;
  return {
    exitCode, signal, stdout: out.text(), stderr: err.text(), truncated: out.truncated || err.truncated, timedOut,
    ...(spawnError && { spawnError }),
  };
}
