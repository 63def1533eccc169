// The daemon's Prometheus metrics: one registry per daemon (never prom-client's global one, so
// several daemons in one process, and libraries that use the global registry, do not collide).
// Counters are bumped where things happen; gauges are read from their owners on each scrape.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ConsoleCensus } from '../console/manager.js';
import type { ConsoleMeter } from '../console/types.js';
import type { SinkStats } from '../outputs/types.js';
import { FLEET_MESSAGE_STATES, type FleetMessageState } from '../store/types.js';

const PREFIX = 'switchboard_';

/** One output sink as the scrape sees it: its stats plus the labels that tell sinks apart. */
export type SinkSample = { name: string; type: string } & SinkStats;

/** Seconds: from a fast JSON answer to a slow bulk power call. */
const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class DaemonMetrics {
  readonly registry = new Registry();

  /** `direction`: `out` is console output read from the driver, `in` is client input written to it. */
  readonly consoleBytes = new Counter({
    name: `${PREFIX}console_bytes_total`,
    help: 'Console bytes by driver: out = read from the console, in = typed into it',
    labelNames: ['driver', 'direction'] as const,
    registers: [this.registry],
  });

  readonly reconnects = new Counter({
    name: `${PREFIX}console_reconnects_total`,
    help: 'Console connections that dropped or failed to open and were scheduled to reconnect, by driver',
    labelNames: ['driver'] as const,
    registers: [this.registry],
  });

  /** Bumped by the watch-pattern engine, labelled by the pattern's name (not its regex). */
  readonly watchMatches = new Counter({
    name: `${PREFIX}watch_matches_total`,
    help: 'Console lines that matched a watch pattern, by pattern name',
    labelNames: ['pattern'] as const,
    registers: [this.registry],
  });

  /** `route` is the route pattern (`/api/v1/nodes/:name`), never the raw URL: node names would explode the series. */
  readonly apiRequests = new Histogram({
    name: `${PREFIX}api_request_duration_seconds`,
    help: 'API request latency by method, route pattern and status class',
    labelNames: ['method', 'route', 'status_class'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  private readonly sinkSources: Array<() => Promise<SinkSample[]>> = [];

  constructor() {
    // process_* and nodejs_* (event-loop lag among them) under their usual names, as dashboards expect.
    collectDefaultMetrics({ register: this.registry });
    this.sinkMetrics();
  }

  /** What the console sessions report to (bytes and reconnects per driver). */
  readonly consoleMeter: ConsoleMeter = {
    bytes: (driver, direction, n) => this.consoleBytes.inc({ driver, direction }, n),
    reconnect: (driver) => this.reconnects.inc({ driver }),
  };

  /** Sessions by state and clients by mode, read from the console manager on each scrape. */
  registerConsoles(census: () => ConsoleCensus): void {
    new Gauge({
      name: `${PREFIX}console_sessions`,
      help: 'Console sessions by state',
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        for (const [state, n] of Object.entries(census().sessions)) this.set({ state }, n);
      },
    });
    new Gauge({
      name: `${PREFIX}console_clients`,
      help: 'Clients attached to consoles, by mode (rw, ro)',
      labelNames: ['mode'] as const,
      registers: [this.registry],
      collect() {
        for (const [mode, n] of Object.entries(census().clients)) this.set({ mode }, n);
      },
    });
  }

  /** Fleet messages by state, counted in the store on each scrape. */
  registerFleet(countByState: () => Promise<Partial<Record<FleetMessageState, number>>>): void {
    new Gauge({
      name: `${PREFIX}fleet_messages`,
      help: 'Fleet messages in the store, by state',
      labelNames: ['state'] as const,
      registers: [this.registry],
      async collect() {
        const counts = await countByState();
        for (const state of FLEET_MESSAGE_STATES) this.set({ state }, counts[state] ?? 0);
      },
    });
  }

  /**
   * The watch engine's backlog, read on each scrape: lines it skipped because matching fell behind
   * (those were never checked against any pattern) and workers it replaced after a runaway pattern.
   */
  registerWatch(stats: () => { dropped: number; restarts: number; queued: number }): void {
    const restated = (name: string, help: string, value: (s: ReturnType<typeof stats>) => number) => new Counter({
      name: `${PREFIX}${name}`, help, registers: [this.registry],
      collect() {
        this.reset();
        this.inc(value(stats()));
      },
    });
    restated('watch_lines_skipped_total', 'Console lines never checked by the watch patterns because matching fell behind', (s) => s.dropped);
    restated('watch_worker_restarts_total', 'Watch workers replaced after a pattern overran its time budget', (s) => s.restarts);
    new Gauge({
      name: `${PREFIX}watch_lines_queued`, help: 'Console lines waiting to be checked by the watch patterns', registers: [this.registry],
      collect() {
        this.set(stats().queued);
      },
    });
  }

  /** Console bytes the output hub skipped (never split into lines for the sinks and watch patterns) because its lines' thread was behind. */
  registerOutputSkips(skipped: () => number): void {
    new Counter({
      name: `${PREFIX}output_bytes_skipped_total`,
      help: "Console bytes never split into lines for the output sinks and watch patterns because the lines' thread was behind",
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(skipped());
      },
    });
  }

  /** The output sinks hub calls this once with a reader of every sink's stats; read on each scrape. */
  registerSinks(source: () => Promise<SinkSample[]>): void {
    this.sinkSources.push(source);
  }

  /** One API request, as fastify's onResponse sees it; `route` undefined when no route matched. */
  observeRequest(method: string, route: string | undefined, statusCode: number, ms: number): void {
    this.apiRequests.observe({ method, route: route ?? 'unmatched', status_class: `${Math.floor(statusCode / 100)}xx` }, ms / 1000);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text exposition format, every collect() run first. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  private sinkMetrics(): void {
    // One read for the four metrics of a scrape: their collects run at once, and a read is a round trip to the lines' thread.
    let reading: Promise<SinkSample[]> | undefined;
    const samples = () => (reading ??= Promise.all(this.sinkSources.map((read) => read())).then((all) => all.flat()).finally(() => {
      reading = undefined;
    }));
    const labels = (s: SinkSample) => ({ sink: s.name, type: s.type });
    // The sinks keep their own running totals: each scrape restates them.
    const total = (name: string, help: string, value: (s: SinkSample) => number) => new Counter({
      name: `${PREFIX}${name}`, help, labelNames: ['sink', 'type'] as const, registers: [this.registry],
      async collect() {
        const all = await samples();
        this.reset();
        for (const s of all) this.inc(labels(s), value(s));
      },
    });
    const level = (name: string, help: string, value: (s: SinkSample) => number) => new Gauge({
      name: `${PREFIX}${name}`, help, labelNames: ['sink', 'type'] as const, registers: [this.registry],
      async collect() {
        const all = await samples();
        this.reset();
        for (const s of all) this.set(labels(s), value(s));
      },
    });
    total('sink_records_sent_total', 'Records an output sink delivered', (s) => s.sent);
    total('sink_records_dropped_total', "Records an output sink dropped because its queue was full", (s) => s.dropped);
    level('sink_records_queued', 'Records waiting in an output sink', (s) => s.queued);
    level('sink_connected', 'Whether an output sink is connected (1) or not (0)', (s) => (s.connected ? 1 : 0));
  }
}
