// Trying again with backoff, for the sinks that hold a connection (tcp, nats) and the audit log's
// failed writes: the first retry after minMs, doubling up to maxMs; a connection that came up (a
// write that went through) starts over at minMs.

export interface BackoffOptions {
  minMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { minMs: 250, maxMs: 30_000 };

export class Reconnector {
  private delayMs: number;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly attempt: () => void, private readonly opts: BackoffOptions = DEFAULT_BACKOFF) {
    this.delayMs = opts.minMs;
  }

  /** The connection failed or dropped: try again after the current delay (once, however often told). */
  retry(): void {
    if (this.stopped || this.timer) return;
    const delay = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.opts.maxMs);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.stopped) this.attempt();
    }, delay);
    this.timer.unref();
  }

  connected(): void {
    this.delayMs = this.opts.minMs;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  get isStopped(): boolean {
    return this.stopped;
  }
}
