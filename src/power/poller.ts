// Asks every node with power control for its power state now and then, so that pages show it
// without anyone clicking. Off by default (powerPollSeconds 0): polling a thousand BMCs is a
// decision for the operator. Runs through PowerService, so the concurrency limit holds.
import type { Logger } from 'pino';
import type { NodeSpec } from '../model/node.js';
import type { PowerService } from './service.js';

export class PowerPoller {
  private timer?: NodeJS.Timeout;
  private running = false;

  constructor(
    private readonly power: PowerService,
    private readonly nodes: () => Promise<NodeSpec[]>,
    private readonly logger: Logger,
  ) {}

  start(everySeconds: number): void {
    if (everySeconds <= 0) return;
    this.timer = setInterval(() => void this.pollOnce(), everySeconds * 1000);
    this.timer.unref();
    void this.pollOnce();
  }

  /** One round; a round still running when the next is due is not doubled. */
  async pollOnce(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const started = Date.now();
    try {
      const all = (await this.nodes()).filter((n) => n.power);
      // Failures are recorded as the node's known state (unknown + error); nothing to do here.
      await Promise.all(all.map((n) => this.power.status(n).catch(() => undefined)));
      this.logger.debug({ nodes: all.length, ms: Date.now() - started }, 'power poll');
    } finally {
      this.running = false;
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
