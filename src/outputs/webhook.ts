// POSTs JSON bodies to one webhook URL, one at a time, retrying with backoff. Never blocks the caller:
// a bounded queue drops the oldest body when the receiver is down for long, and says so in the log.
import type { Logger } from 'pino';

export interface WebhookOptions {
  /** Attempts per body before giving up on it. */
  tries: number;
  /** First retry delay; doubles on each failure up to maxDelayMs. */
  minDelayMs: number;
  maxDelayMs: number;
  /** Bodies waiting at most; beyond it the oldest is dropped. */
  maxQueued: number;
  /** One request's time limit. */
  timeoutMs: number;
}

export const DEFAULT_WEBHOOK_OPTIONS: WebhookOptions = { tries: 5, minDelayMs: 500, maxDelayMs: 30_000, maxQueued: 1000, timeoutMs: 10_000 };

export interface WebhookStats {
  sent: number;
  failed: number;
  dropped: number;
  queued: number;
}

/** Webhook URLs often carry a secret in the path or query (Slack's do): logs name the origin only. */
export function webhookOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid url)';
  }
}

export class WebhookSender {
  private readonly queue: unknown[] = [];
  private readonly opts: WebhookOptions;
  private running = false;
  private closed = false;
  private wake?: () => void;
  private readonly counts = { sent: 0, failed: 0, dropped: 0 };

  constructor(private readonly url: string, private readonly logger: Logger, opts: Partial<WebhookOptions> = {}) {
    this.opts = { ...DEFAULT_WEBHOOK_OPTIONS, ...opts };
  }

  send(body: unknown): void {
    if (this.closed) return;
    if (this.queue.length >= this.opts.maxQueued) {
      this.queue.shift();
      this.counts.dropped++;
      if (this.counts.dropped === 1 || this.counts.dropped % 1000 === 0) this.logger.warn({ webhook: webhookOrigin(this.url), dropped: this.counts.dropped }, 'webhook queue full: dropping the oldest');
    }
    this.queue.push(body);
    if (!this.running) void this.drain();
  }

  stats(): WebhookStats {
    return { ...this.counts, queued: this.queue.length };
  }

  /** Stops retrying; what is queued is dropped. */
  close(): void {
    this.closed = true;
    this.queue.length = 0;
    this.wake?.();
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (!this.closed && this.queue.length > 0) await this.deliver(this.queue.shift());
    this.running = false;
  }

  private async deliver(body: unknown): Promise<void> {
    let delay = this.opts.minDelayMs;
    let lastError = '';
    for (let attempt = 1; attempt <= this.opts.tries && !this.closed; attempt++) {
      lastError = await this.post(body);
      if (!lastError) {
        this.counts.sent++;
        return;
      }
      if (attempt < this.opts.tries) await this.pause(delay);
      delay = Math.min(delay * 2, this.opts.maxDelayMs);
    }
    if (this.closed) return;
    this.counts.failed++;
    this.logger.warn({ webhook: webhookOrigin(this.url), tries: this.opts.tries, error: lastError }, 'webhook gave up on a notification');
  }

  /** '' when delivered, else why not. */
  private async post(body: unknown): Promise<string> {
    try {
      const res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      await res.body?.cancel();
      return res.ok ? '' : `HTTP ${res.status}`;
    } catch (err) {
      return (err as Error).message;
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}
