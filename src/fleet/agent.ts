// `switchboard agent`: takes its node's messages from its durable consumer, one at a time, in order.
// Every envelope is verified first; what is refused is acked (a redelivery would be refused
// again), logged with the reason, and answered with a failed reply when it names a usable id.
// A message is acked only once its final reply is stored by JetStream: an agent that dies before
// that gets the message again, and the seen store (signing.ts) keeps it from running twice.
// Besides, the agent says hello (hello.ts) at start and every helloIntervalMs.
// Which methods run, and for which senders, is the method policy's (method-policy.ts); the agent's
// own errors go to the daemon's central error log (error-report.ts).
import type { KeyObject } from 'node:crypto';
import { hostname } from 'node:os';
import type { JsMsg } from 'nats';
import type { Logger } from 'pino';
import { ErrorReporter } from './error-report.js';
import { DEFAULT_HELLO_INTERVAL_S, HelloTimer, type AgentHello } from './hello.js';
import type { AddressedMessage } from './message.js';
import { MethodPolicy, type PolicyFlags } from './method-policy.js';
import { runCommand } from './methods/cli-command.js';
import { BODY_CAP_BYTES, httpGet } from './methods/http-get.js';
import { runOp } from './methods/op-command.js';
import { FleetTransport, isSubjectToken, redactNatsUrl } from './nats-transport.js';
import { RunningMethods } from './running.js';
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
  /** The agent's switchboard version, told in its hellos. */
  version: string;
  /** Between hellos; the first goes out at start. */
  helloIntervalMs?: number;
  /** --methods and --allowed-nodes; run-time changes saved in dataDir win over them. */
  policy?: PolicyFlags;
}

export const AGENT_DEFAULTS = { ackWaitMs: 30_000, maxDeliver: 5 } as const;

/** What a method's run adds to the reply. */
type Outcome = Omit<FleetReply, 'id' | 'node' | 'at'>;

export class FleetAgent {
  private stopping = false;
  private messages?: Awaited<ReturnType<Awaited<ReturnType<FleetTransport['agentConsumer']>>['consume']>>;
  private loop?: Promise<void>;
  private readonly hellos: HelloTimer;
  private readonly running = new RunningMethods();
  private readonly errors: ErrorReporter;

  private constructor(
    private readonly opts: AgentOptions,
    private readonly transport: FleetTransport,
    private readonly verifier: EnvelopeVerifier,
    private readonly seen: FileSeenStore,
    private readonly log: Logger,
    private readonly policy: MethodPolicy,
  ) {
    this.hellos = new HelloTimer(() => this.announce(), opts.helloIntervalMs ?? DEFAULT_HELLO_INTERVAL_S * 1000);
    this.errors = new ErrorReporter(opts.node, (event) => transport.publishEvent(transport.subjects.errlog(opts.node), event), log);
  }

  static async start(opts: AgentOptions): Promise<FleetAgent> {
    const log = opts.logger.child({ node: opts.node });
    const policy = await MethodPolicy.open(opts.dataDir, opts.policy ?? {});
    const seen = await FileSeenStore.open(opts.dataDir);
    const verifier = new EnvelopeVerifier({ node: opts.node, allowed: opts.allowed, seen });
    let transport: FleetTransport;
    try {
      transport = await FleetTransport.connect(opts.natsUrl, opts.prefix, `switchboard-agent-${opts.node}`);
    } catch (err) {
      await seen.close();
      throw err;
    }
    const agent = new FleetAgent(opts, transport, verifier, seen, log, policy);
    const ackWaitMs = opts.ackWaitMs ?? AGENT_DEFAULTS.ackWaitMs;
    const consumer = await transport.agentConsumer(opts.node, { ackWaitMs, maxDeliver: opts.maxDeliver ?? AGENT_DEFAULTS.maxDeliver });
    agent.messages = await consumer.consume({ max_messages: 1 });
    agent.loop = agent.run(ackWaitMs);
    agent.hellos.start();
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
        this.errors.report({ code: 'HANDLING_FAILED', message: `message seq ${msg.seq}: ${(err as Error).message}` });
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
    let from: unknown;
    try {
      ({ message, from } = (await this.verifier.verify(envelope)).payload as CommandPayload);
    } catch (err) {
      if (!(err instanceof EnvelopeRejected)) throw err;
      this.log.warn({ reason: err.reason, id: err.id, detail: err.detail, seq: msg.seq, deliveries: msg.info.redeliveryCount }, 'fleet message refused');
      this.errors.report({ code: `REFUSED_${err.reason}`, message: err.message, ...(err.id && isSubjectToken(err.id) && { id: err.id }) });
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
    this.running.add(message.id, message.method);
    try {
      final = { ...base, ...(await this.execute(message, typeof from === 'string' ? from : undefined)), at: Date.now() };
    } finally {
      clearInterval(working);
      this.running.remove(message.id);
    }
    await this.reply(final);
    await msg.ackAck();
    this.log.info({ id: message.id, state: final.state, exitCode: final.exitCode, errorCode: final.errorCode }, 'fleet message done');
  }

  private async execute(message: AddressedMessage, from: string | undefined): Promise<Outcome> {
    const refusal = this.policy.check(message.method, from);
    if (refusal) {
      this.log.warn({ id: message.id, method: message.method, from, errorCode: refusal.errorCode }, 'fleet message refused by the method policy');
      this.errors.report({ code: refusal.errorCode, message: refusal.error, id: message.id, method: message.method });
      return { state: 'failed', ...refusal };
    }
    switch (message.method) {
      case 'cliCommand':
      case 'nCliCommand':
        return this.runCli(message);
      case 'httpGet':
        return this.fetchUrl(message);
      case 'hello':
        this.announce();
        return { state: 'replied' };
      case 'errorLog':
        this.errors.report({ code: 'ERROR_LOG', message: message.args.join(' ') || '(no text)', id: message.id, method: message.method });
        return { state: 'replied' };
      case 'op':
        return runOp(message.op!, { node: this.opts.node, from, policy: this.policy, running: this.running, log: this.log });
      default:
        return { state: 'failed', errorCode: 'NOT_SUPPORTED', error: `method ${message.method} is not supported by this agent yet` };
    }
  }

  private async runCli(message: AddressedMessage): Promise<Outcome> {
    const r = await runCommand(message.args, { timeoutMs: message.methodTimeout * 1000, onSpawn: (pid) => this.running.setPid(message.id, pid) });
    const output = { exitCode: r.exitCode, signal: r.signal, stdout: r.stdout, stderr: r.stderr, ...(r.truncated && { truncated: true }) };
    if (r.spawnError) {
      this.errors.report({ code: 'SPAWN_FAILED', message: r.spawnError, id: message.id, method: message.method });
      return { ...output, state: 'failed', errorCode: 'SPAWN_FAILED', error: r.spawnError };
    }
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
