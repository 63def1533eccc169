// `switchboard agent`: takes its node's messages from its durable consumer, one at a time, in order.
// Every envelope is verified first; what is refused is acked (a redelivery would be refused
// again), logged with the reason, and answered with a failed reply when it names a usable id.
// A message is acked only once its final reply is stored by JetStream: an agent that dies before
// that gets the message again, and the seen store (signing.ts) keeps it from running twice.
// Besides, the agent says hello (hello.ts) at start and every helloIntervalMs.
import type { KeyObject } from 'node:crypto';
import { hostname } from 'node:os';
import type { JsMsg } from 'nats';
import type { Logger } from 'pino';
import { errors } from '../errors.js';
import { DEFAULT_HELLO_INTERVAL_S, HelloTimer, type AgentHello } from './hello.js';
import type { AddressedMessage } from './message.js';
import { runCommand } from './methods/cli-command.js';
import { BODY_CAP_BYTES, httpGet } from './methods/http-get.js';
import { isPermissionError, natsClientOptions, redactNatsUrl, type NatsSettings } from './nats-connect.js';
import { agentInboxPrefix } from './nats-permissions.js';
import { FleetTransport, isSubjectToken } from './nats-transport.js';
import { FileSeenStore } from './seen-ids.js';
import { EnvelopeRejected, EnvelopeVerifier } from './signing.js';
import type { CommandPayload, FleetReply } from './wire.js';

export interface AgentOptions {
  node: string;
  /** The server, credentials and TLS (nats-connect.ts). */
  nats: NatsSettings;
  prefix: string;
  dataDir: string;
  allowed: KeyObject[];
  logger: Logger;
  /** Redelivery after this long without an ack; a running method keeps extending it. */
  ackWaitMs?: number;
  /** Deliveries of one message before JetStream gives up on it. */
  maxDeliver?: number;
  /** The agent's switchboard version, told in its hellos. */
  version: string;
  /** Between hellos; the first goes out at start. */
  helloIntervalMs?: number;
}

/** A NATS user made for another node (nats-permissions.ts) may neither read this node's inbox nor use its consumer. */
function refusedNode(node: string, err: Error): Error {
  return new errors.FLEET_UNAVAILABLE(`node ${node}: the NATS user may not use this node's subjects (${err.message}); are --node and the credentials for the same node?`);
}

export const AGENT_DEFAULTS = { ackWaitMs: 30_000, maxDeliver: 5 } as const;

/** What a method's run adds to the reply. */
type Outcome = Omit<FleetReply, 'id' | 'node' | 'at'>;

export class FleetAgent {
  private stopping = false;
  private messages?: Awaited<ReturnType<Awaited<ReturnType<FleetTransport['agentConsumer']>>['consume']>>;
  private loop?: Promise<void>;
  private readonly hellos: HelloTimer;

  private constructor(
    private readonly opts: AgentOptions,
    private readonly transport: FleetTransport,
    private readonly verifier: EnvelopeVerifier,
    private readonly seen: FileSeenStore,
    private readonly log: Logger,
  ) {
    this.hellos = new HelloTimer(() => this.announce(), opts.helloIntervalMs ?? DEFAULT_HELLO_INTERVAL_S * 1000);
  }

  static async start(opts: AgentOptions): Promise<FleetAgent> {
    const log = opts.logger.child({ node: opts.node });
    const seen = await FileSeenStore.open(opts.dataDir);
    const verifier = new EnvelopeVerifier({ node: opts.node, allowed: opts.allowed, seen });
    let transport: FleetTransport;
    try {
      const client = await natsClientOptions(opts.nats, `switchboard-agent-${opts.node}`, { inboxPrefix: agentInboxPrefix(opts.node) });
      transport = await FleetTransport.connect(client, opts.prefix);
    } catch (err) {
      await seen.close();
      throw isPermissionError(err) ? refusedNode(opts.node, err as Error) : err;
    }
    const agent = new FleetAgent(opts, transport, verifier, seen, log);
    const ackWaitMs = opts.ackWaitMs ?? AGENT_DEFAULTS.ackWaitMs;
    try {
      const consumer = await transport.agentConsumer(opts.node, { ackWaitMs, maxDeliver: opts.maxDeliver ?? AGENT_DEFAULTS.maxDeliver });
      agent.messages = await consumer.consume({ max_messages: 1 });
    } catch (err) {
      await transport.drain();
      await seen.close();
      throw isPermissionError(err) ? refusedNode(opts.node, err as Error) : err;
    }
    agent.loop = agent.run(ackWaitMs);
    agent.hellos.start();
    log.info({ nats: redactNatsUrl(opts.nats.natsUrl), subject: transport.subjects.cmd(opts.node), consumer: transport.subjects.agentConsumer(opts.node) }, 'fleet agent ready');
    return agent;
  }

  private async run(ackWaitMs: number): Promise<void> {
    for await (const msg of this.messages!) {
      try {
        await this.handle(msg, ackWaitMs);
      } catch (err) {
        // Not acked: JetStream delivers it again after ack_wait, and the seen store decides.
        this.log.error({ err, seq: msg.seq }, 'fleet message handling failed');
      }
      if (this.stopping) break;
    }
  }

  private async handle(msg: JsMsg, ackWaitMs: number): Promise<void> {
    let envelope: unknown;
    try {
      envelope = JSON.parse(msg.string());
    } catch {
      envelope = undefined;
    }
    let message: AddressedMessage;
    try {
      ({ message } = (await this.verifier.verify(envelope)).payload as CommandPayload);
    } catch (err) {
      if (!(err instanceof EnvelopeRejected)) throw err;
      this.log.warn({ reason: err.reason, id: err.id, detail: err.detail, seq: msg.seq, deliveries: msg.info.redeliveryCount }, 'fleet message refused');
      if (err.id && isSubjectToken(err.id)) {
        await this.reply({ id: err.id, node: this.opts.node, state: 'failed', errorCode: `REFUSED_${err.reason}`, error: err.message, at: Date.now() });
      }
      await msg.ackAck();
      return;
    }
    const base = { id: message.id, node: this.opts.node };
    this.log.info({ id: message.id, method: message.method, index: message.index }, 'fleet message running');
    await this.reply({ ...base, state: 'running', at: Date.now() });
    // A running method keeps the message ours: without this JetStream would hand it out again after ack_wait.
    const working = setInterval(() => msg.working(), Math.max(ackWaitMs / 3, 100));
    let final: FleetReply;
    try {
      final = { ...base, ...(await this.execute(message)), at: Date.now() };
    } finally {
      clearInterval(working);
    }
    await this.reply(final);
    await msg.ackAck();
    this.log.info({ id: message.id, state: final.state, exitCode: final.exitCode, errorCode: final.errorCode }, 'fleet message done');
  }

  private async execute(message: AddressedMessage): Promise<Outcome> {
    switch (message.method) {
      case 'cliCommand':
      case 'nCliCommand':
        return this.runCli(message);
      case 'httpGet':
        return this.fetchUrl(message);
      case 'hello':
        this.announce();
        return { state: 'replied' };
      default:
        return { state: 'failed', errorCode: 'NOT_SUPPORTED', error: `method ${message.method} is not supported by this agent yet` };
    }
  }

  private async runCli(message: AddressedMessage): Promise<Outcome> {
    const r = await runCommand(message.args, { timeoutMs: message.methodTimeout * 1000 });
    const output = { exitCode: r.exitCode, signal: r.signal, stdout: r.stdout, stderr: r.stderr, ...(r.truncated && { truncated: true }) };
    if (r.spawnError) return { ...output, state: 'failed', errorCode: 'SPAWN_FAILED', error: r.spawnError };
    if (r.timedOut) {
      return { ...output, state: 'failed', errorCode: 'TIMEOUT', error: `methodTimeout: killed the command's process group after ${message.methodTimeout}s` };
    }
    return { ...output, state: 'replied' };
  }

  /** The body goes in stdout, so console and file replies carry it as they carry a command's output. */
  private async fetchUrl(message: AddressedMessage): Promise<Outcome> {
    const url = message.args[0];
    const r = await httpGet(url, { timeoutMs: message.methodTimeout * 1000 });
    const output = {
      stdout: r.body,
      ...(r.status !== undefined && { httpStatus: r.status }),
      ...(r.truncated && { truncated: true, stderr: `the body was cut at ${BODY_CAP_BYTES} bytes\n` }),
    };
    if (r.timedOut) return { ...output, exitCode: null, state: 'failed', errorCode: 'TIMEOUT', error: `methodTimeout: GET ${url} aborted after ${message.methodTimeout}s` };
    if (r.networkError !== undefined) return { ...output, exitCode: 1, state: 'failed', errorCode: 'HTTP_FAILED', error: `GET ${url}: ${r.networkError}` };
    if (r.status! < 200 || r.status! > 299) {
      return { ...output, exitCode: 1, state: 'failed', errorCode: 'HTTP_STATUS', error: `GET ${url}: ${r.status} ${r.statusText ?? ''}`.trimEnd() };
    }
    return { ...output, exitCode: 0, state: 'replied' };
  }

  private announce(): void {
    const hello: AgentHello = {
      node: this.opts.node, version: this.opts.version, host: hostname(), uptime: Math.round(process.uptime()), pid: process.pid, at: Date.now(),
    };
    try {
      this.transport.publishEvent(this.transport.subjects.hello(this.opts.node), hello);
      this.log.debug({ subject: this.transport.subjects.hello(this.opts.node) }, 'fleet hello sent');
    } catch (err) {
      // Closed or draining connection: the next interval tries again.
      this.log.warn({ err }, 'fleet hello not sent');
    }
  }

  private async reply(reply: FleetReply): Promise<void> {
    await this.transport.publishJson(this.transport.subjects.reply(reply.id), reply);
  }

  /** Stops taking messages, lets the current one finish, closes NATS and the seen store. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.hellos.stop();
    this.messages?.stop();
    await this.loop;
    await this.transport.drain();
    await this.seen.close();
    this.log.info('fleet agent stopped');
  }
}
