// `switchboard agent`: takes its node's messages from one durable consumer per lane (lanes.ts):
// one envelope at a time and its messages in order on the ordered lanes, side by side on the n lane.
// An envelope (wire.ts) holds the messages submitted together for this node and lane; it is
// verified once, each message is taken (recorded in the seen store) just before it runs; an
// envelope of instant messages (hello, errorLog, op) has all its ids recorded at once, then runs
// them back to back, their replies leaving together. What is
// refused is acked (a redelivery would be refused again), logged with the reason, and answered with
// a failed reply for each id it names. An envelope is acked only once the final reply of each of
// its messages is stored by JetStream: an agent that dies before that gets it again, and the seen
// store (signing.ts) keeps what it had taken from running twice; the rest run then.
// Replies are stored in the order made, several at a time when they come fast (reply-queue.ts);
// each is tried 1 + replyRetries times, replyACKTimeout apart (steward's fields), then lost.
// Besides, the agent says hello (hello.ts) at start and every helloIntervalMs.
// Which methods run, and for which senders, is the method policy's (method-policy.ts); the agent's
// own errors go to the daemon's central error log (error-report.ts).
import type { KeyObject } from 'node:crypto';
import { hostname } from 'node:os';
import type { JsMsg } from 'nats';
import pLimit, { type LimitFunction } from 'p-limit';
import type { Logger } from 'pino';
import { errors } from '../errors.js';
import { ErrorReporter } from './error-report.js';
import { DEFAULT_HELLO_INTERVAL_S, HelloTimer, type AgentHello } from './hello.js';
import { FLEET_DEFAULTS, type AddressedMessage } from './message.js';
import { MethodPolicy, type PolicyFlags } from './method-policy.js';
import { runCommand } from './methods/cli-command.js';
import { streamCommand } from './methods/cli-command-cont.js';
import { tailFile } from './methods/tail-file.js';
import { BODY_CAP_BYTES, httpGet } from './methods/http-get.js';
import { DEFAULT_N_CONCURRENCY, isOrdered, laneOf, LANES } from './lanes.js';
import { runOp } from './methods/op-command.js';
import { isPermissionError, LoggedWait, natsClientOptions, redactNatsUrl, type NatsSettings } from './nats-connect.js';
import { agentInboxPrefix } from './nats-permissions.js';
import { FleetTransport, isSubjectToken } from './nats-transport.js';
import { ProcessGroups } from './process-groups.js';
import { RunningMethods } from './running.js';
import { FileSeenStore } from './seen-ids.js';
import { EnvelopeRejected, EnvelopeVerifier, type VerifiedEnvelope } from './signing.js';
import { ReplyQueue, type ReplyStore, type ReplyTiming } from './reply-queue.js';
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
  /** n-method messages run at the same time (lanes.ts). */
  concurrency?: number;
  /** --methods and --allowed-nodes; run-time changes saved in dataDir win over them. */
  policy?: PolicyFlags;
  /** Gives up waiting for NATS at start (the process is told to stop): start() rejects with its reason. */
  signal?: AbortSignal;
}

/** A NATS user made for another node (nats-permissions.ts) may neither read this node's inbox nor use its consumer. */
function refusedNode(node: string, err: Error): Error {
  return new errors.FLEET_UNAVAILABLE(`node ${node}: the NATS user may not use this node's subjects (${err.message}); are --node and the credentials for the same node?`);
}

export const AGENT_DEFAULTS = { ackWaitMs: 30_000, maxDeliver: 5 } as const;

/** What a method's run adds to the reply. */
type Outcome = Omit<FleetReply, 'id' | 'node' | 'at'>;

/** A message taken and run (runTaken): whether its replies were stored, and, if it ran, how it ended. */
interface Run {
  stored: Promise<boolean>;
  final?: { id: string; method: string; state: FleetReply['state']; errorCode?: string };
}

type Messages = Awaited<ReturnType<Awaited<ReturnType<FleetTransport['agentConsumer']>>['consume']>>;

export class FleetAgent {
  private stopping = false;
  private readonly lanes: Messages[] = [];
  private readonly loops: Promise<void>[] = [];
  private readonly hellos: HelloTimer;
  /** announceSoon has one on its way. */
  private announcing = false;
  private readonly running = new RunningMethods();
  private readonly errors: ErrorReporter;
  private readonly replies = new ReplyQueue(this.replyStore());

  private constructor(
    private readonly opts: AgentOptions,
    private readonly transport: FleetTransport,
    private readonly verifier: EnvelopeVerifier,
    private readonly seen: FileSeenStore,
    private readonly log: Logger,
    private readonly policy: MethodPolicy,
    private readonly groups: ProcessGroups,
  ) {
    this.hellos = new HelloTimer(() => this.announce(), opts.helloIntervalMs ?? DEFAULT_HELLO_INTERVAL_S * 1000);
    this.errors = new ErrorReporter(opts.node, (event) => transport.publishEvent(transport.subjects.errlog(opts.node), event), log);
  }

  static async start(opts: AgentOptions): Promise<FleetAgent> {
    const log = opts.logger.child({ node: opts.node });
    const policy = await MethodPolicy.open(opts.dataDir, opts.policy ?? {});
    // First of all: what an earlier run of this agent left running is ended.
    const groups = await ProcessGroups.open(opts.dataDir, log);
    const seen = await FileSeenStore.open(opts.dataDir);
    const verifier = new EnvelopeVerifier({ node: opts.node, allowed: opts.allowed, seen });
    let transport: FleetTransport;
    try {
      const client = await natsClientOptions(opts.nats, `switchboard-agent-${opts.node}`, { inboxPrefix: agentInboxPrefix(opts.node) });
      // A link that is down at start (a ship at sea) is waited for, however long: the messages queue meanwhile.
      const wait = new LoggedWait(log, 'NATS not reachable; trying again', opts.signal);
      transport = await FleetTransport.connect(client, opts.prefix, wait);
      if (wait.since) log.info({ nats: redactNatsUrl(opts.nats.natsUrl), waitedMs: wait.waitedMs }, 'NATS reachable');
    } catch (err) {
      await seen.close();
      await groups.close();
      throw isPermissionError(err) ? refusedNode(opts.node, err as Error) : err;
    }
    transport.logConnection(log, redactNatsUrl(opts.nats.natsUrl));
    const agent = new FleetAgent(opts, transport, verifier, seen, log, policy, groups);
    const ackWaitMs = opts.ackWaitMs ?? AGENT_DEFAULTS.ackWaitMs;
    const concurrency = opts.concurrency ?? DEFAULT_N_CONCURRENCY;
    try {
      for (const lane of LANES) {
        const consumer = await transport.agentConsumer(opts.node, lane, { ackWaitMs, maxDeliver: opts.maxDeliver ?? AGENT_DEFAULTS.maxDeliver, concurrency });
        const messages = await consumer.consume({ max_messages: isOrdered(lane) ? 1 : concurrency });
        agent.lanes.push(messages);
        agent.loops.push(isOrdered(lane) ? agent.runOrdered(messages, ackWaitMs) : agent.runConcurrent(messages, ackWaitMs, concurrency));
      }
    } catch (err) {
      await agent.stop();
      throw isPermissionError(err) ? refusedNode(opts.node, err as Error) : err;
    }
    agent.hellos.start();
    log.info({ nats: redactNatsUrl(opts.nats.natsUrl), subjects: transport.subjects.cmdAll(opts.node), lanes: LANES.length, concurrency }, 'fleet agent ready');
    return agent;
  }

  /** One envelope at a time, its messages one after another; JetStream hands out the next envelope only after this one is acked. */
  private async runOrdered(messages: Messages, ackWaitMs: number): Promise<void> {
    for await (const msg of messages) {
      await this.handleSafely(msg, ackWaitMs);
      if (this.stopping) break;
    }
  }

  /**
   * The n lane: each envelope as it comes, its messages side by side; at most `concurrency` run at
   * once across envelopes (JetStream's max_ack_pending bounds the envelopes).
   */
  private async runConcurrent(messages: Messages, ackWaitMs: number, concurrency: number): Promise<void> {
    const limit = pLimit(concurrency);
    const running = new Set<Promise<void>>();
    for await (const msg of messages) {
      const p = this.handleSafely(msg, ackWaitMs, limit).finally(() => running.delete(p));
      running.add(p);
      if (this.stopping) break;
    }
    await Promise.all(running);
  }

  private async handleSafely(msg: JsMsg, ackWaitMs: number, limit?: LimitFunction): Promise<void> {
    try {
      await this.handle(msg, ackWaitMs, limit);
    } catch (err) {
      // Not acked: JetStream delivers it again after ack_wait, and the seen store decides.
      this.log.error({ err, seq: msg.seq }, 'fleet message handling failed');
      this.errors.report({ code: 'HANDLING_FAILED', message: `message seq ${msg.seq}: ${(err as Error).message}` });
    }
  }

  /**
   * One envelope: verified once, then each of its messages taken (take), one after another or, with
   * `limit`, side by side. Acked once every message's final reply is stored.
   */
  private async handle(msg: JsMsg, ackWaitMs: number, limit?: LimitFunction): Promise<void> {
    let input: unknown;
    try {
      input = JSON.parse(msg.string());
    } catch {
      input = undefined;
    }
    let envelope: VerifiedEnvelope;
    let messages: AddressedMessage[];
    try {
      envelope = this.verifier.verify(input);
      messages = (envelope.payload as CommandPayload).messages;
      if (!Array.isArray(messages) || messages.length === 0) throw new EnvelopeRejected('MALFORMED', envelope.id, 'payload.messages must be a list of messages');
    } catch (err) {
      if (!(err instanceof EnvelopeRejected)) throw err;
      if (await this.refused(err, claimedIds(input, err), msg)) await msg.ackAck();
      // else not acked: redelivered, it is answered again, until JetStream gives up on it (MAX_DELIVERIES).
      return;
    }
    const from = (envelope.payload as CommandPayload).from;
    // A running method, and the tries at storing its reply, keep the envelope ours: without this
    // JetStream would hand it out again after ack_wait.
    const working = setInterval(() => msg.working(), Math.max(ackWaitMs / 3, 100));
    // Each message's final reply is waited for with the envelope's ack, not before the next message
    // runs: a reply still on its way is stored with those that follow (reply-queue.ts).
    const replies: Promise<boolean>[] = [];
    try {
      const sender = typeof from === 'string' ? from : undefined;
      if (!limit && messages.every(isInstant)) {
        replies.push(...await this.takeInstant(messages, envelope, sender, msg));
      } else {
        // One fsync for the envelope, not one per message (seen-ids.ts); a failure leaves it unacked, as take's would.
        await this.verifier.intend(messages.map((m) => m?.id), envelope);
        const take = (message: AddressedMessage) => this.take(message, envelope, sender, msg);
        if (limit) {
          for (const taken of await Promise.all(messages.map((message) => limit(() => take(message))))) replies.push(taken.stored);
        } else {
          for (const message of messages) replies.push((await take(message)).stored);
        }
      }
      // Not acked unless all are stored: the redelivery after ack_wait finds the ids taken in the seen
      // store and says INTERRUPTED, so the daemon still learns that they ended once the stream takes
      // replies again (a message already final stays as it is).
      if (!(await Promise.all(replies)).every(Boolean)) return;
    } finally {
      clearInterval(working);
    }
    // A plain ack, not a round trip: if it were lost, the redelivery would only say INTERRUPTED,
    // which changes nothing on messages already final.
    msg.ack();
  }

  /**
   * Says why an envelope or a message is refused: logged, sent to the error log, and a failed reply
   * for each id it names. Resolves whether those replies were all stored.
   */
  private async refused(err: EnvelopeRejected, ids: string[], msg: JsMsg): Promise<boolean> {
    this.log.warn({ reason: err.reason, id: err.id, detail: err.detail, seq: msg.seq, deliveries: msg.info.redeliveryCount }, 'fleet message refused');
    this.errors.report({ code: `REFUSED_${err.reason}`, message: err.message, ...(err.id && isSubjectToken(err.id) && { id: err.id }) });
    // Our own redelivery of a message we had taken: we stopped while it ran, or before its
    // reply was stored. It is not run again (at most once); the controller learns it ended.
    const interrupted = err.reason === 'REPLAYED' && msg.info.redelivered;
    const replies = ids.map((id) => this.reply({
      id, node: this.opts.node, state: 'failed', at: Date.now(),
      ...(interrupted
        ? { errorCode: 'INTERRUPTED', error: 'the agent stopped while this message ran, or before its reply was stored; not run again (at most once)' }
        : { errorCode: `REFUSED_${err.reason}`, error: err.message }),
    }));
    return (await Promise.all(replies)).every(Boolean);
  }

  /** refused() for one message of an authentic envelope: a failed reply for its id, if it has a usable one. */
  private refusedOne(err: EnvelopeRejected, message: AddressedMessage, msg: JsMsg): Promise<boolean> {
    return this.refused(err, isSubjectToken(message.id) ? [message.id] : [], msg);
  }

  /**
   * One message of a verified envelope: recorded as taken, then run. Resolves once it is done, with
   * whether its replies were stored (`stored`, later: they may still be on their way).
   */
  private async take(message: AddressedMessage, envelope: VerifiedEnvelope, from: string | undefined, msg: JsMsg): Promise<{ stored: Promise<boolean> }> {
    try {
      await this.verifier.take(message.id, envelope);
    } catch (err) {
      if (!(err instanceof EnvelopeRejected)) throw err;
      return { stored: this.refusedOne(err, message, msg) };
    }
    return this.runTaken(message, from, msg);
  }

  /**
   * An envelope of instant messages (hello, errorLog, op): all taken in one write before the first
   * runs (verifier.takeAll), then run one after another at once, their replies leaving together
   * (the reply queue corked meanwhile), and one log line says what became of them all. Resolves
   * with whether each one's replies were stored.
   */
  private async takeInstant(messages: AddressedMessage[], envelope: VerifiedEnvelope, from: string | undefined, msg: JsMsg): Promise<Promise<boolean>[]> {
    const refusals = await this.verifier.takeAll(messages.map((m) => m.id), envelope);
    const runs: Promise<Run>[] = [];
    this.replies.cork();
    let done: Run[];
    try {
      for (const [i, message] of messages.entries()) {
        const refusal = refusals[i];
        const run = refusal ? Promise.resolve({ stored: this.refusedOne(refusal, message, msg) }) : this.runTaken(message, from, msg, false);
        runs.push(run);
        // hello and errorLog are done within the call; an op may wait on a file, and the next one must see what it did.
        if (message.method === 'op') await run;
      }
      done = await Promise.all(runs);
    } finally {
      this.replies.uncork();
    }
    void this.loggedDone(done);
    return done.map((r) => r.stored);
  }

  /**
   * One line for an envelope's instant messages once their replies are stored: the ids, by method,
   * and those that failed with their code. A line each cost an agent of a busy fleet as much as the
   * rest of the message's work (pino's redaction and a write per line, in a process whose code is cold).
   */
  private async loggedDone(runs: Run[]): Promise<void> {
    const finals = (await Promise.all(runs.map(async (r) => (r.final && (await r.stored) ? [r.final] : [])))).flat();
    if (finals.length === 0) return;
    const byMethod: Record<string, string[]> = {};
    for (const f of finals) (byMethod[f.method] ??= []).push(f.id);
    const failed = finals.filter((f) => f.state !== 'replied').map((f) => ({ id: f.id, state: f.state, errorCode: f.errorCode }));
    this.log.info({ messages: finals.length, ids: byMethod, ...(failed.length > 0 && { failed }) }, 'fleet messages done');
  }

  /**
   * A message taken (in the seen store): run, and its replies sent. Resolves once it is done, with
   * whether they were stored (`stored`, later) and its outcome (`final`). Logged once stored, unless
   * `logDone` is false (takeInstant says it for the envelope).
   */
  private async runTaken(message: AddressedMessage, from: string | undefined, msg: JsMsg, logDone = true): Promise<Run> {
    const base = { id: message.id, node: this.opts.node };
    if (msg.info.deliveryCount > message.retries + 1) {
      // Delivered before but never taken (lost on the way, or the agent died first): its retries are spent.
      this.log.warn({ id: message.id, deliveries: msg.info.deliveryCount, retries: message.retries }, 'fleet message retries exhausted');
      return { stored: this.reply({ ...base, state: 'failed', errorCode: 'RETRIES_EXHAUSTED', error: `delivered ${msg.info.deliveryCount} times, allowed 1 + ${message.retries} retries; not run`, at: Date.now() }, message) };
    }
    // hello, errorLog and op are done at once: one line, when done, says all (a fleet pinging its
    // agents with hello would otherwise fill the log with two lines a ping).
    const instant = isInstant(message);
    this.log[instant ? 'debug' : 'info']({ id: message.id, method: message.method, index: message.index }, 'fleet message running');
    // Not awaited before the method starts: replies are stored in the order made (reply-queue.ts),
    // so `running` is in the stream before any part or the final reply. The instant methods send
    // no `running`: their final reply is all there is to say.
    let runningStored: Promise<boolean> | undefined;
    const sayRunning = () => void (runningStored ??= this.reply({ ...base, state: 'running', at: Date.now() }, message));
    // tailFile says it once it watches the file, so a line appended after `running` is never missed.
    if (!instant && message.method !== 'tailFile') sayRunning();
    let final: FleetReply;
    this.running.add(message.id, message.method);
    try {
      final = { ...base, ...(await this.execute(message, from, sayRunning)), at: Date.now() };
    } finally {
      this.running.remove(message.id);
    }
    const finalStored = this.reply(final, message).then((stored) => {
      if (stored && logDone) this.log.info({ id: message.id, method: message.method, state: final.state, exitCode: final.exitCode, errorCode: final.errorCode }, 'fleet message done');
      return stored;
    });
    return {
      stored: Promise.all([runningStored ?? true, finalStored]).then(([a, b]) => a && b),
      final: { id: message.id, method: message.method, state: final.state, errorCode: final.errorCode },
    };
  }

  /** `started`: the method is under way (tailFile calls it itself, once it watches the file). */
  private async execute(message: AddressedMessage, from: string | undefined, started: () => void): Promise<Outcome> {
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
      case 'cliCommandCont':
      case 'nCliCommandCont':
        return this.streamCli(message);
      case 'tailFile':
        return this.tail(message, started);
      case 'httpGet':
        return this.fetchUrl(message);
      case 'hello':
        this.announceSoon();
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
    const group = this.trackGroup(message.id);
    const r = await runCommand(message.args, { timeoutMs: message.methodTimeout * 1000, onSpawn: group.spawned }).finally(group.ended);
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

  /** A command's process group, for ps and for the next run of the agent should this one be killed (process-groups.ts). */
  private trackGroup(id: string): { spawned: (pid: number) => void; ended: () => void } {
    let pgid: number | undefined;
    return {
      spawned: (pid) => {
        pgid = pid;
        this.running.setPid(id, pid);
        this.groups.started(pid, id);
      },
      ended: () => {
        if (pgid !== undefined) this.groups.ended(pgid);
      },
    };
  }

  /** cliCommandCont: the output goes out in parts while it runs (wire.ts), the exit code at the end. */
  private async streamCli(message: AddressedMessage): Promise<Outcome> {
    const group = this.trackGroup(message.id);
    const r = await streamCommand(message.args, { timeoutMs: message.methodTimeout * 1000, onChunk: this.partSender(message), onSpawn: group.spawned }).finally(group.ended);
    const output = { exitCode: r.exitCode, signal: r.signal, streamed: true };
    if (r.spawnError) return { ...output, state: 'failed', errorCode: 'SPAWN_FAILED', error: r.spawnError };
    if (r.deliveryError) return { ...output, state: 'failed', errorCode: 'REPLY_FAILED', error: `the output could not be sent, the command was stopped: ${r.deliveryError}` };
    if (r.timedOut) {
      return { ...output, state: 'failed', errorCode: 'TIMEOUT', error: `methodTimeout: killed the command's process group after ${message.methodTimeout}s` };
    }
    return { ...output, state: 'replied' };
  }

  /** tailFile: new lines in parts until methodTimeout, which is how a tail is meant to end (replied). */
  private async tail(message: AddressedMessage, started: () => void): Promise<Outcome> {
    const file = message.args[0];
    const r = await tailFile(file, { timeoutMs: message.methodTimeout * 1000, onChunk: this.partSender(message), onStarted: started });
    const output = { streamed: true, exitCode: null };
    if (r.reason === 'error') return { ...output, state: 'failed', errorCode: 'TAIL_FAILED', error: `tail ${file}: ${r.error}` };
    if (r.notFound) return { ...output, state: 'failed', errorCode: 'NOT_FOUND', error: `tail ${file}: no such file during the ${message.methodTimeout}s methodTimeout` };
    return { ...output, state: 'replied' };
  }

  /**
   * Sends each chunk as the next numbered part; the controller keeps a part once however often it
   * comes. A part that is lost stops the method: its output would have a hole.
   */
  private partSender(message: AddressedMessage): (chunk: { text: string; stream?: 'stdout' | 'stderr'; dropped?: number }) => Promise<void> {
    let part = 0;
    return async (chunk) => {
      const reply: FleetReply = {
        id: message.id, node: this.opts.node, state: 'running', part: ++part, stream: chunk.stream ?? 'stdout', text: chunk.text, at: Date.now(), ...(chunk.dropped && { dropped: chunk.dropped }),
      };
      if (!(await this.reply(reply, message))) throw new Error(`part ${reply.part} not stored in ${1 + message.replyRetries} tries of replyACKTimeout ${message.replyAckTimeout}s`);
    };
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

  /**
   * A hello message's announcement, once for all the hello messages run in the same turn (an
   * envelope of them): each would say the same, and each costs the server and the daemon a message.
   */
  private announceSoon(): void {
    if (this.announcing) return;
    this.announcing = true;
    queueMicrotask(() => {
      this.announcing = false;
      this.announce();
    });
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

  /** Stores one reply in the reply stream, with those made meanwhile (reply-queue.ts); resolves whether it was stored. */
  private reply(reply: FleetReply, timing: ReplyTiming = FLEET_DEFAULTS): Promise<boolean> {
    return this.replies.send(reply, timing);
  }

  /** Where the reply queue stores replies and says how its tries went; a lost reply goes to the daemon's error log, on core NATS, which needs no stream. */
  private replyStore(): ReplyStore {
    const what = (r: FleetReply) => ({ id: r.id, state: r.state, ...(r.part && { part: r.part }) });
    return {
      store: async (replies, json, timeoutMs) => {
        await this.transport.publishText(this.transport.subjects.reply(this.opts.node, replies[0].id), json, { timeoutMs });
      },
      retrying: (reply, tries, err) => this.log.warn({ err, ...what(reply), attempt: tries }, 'fleet reply not stored yet; trying again'),
      lost: (reply, tries, err, timing) => {
        this.log.error({ err, ...what(reply), attempts: tries }, 'fleet reply lost');
        this.errors.report({ code: 'REPLY_LOST', id: reply.id, message: `${reply.part ? `part ${reply.part} of the` : `the ${reply.state}`} reply was not stored in ${tries} tries of replyACKTimeout ${timing.replyAckTimeout}s: ${err.message}` });
      },
    };
  }

  /** Stops taking messages, lets the current one finish, closes NATS and the seen store. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.hellos.stop();
    for (const messages of this.lanes) messages.stop();
    await Promise.all(this.loops);
    await this.transport.drain();
    await this.seen.close();
    await this.groups.close();
    this.log.info('fleet agent stopped');
  }
}

/** hello, errorLog and op: done within the agent at once, nothing to wait for (lanes.ts `ctl`). */
function isInstant(message: AddressedMessage | undefined): boolean {
  return typeof message === 'object' && message !== null && laneOf(message) === 'ctl';
}

/**
 * The ids a refused envelope names, as given (nothing in it is trusted): each gets a failed reply,
 * so its sender learns why. Its messages' ids, else the envelope's own.
 */
function claimedIds(input: unknown, err: EnvelopeRejected): string[] {
  const messages = (claimedPayload(input) as { messages?: unknown } | undefined)?.messages;
  const ids = Array.isArray(messages) ? messages.map((m) => (m as { id?: unknown } | null)?.id).filter((id): id is string => typeof id === 'string' && isSubjectToken(id)) : [];
  return ids.length > 0 ? [...new Set(ids)] : err.id && isSubjectToken(err.id) ? [err.id] : [];
}

/** A refused envelope's payload as given: an object (version 2) or its JSON text (version 3). */
function claimedPayload(input: unknown): unknown {
  const payload = (input as { payload?: unknown } | null | undefined)?.payload;
  if (typeof payload !== 'string') return payload;
  try {
    return JSON.parse(payload);
  } catch {
    return undefined;
  }
}
