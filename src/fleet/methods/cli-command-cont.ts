// cliCommandCont / nCliCommandCont: run argv like cliCommand (own process group, methodTimeout
// kills the group) but hand its output on while it runs, in batches of whole lines, each
// batch a reply. stdout and stderr are batched apart; a chunk holds one of them.
import { ChunkDelivery, type ChunkReceiver, type TextChunk } from './chunk-delivery.js';
import { LineBatcher } from './line-batcher.js';
import { runInProcessGroup, type GroupExit, type OutputStream } from './process-group.js';

export interface CommandChunk extends TextChunk {
  stream: OutputStream;
}

export interface StreamCommandOptions {
  timeoutMs: number;
  cwd?: string;
  /** Aborting kills the process group, like the timeout. */
  signal?: AbortSignal;
  /** Not called again until the Promise it returns settles; throwing or rejecting ends the command. */
  onChunk: ChunkReceiver<CommandChunk>;
  flushMs?: number;
  maxLineBytes?: number;
  backlogCapBytes?: number;
  /** Told the process's pid once it runs. */
  onSpawn?: (pid: number) => void;
}

export interface StreamCommandResult extends GroupExit {
  /** onChunk failed: the command was killed and the rest of its output not delivered. */
  deliveryError?: string;
}

/** Settles after the command has ended and every chunk has been delivered. */
export async function streamCommand(argv: string[], opts: StreamCommandOptions): Promise<StreamCommandResult> {
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) stop.abort();
  const delivery = new ChunkDelivery<CommandChunk>({
    onChunk: opts.onChunk,
    backlogCapBytes: opts.backlogCapBytes,
    sameSource: (a, b) => a.stream === b.stream,
    onFailure: () => stop.abort(),
  });
  const batcher = (stream: OutputStream) => new LineBatcher({
    flushMs: opts.flushMs,
    maxLineBytes: opts.maxLineBytes,
    emit: (text) => delivery.send({ stream, text }),
  });
  const batchers = { stdout: batcher('stdout'), stderr: batcher('stderr') };
  try {
    const exit = await runInProcessGroup(argv, {
      timeoutMs: opts.timeoutMs,
      cwd: opts.cwd,
      signal: stop.signal,
      onSpawn: opts.onSpawn,
      onOutput: (stream, bytes) => batchers[stream].push(bytes),
    });
    batchers.stdout.end();
    batchers.stderr.end();
    await delivery.idle();
    const { failure } = delivery;
    // Our own abort after a failed delivery is not the caller's abort.
    return failure ? { ...exit, aborted: opts.signal?.aborted ?? false, deliveryError: failure.message } : exit;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
