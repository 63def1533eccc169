// The composition root: config → data dir → store → drivers → console sessions → API listeners.
// Stop runs the same order backwards: listeners (raw console ports first), sessions (flushing logs), store.
import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import type { Socket } from 'node:net';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApp } from '../api/app.js';
import { Authenticator } from '../api/auth.js';
import { TcpAttachServer } from '../api/console-tcp.js';
import { AuditLog, clientEntry, type ClientEvent } from '../audit/index.js';
import { ConsoleManager } from '../console/manager.js';
import type { ClientView } from '../console/types.js';
import { RawPorts } from '../console/raw-ports.js';
import { builtinDrivers } from '../drivers/index.js';
import { errors } from '../errors.js';
import { KnownAgents } from '../fleet/known-agents.js';
import { DaemonMetrics } from '../metrics/index.js';
import type { NodeSpec } from '../model/node.js';
import { DEFAULT_MAX_AGE_MS } from '../fleet/signing.js';
import { NodeService } from '../nodes/service.js';
import { builtinPowerDrivers, PowerPoller, PowerService, type PowerActionEvent } from '../power/index.js';
import { powerEvent } from '../outputs/events.js';
import { OutputHub } from '../outputs/hub.js';
import { ConsoleLogFile, logFiles } from '../outputs/log-file.js';
import { WatchEngine } from '../outputs/watch.js';
import { SqliteStore } from '../store/sqlite.js';
import { parseTtl, TokenService } from '../tokens/service.js';
import type { Store } from '../store/types.js';
import { ensureAdminToken } from './admin-token.js';
import { fleetSocketPath, fleetTcpListen, parseListen, parsePortRange, SQLITE_MEMORY, type Config } from './config.js';
import { ensureDemoNode, startDemoAgent } from './demo.js';
import { FleetSide } from './fleet-side.js';
import { checkFleetTcpListen, checkPlaintextListen, createStreamServer, loadTlsMaterial } from './tls.js';

// Re-exported: the CLI's light commands import them from logger.js without loading the daemon.
export { createLogger, VERSION } from './logger.js';
import { createLogger, VERSION } from './logger.js';

export interface DaemonAddresses {
  /** http://host:port, or https:// when the daemon has a certificate. */
  http: string;
  consolePort: number | null;
}

export interface StartOptions {
  /** Where the one-time admin token notice goes (stderr by default). */
  announce?: (line: string) => void;
  logger?: Logger;
}

/** fleetMaxAge in ms: no longer than the agents' signing window, which would refuse the message anyway. */
function fleetMaxAgeMs(value: string): number {
  const age = parseTtl(value, 'fleetMaxAge');
  if (age > DEFAULT_MAX_AGE_MS) throw new errors.CONFIG(`fleetMaxAge: '${value}' is longer than the agents' signing window (7d), which would refuse such a message`);
  return age;
}

/** The SQLite file: dbPath (its folder made if need be), or switchboard.db in the data dir. */
async function storeFile(dbPath: string | undefined, dataDir: string): Promise<string> {
  if (dbPath === undefined) return path.join(dataDir, 'switchboard.db');
  if (dbPath === SQLITE_MEMORY) return dbPath;
  const file = path.resolve(dbPath);
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  return file;
}

export class Daemon {
  private stopping?: Promise<void>;

  private constructor(
    readonly config: Config,
    readonly logger: Logger,
    readonly addresses: DaemonAddresses,
    private readonly store: Store,
    private readonly tokens: TokenService,
    private readonly consoles: ConsoleManager,
    private readonly rawPorts: RawPorts,
    private readonly app: FastifyInstance,
    private readonly tcp: TcpAttachServer | undefined,
    private readonly poller: PowerPoller,
    private readonly fleet: FleetSide | undefined,
    private readonly outputs: OutputHub,
    private readonly watch: WatchEngine,
    private readonly audit: AuditLog,
  ) {}

  static async start(config: Config, opts: StartOptions = {}): Promise<Daemon> {
    const logger = opts.logger ?? createLogger(config.logLevel, config.logFormat);
    // Before anything is written or opened: a daemon that must not listen should leave no trace.
    const { host, port } = parseListen(config.listen);
    const tls = await loadTlsMaterial(config);
    checkPlaintextListen(host, tls, config.insecure, logger);
    const fleetTcp = fleetTcpListen(config);
    if (fleetTcp && config.natsUrl) checkFleetTcpListen(fleetTcp.host, config.insecure, logger);
    if (fleetTcp && !config.natsUrl) logger.warn({ fleetTcpListen: config.fleetTcpListen }, 'fleetTcpListen ignored: fleet messaging is not enabled (--nats)');
    if (tls && tls.validTo.getTime() < Date.now()) logger.warn({ validTo: tls.validTo }, 'the TLS certificate has expired: clients will refuse it');
    // Settings read as durations and ranges: refused here too, before anything is opened.
    const fleetMaxAge = config.natsUrl ? fleetMaxAgeMs(config.fleetMaxAge) : 0;
    const tokenMaxTtlMs = config.tokenMaxTtl ? parseTtl(config.tokenMaxTtl, 'tokenMaxTtl') : undefined;
    const rawPortRange = parsePortRange('rawPortRange', config.rawPortRange);
    const dataDir = path.resolve(config.dataDir);
    const logDir = path.join(dataDir, 'logs');
    await mkdir(logDir, { recursive: true, mode: 0o700 });

    const admin = await ensureAdminToken(dataDir, config.adminToken);
    if (admin.created) {
      (opts.announce ?? ((l) => process.stderr.write(`${l}\n`)))(
        `switchboard: generated admin token ${admin.token}\nswitchboard: it is stored in ${admin.file} (mode 0600) and will not be printed again`,
      );
    }

    // Before the store: nothing else is open yet should the data dir refuse the file.
    const audit = await AuditLog.open({ file: path.join(dataDir, 'audit.jsonl'), maxBytes: config.auditMaxBytes, keep: config.auditKeep, logger });
    const logOpts = { dir: logDir, maxBytes: config.logMaxBytes, keep: config.logKeep, timestamps: config.logTimestamps };
    // The sessions' specs, read when a line goes out, so a relabelled node is selected (by the sinks
    // and the watch patterns) at once.
    let specOf: (node: string) => NodeSpec | undefined = () => undefined;
    const outputs = await OutputHub.create({
      outputs: config.outputs, maxLineBytes: config.outputMaxLineBytes, idleFlushMs: config.outputIdleFlushMs,
      openLog: (node) => new ConsoleLogFile(node, logOpts, logger), labelsOf: (node) => specOf(node)?.labels, logger,
    });
    const store = new SqliteStore(await storeFile(config.dbPath, dataDir));
    store.events.once('checkpoint-failed', (err: Error) => logger.warn({ err }, 'store checkpoint thread failed; SQLite checkpoints on the event loop again'));
    const metrics = new DaemonMetrics();
    metrics.registerFleet(() => store.fleet.countByState());
    metrics.registerSinks(() => outputs.stats());
    metrics.registerOutputSkips(() => outputs.skippedBytes);
    const drivers = builtinDrivers();
    // 'changed' (node): the node's view changed for a reason of its own (a watch match, an agent's hello): live pages show it.
    const viewChanged = new EventEmitter().setMaxListeners(0); // one listener per open page
    const watch = new WatchEngine({
      patterns: config.watchPatterns, nodeOf: (node) => specOf(node), logger, budgetMs: config.watchBudgetMs, webhook: { tries: config.watchWebhookTries },
      countersFile: path.join(dataDir, 'watch-state.json'),
      onEvent: (node, ev) => {
        if (ev.event === 'watch') metrics.watchMatches.inc({ pattern: String(ev.pattern) });
        outputs.event(node, ev); // to the sinks, and the node's log
        viewChanged.emit('changed', node); // its watch counters
      },
    });
    outputs.addLineObserver((node, lines, time) => watch.onLines(node, lines, time), (node) => watch.watches(node));
    if (config.watchPatterns.length > 0) outputs.startLines();
    metrics.registerWatch(() => watch.stats());
    const consoles = new ConsoleManager({
      drivers,
      hostKeys: store.hostKeys,
      logger,
      openOutput: (node) => outputs.open(node),
      meter: metrics.consoleMeter,
      options: {
        replayBytes: config.replayBytes,
        replayLines: config.replayLines,
        reconnectMinMs: config.reconnectMinMs,
        reconnectMaxMs: config.reconnectMaxMs,
        ondemandGraceMs: config.ondemandGraceMs,
        breakSequences: config.breaks,
        clientHighWaterBytes: 1024 * 1024,
        slowClientMs: 10_000,
        cols: 80,
        rows: 24,
      },
    });
    specOf = (node) => consoles.spec(node);
    // Every attach point (WebSocket, TCP, raw ports, OBMd's stream) goes through a session, which tells who came and went.
    consoles.on('client', (node: string, event: ClientEvent, view: ClientView, reason?: string) => audit.record(clientEntry(node, event, view, reason)));
    metrics.registerConsoles(() => consoles.census());
    const powerDrivers = builtinPowerDrivers();
    const power = new PowerService({ drivers: powerDrivers, logger, concurrency: config.powerConcurrency });
    // Through the node's session when it runs, so the people attached see who powered it off.
    power.on('action', (e: PowerActionEvent) => {
      const event = powerEvent(e);
      if (!consoles.announce(e.node, event)) outputs.event(e.node, event, e.labels);
    });
    // Every byte-stream listener (TCP attach, raw console ports) speaks TLS when the daemon has certs.
    const streamServer = (onConnection: (socket: Socket) => void) => createStreamServer(tls, onConnection);
    const rawPorts = new RawPorts({ consoles, logger, host, createServer: streamServer });
    const tokens = new TokenService({ store: store.tokens, logger, maxTtlMs: tokenMaxTtlMs });
    const agents = config.natsUrl ? await KnownAgents.open(path.join(dataDir, 'fleet-agents.json'), logger) : new KnownAgents();
    agents.on('heard', (node: string) => viewChanged.emit('changed', node)); // its agent's last-seen time
    const nodes = new NodeService({
      store, consoles, drivers, power: powerDrivers, knownPower: (name) => power.lastKnown(name), knownAgent: (name) => agents.get(name), knownWatch: (name, spec) => watch.status(name, spec), configWatchNames: config.watchPatterns.map((p) => p.name), tokens, logger, logFiles: (name) => logFiles(logDir, name, config.logKeep),
      rawPorts: { ports: rawPorts, range: rawPortRange },
    });
    const auth = new Authenticator(admin.token, tokens);
    nodes.on('deleted', (name: string) => power.forget(name));
    nodes.on('deleted', (name: string) => watch.forget(name));
    const poller = new PowerPoller(power, () => store.nodes.list(), logger); // records: views mask the passwords

    let app: FastifyInstance | undefined;
    let tcp: TcpAttachServer | undefined;
    // The nats* settings are NatsSettings (nats-connect.ts) by name.
    const fleet = config.natsUrl ? new FleetSide({
      controller: { nats: { ...config, natsUrl: config.natsUrl }, prefix: config.fleetPrefix, maxQueued: config.fleetMaxQueued, maxAgeMs: fleetMaxAge, fleetName: config.fleetName, dataDir, store: store.fleet, logger, agents, audit: { maxBytes: config.auditMaxBytes, keep: config.auditKeep } },
      inputs: {
        logger,
        maxBytes: config.bodyLimit, // the same submissions as the API takes
        socketPath: fleetSocketPath(config, dataDir),
        tcp: fleetTcp && { ...fleetTcp, createServer: (onConnection) => createStreamServer(tls, onConnection, { allowHalfOpen: true }) },
      },
      // The demo node gets an agent too, so `switchboard run demo -- ...` works out of the box.
      demoAgent: config.demo ? (controller) => startDemoAgent(controller, { ...config, natsUrl: config.natsUrl! }, config.fleetPrefix, dataDir, logger, VERSION) : undefined,
      logger,
    }) : undefined;
    try {
      await tokens.prune();
      if (config.demo) await ensureDemoNode(nodes);
      const count = await nodes.startAll();
      await fleet?.start();
      app = await buildApp({
        auth, tokens, nodes, power, consoles, logger, version: VERSION, bodyLimit: config.bodyLimit, clientHighWaterBytes: 1024 * 1024,
        authFailuresPerMinute: config.authFailuresPerMinute, publicUrl: config.publicUrl, https: tls, listenHost: host, obmdCompat: config.obmdCompat, fleet: fleet && (() => fleet.get()), fleetStatus: fleet && (() => fleet.status), fleetSigner: fleet && (() => fleet.publicKey), outputs, audit,
        metrics, metricsToken: config.metricsToken, viewChanged,
      });
      await app.listen({ host, port });
      const httpPort = (app.server.address() as { port: number }).port;
      let consolePort: number | null = null;
      if (config.consolePort >= 0) {
        tcp = new TcpAttachServer({
          auth, tokens, limiter: app.loginLimiter, nodes, consoles, logger, createServer: streamServer,
        });
        consolePort = (await tcp.listen(host, config.consolePort)).port;
      }
      await nodes.openRawPorts();
      const urlHost = host.includes(':') ? `[${host}]` : host;
      const addresses = { http: `${tls ? 'https' : 'http'}://${urlHost}:${httpPort}`, consolePort };
      // fleet: false (no --nats), true (running), or 'waiting for NATS' (it starts when NATS answers).
      const fleetState = fleet ? (fleet.running || 'waiting for NATS') : false;
      const inputs = { fleetSocket: fleet?.socketPath ?? null, fleetTcp: fleet?.tcpAddress ?? null };
      logger.info({ ...addresses, tls: tls !== undefined, nodes: count, sessions: consoles.size, fleet: fleetState, ...inputs, dataDir, version: VERSION }, 'switchboard ready');
      poller.start(config.powerPollSeconds);
      return new Daemon(config, logger, addresses, store, tokens, consoles, rawPorts, app, tcp, poller, fleet, outputs, watch, audit);
    } catch (err) {
      tokens.close();
      await fleet?.stop();
      await tcp?.close();
      await rawPorts.close('daemon failed to start');
      await app?.close();
      await consoles.stopAll('daemon failed to start');
      await watch.close();
      await outputs.close();
      await store.close();
      await audit.close();
      throw err;
    }
  }

  /** Idempotent: a second signal during shutdown waits for the first. */
  stop(reason = 'daemon stopping'): Promise<void> {
    this.stopping ??= (async () => {
      this.logger.info({ reason }, 'switchboard stopping');
      await this.tcp?.close();
      this.tokens.close();
      this.poller.stop();
      // Before the sessions: raw clients hear why from their port, not a session ending under it.
      await this.rawPorts.close(reason);
      // Sessions first: they tell attached WebSocket clients why before the server closes them.
      await this.consoles.stopAll(reason);
      this.logger.debug('console sessions stopped');
      await this.watch.close(); // its last events go to the outputs
      await this.outputs.close(); // after the sessions: their last lines and events are queued by now
      await this.app.close();
      this.logger.debug('API closed');
      // After the API (no new submissions), before the store (replies still being recorded): the
      // inputs close, those under way are answered, the demo agent stops, NATS is drained.
      await this.fleet?.stop();
      await this.store.close();
      // Last: the sessions' detaches and the API's last calls are in it.
      await this.audit.close();
      this.logger.info('switchboard stopped');
      this.logger.flush();
    })();
    return this.stopping;
  }
}
