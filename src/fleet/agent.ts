// `switchboard agent`: takes its node's messages from its durable consumer, one at a time, in order.
// Every envelope is verified first; what is refused is acked (a redelivery would be refused
// again), logged with the reason, and answered with a failed reply when it names a usable id.
// A message is acked only once its final reply is stored by JetStream: an agent that dies before
// that gets the message again, and the seen store (signing.ts) keeps it from running twice.
import type { KeyObject } from 'node:crypto';
import type { JsMsg } from 'nats';
import type { Logger } from 'pino';
import type { AddressedMessage } from './message.js';
import { runCommand } from './methods/cli-command.js';
import { FleetTransport, isSubjectToken, redactNatsUrl } from './nats-transport.js';
import { FileSeenStore } from './seen-ids.js';
import { EnvelopeRejected, EnvelopeVerifier } from './signing.js';
import type { CommandPayload, FleetReply } from './wire.js';

export interface AgentOptions {
  node: string;
  natsUrl: string;
  prefix: string;
  dataDir: string;
  allowed: KeyObject[];
  logger: Logger;
  /** Redelivery after this long without an ack; a running method keeps extending it. */
  ackWaitMs?: number;
  /** Deliveries of one message before JetStream gives up on it. */
  maxDeliver?: number;
}

export const AGENT_DEFAULTS = { ackWaitMs: 30_000, maxDeliver: 5 } as const;

export class FleetAgent {
  private stopping = false;
  private messages?: Awaited<ReturnType<Awaited<ReturnType<FleetTransport['agentConsumer']>>['consume']>>;
  private loop?: Promise<void>;

  private constructor(
    private readonly opts: AgentOptions,
    private readonly transport: FleetTransport,
    private readonly verifier: EnvelopeVerifier,
    private readonly seen: FileSeenStore,
    private readonly log: Logger,
  ) {}

  static async start(opts: AgentOptions): Promise<FleetAgent> {
    const log = opts.logger.child({ node: opts.node });
    const seen = await FileSeenStore.open(opts.dataDir);
    const verifier = new EnvelopeVerifier({ node: opts.node, allowed: opts.allowed, seen });
    let transport: FleetTransport;
    try {
      transport = await FleetTransport.connect(opts.natsUrl, opts.prefix, `switchboard-agent-${opts.node}`);
    } catch (err) {
      await seen.close();
      throw err;
    }
    const agent = new FleetAgent(opts, transport, verifier, seen, log);
    const ackWaitMs = opts.ackWaitMs ?? AGENT_DEFAULTS.ackWaitMs;
    const consumer = await transport.agentConsumer(opts.node, { ackWaitMs, maxDeliver: opts.maxDeliver ?? AGENT_DEFAULTS.maxDeliver });
    agent.messages = await consumer.consume({ max_messages: 1 });
    agent.loop = agent.run(ackWaitMs);
    log.info({ nats: redactNatsUrl(opts.natsUrl), subject: transport.subjects.cmd(opts.node), consumer: transport.subjects.agentConsumer(opts.node) }, 'fleet agent ready');
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

  private async execute(message: AddressedMessage): Promise<Omit<FleetReply, 'id' | 'node' | 'at'>> {
    if (message.method !== 'cliCommand' && message.method !== 'nCliCommand') {
      return { state: 'failed', errorCode: 'NOT_SUPPORTED', error: `method ${message.method} is not supported by this agent yet` };
    }
    const r = await runCommand(message.args, { timeoutMs: message.methodTimeout * 1000 });
    const output = { exitCode: r.exitCode, signal: r.signal, stdout: r.stdout, stderr: r.stderr, ...(r.truncated && { truncated: true }) };
    if (r.spawnError) return { ...output, state: 'failed', errorCode: 'SPAWN_FAILED', error: r.spawnError };
    if (r.timedOut) {
      return { ...output, state: 'failed', errorCode: 'TIMEOUT', error: `methodTimeout: killed the command's process group after ${message.methodTimeout}s` };
    }
    return { ...output, state: 'replied' };
  }

  private async reply(reply: FleetReply): Promise<void> {
    await this.transport.publishJson(this.transport.subjects.reply(reply.id), reply);
  }

  /** Stops taking messages, lets the current one finish, closes NATS and the seen store. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.messages?.stop();
    await this.loop;
    await this.transport.drain();
    await this.seen.close();
    this.log.info('fleet agent stopped');
  }
}
