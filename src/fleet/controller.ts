// The daemon's side of the fleet: takes submissions, signs one envelope per addressed message,
// publishes it to the node's subject, and records each message's state from the agents' replies.
import { EventEmitter } from 'node:events';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Subscription } from 'nats';
import { errors, isSwitchboardError } from '../errors.js';
import type { FleetMessageRecord, FleetMessageState, FleetMessageStore } from '../store/types.js';
import { FLEET_FINAL_STATES } from '../store/types.js';
import { parseHello, type AgentHello } from './hello.js';
import { KnownAgents } from './known-agents.js';
import { AuditLog, type AuditEvent } from './audit.js';
import { fanOut, parseMessages, type AddressedMessage } from './message.js';
import { natsClientOptions, redactNatsUrl, type NatsSettings } from './nats-connect.js';
import { FleetTransport } from './nats-transport.js';
import { isFileReply, replyHandled, replyOutput, replyTarget, writeReplyFile } from './reply-file.js';
import { sign } from './signing.js';
import { formatPublicKey, loadOrCreateSigner, type Signer } from './signer-keys.js';
import type { CommandPayload, FleetReply } from './wire.js';

export interface ControllerOptions {
  /** The server, credentials and TLS (nats-connect.ts). */
  nats: NatsSettings;
  prefix: string;
  dataDir: string;
  store: FleetMessageStore;
  logger: Logger;
  /** Where the agents' hellos are recorded; the daemon shares it with the node views. */
  agents?: KnownAgents;
}

export interface Submitted {
  id: string;
  node: string;
  index: number;
}

/** Emits `changed` (record) whenever a message's state moves. */
export class FleetController extends EventEmitter {
  private messages?: Awaited<ReturnType<Awaited<ReturnType<FleetTransport['controllerConsumer']>>['consume']>>;
  private loop?: Promise<void>;
  private hellos?: Subscription;

  private constructor(
    private readonly transport: FleetTransport,
    private readonly signer: Signer,
    private readonly store: FleetMessageStore,
    private readonly log: Logger,
    /** <data-dir>/fleet: the reply files' root and the audit log's home. */
    private readonly fleetDir: string,
    private readonly audit: AuditLog,
    readonly agents: KnownAgents,
  ) {
    super();
    this.setMaxListeners(0); // one per waiting request
  }

  static async start(opts: ControllerOptions): Promise<FleetController> {
    const signer = await loadOrCreateSigner(opts.dataDir);
    const log = opts.logger.child({ component: 'fleet' });
    if (signer.created) log.info({ file: signer.file }, 'fleet signing key created');
    const client = await natsClientOptions(opts.nats, 'switchboard-controller');
    const transport = await FleetTransport.connect(client, opts.prefix).catch((err: Error & { code?: string }) => {
      if (isSwitchboardError(err)) throw err; // already says what and where
      throw new errors.FLEET_UNAVAILABLE(`cannot use NATS at ${client.server}: ${err.code ?? ''} ${err.message}`.trim());
    });
    const fleetDir = path.join(opts.dataDir, 'fleet');
    const audit = await AuditLog.open(fleetDir, log).catch(async (err: Error) => {
      await transport.drain();
      throw err;
    });
    const controller = new FleetController(transport, signer, opts.store, log, fleetDir, audit, opts.agents ?? new KnownAgents());
    try {
      controller.messages = await (await transport.controllerConsumer()).consume();
    } catch (err) {
      await transport.drain();
      await audit.close();
      throw err;
    }
    controller.loop = controller.takeReplies();
    controller.hellos = transport.nc.subscribe(transport.subjects.helloAll, { callback: (err, msg) => controller.takeHello(err, msg) });
    log.info({ nats: redactNatsUrl(opts.nats.natsUrl), prefix: opts.prefix, signer: controller.publicKey }, 'fleet controller ready');
    return controller;
  }

  get publicKey(): string {
    return formatPublicKey(this.signer.publicKey);
  }

  /** Parses (400 naming the message and field), records every addressed message as queued, publishes. */
  async submit(input: unknown, by?: string): Promise<Submitted[]> {
    const addressed = fanOut(parseMessages(input).messages);
    const now = new Date().toISOString();
    await this.store.insertMany(addressed.map((m) => ({
      id: m.id, node: m.toNode, method: m.method, index: m.index, state: 'queued' as const, submittedAt: now, updatedAt: now, reply: null, error: null,
      replyMethod: m.replyMethod, replyDirectory: m.directory, replyFileName: m.fileName ?? null, replyFile: null, replyFileError: null,
    })));
    await this.audit.append(addressed.map((m) => ({ event: 'submitted' as const, id: m.id, node: m.toNode, method: m.method, ...(by && { by }) })));
    // One node's messages one after another, so the stream holds them in the order given; nodes in parallel.
    const byNode = new Map<string, AddressedMessage[]>();
    for (const m of addressed) {
      const list = byNode.get(m.toNode);
      if (list) list.push(m);
      else byNode.set(m.toNode, [m]);
    }
    const failures = (await Promise.all([...byNode.values()].map((messages) => this.publishInOrder(messages)))).flat();
    for (const { message, err } of failures) {
      this.log.error({ err, id: message.id, node: message.toNode }, 'fleet message publish failed');
      await this.setState(message.id, 'failed', { error: `PUBLISH_FAILED: ${err.message}` });
    }
    const failed = failures.length;
    if (failed === addressed.length) throw new errors.FLEET_UNAVAILABLE(`no message could be published (${failed} failed): see the daemon log`);
    this.log.info({ messages: addressed.length, failed, nodes: new Set(addressed.map((m) => m.toNode)).size }, 'fleet messages submitted');
    return addressed.map((m) => ({ id: m.id, node: m.toNode, index: m.index }));
  }

  /** After the first failure the rest of the node's messages are not sent: they would overtake it. */
  private async publishInOrder(messages: AddressedMessage[]): Promise<{ message: AddressedMessage; err: Error }[]> {
    const { subjects } = this.transport;
    for (const [i, message] of messages.entries()) {
      const payload: CommandPayload = { message };
      try {
        // msgID: a publish retried by the client after a lost ack is stored once.
        await this.transport.publishJson(subjects.cmd(message.toNode), sign(payload, this.signer, { node: message.toNode, id: message.id }), message.id);
        void this.audit.append({ event: 'published', id: message.id, node: message.toNode, method: message.method });
      } catch (err) {
        return messages.slice(i).map((m) => ({ message: m, err: err as Error }));
      }
    }
    return [];
  }

  async get(id: string): Promise<FleetMessageRecord> {
    const record = await this.store.get(id);
    if (!record) throw new errors.FLEET_MESSAGE_NOT_FOUND(id);
    return record;
  }

  list(filter: { node?: string; state?: FleetMessageState; limit: number }): Promise<FleetMessageRecord[]> {
    return this.store.list(filter);
  }

  /** The record once it is final (and a file reply written), or as it is after `timeoutMs` (a long poll). */
  async waitFinal(id: string, timeoutMs: number): Promise<FleetMessageRecord> {
    const first = await this.get(id);
    if (timeoutMs <= 0 || isDone(first)) return first;
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.off('changed', onChange);
        this.get(id).then(resolve, reject);
      };
      const onChange = (r: FleetMessageRecord) => {
        if (r.id === id && isDone(r)) done();
      };
      const timer = setTimeout(done, timeoutMs);
      this.on('changed', onChange);
      // It may have become done between the first look and listening.
      this.get(id).then((r) => isDone(r) && done(), reject);
    });
  }

  private async takeReplies(): Promise<void> {
    for await (const msg of this.messages!) {
      try {
        const reply = JSON.parse(msg.string()) as FleetReply;
        if (typeof reply?.id === 'string' && ['running', 'replied', 'failed'].includes(reply.state)) {
          const error = reply.state === 'failed' ? `${reply.errorCode ?? 'FAILED'}: ${reply.error ?? ''}` : undefined;
          await this.setState(reply.id, reply.state, { reply: reply.state === 'running' ? undefined : (reply as unknown as Record<string, unknown>), error });
        } else {
          this.log.warn({ subject: msg.subject }, 'fleet reply ignored: not a reply');
        }
      } catch (err) {
        this.log.warn({ err, subject: msg.subject }, 'fleet reply ignored: not JSON');
      }
      msg.ack();
    }
  }

  /** Hellos are core NATS events (hello.ts): nothing to ack, a bad one is logged and dropped. */
  private takeHello(err: Error | null, msg: { subject: string; string(): string }): void {
    if (err) return void this.log.warn({ err }, 'fleet hello subscription failed');
    let hello: AgentHello | undefined;
    try {
      hello = parseHello(JSON.parse(msg.string()), msg.subject.slice(msg.subject.lastIndexOf('.') + 1));
    } catch { /* not JSON: not a hello */ }
    if (!hello) return void this.log.warn({ subject: msg.subject }, 'fleet hello ignored: not a hello for its subject');
    const before = this.agents.get(hello.node);
    this.agents.record(hello);
    // A node new to the daemon, or its agent restarted (another pid), is news; the periodic hellos are not.
    if (!before || before.pid !== hello.pid) this.log.info({ node: hello.node, version: hello.version, host: hello.host, pid: hello.pid }, 'fleet agent hello');
  }

  private async setState(id: string, state: FleetMessageState, change: { reply?: Record<string, unknown>; error?: string }): Promise<void> {
    const before = await this.store.get(id);
    if (!before) {
      this.log.warn({ id, state }, 'fleet reply for an unknown message ignored');
      return;
    }
    let after = await this.store.update(id, { state, reply: change.reply, error: change.error, at: new Date().toISOString() });
    if (!after) return;
    const moved = after.state !== before.state;
    if (moved) void this.audit.append(auditOfState(after));
    // Before `changed`, so whoever waits for the final state finds the file written. Also when the
    // state was final already: a reply redelivered after a crash before the file was handled.
    if (FLEET_FINAL_STATES.includes(after.state)) after = await this.deliverReply(after);
    if (moved) {
      this.log.info({ id, node: after.node, state: after.state, from: before.state }, 'fleet message state');
      // A final state is in the audit log before anyone waiting is told of it.
      await this.audit.flushed();
      this.emit('changed', after);
    }
  }

  /**
   * A final reply for a file / fileAppend message goes to its file, once: a reply redelivered
   * after the file was handled finds replyFile (or replyFileError) set and is not written again.
   */
  private async deliverReply(record: FleetMessageRecord): Promise<FleetMessageRecord> {
    const target = replyTarget(record);
    if (replyHandled(record) || !isFileReply(target)) return record;
    const base = { id: record.id, node: record.node, method: record.method };
    let outcome;
    try {
      const { file, bytes } = await writeReplyFile(this.fleetDir, target, replyOutput(record.reply as Pick<FleetReply, 'stdout' | 'stderr'>));
      outcome = { file };
      void this.audit.append({ event: 'reply-file', ...base, bytes });
      this.log.info({ ...base, file, bytes }, 'fleet reply written to file');
    } catch (err) {
      const e = err as Error & { code?: string };
      outcome = { error: `${e.code ?? 'WRITE_FAILED'}: ${e.message}` };
      void this.audit.append({ event: 'reply-file', ...base, error: e.code ?? 'WRITE_FAILED' });
      this.log.error({ err, ...base }, 'fleet reply file could not be written');
    }
    return (await this.store.setReplyFile(record.id, outcome)) ?? record;
  }

  async stop(): Promise<void> {
    this.hellos?.unsubscribe();
    this.messages?.stop();
    await this.loop;
    await this.transport.drain();
    await this.agents.flush();
    await this.audit.close();
    this.log.debug('fleet controller stopped');
  }
}

/** A state change as an audit line: codes and sizes, never the output or the error's text. */
function auditOfState(record: FleetMessageRecord): Parameters<AuditLog['append']>[0] {
  const reply = (record.reply ?? {}) as Partial<FleetReply>;
  const code = reply.errorCode ?? record.error?.split(':', 1)[0];
  const event: AuditEvent = record.state === 'failed' && code?.startsWith('REFUSED_') ? 'refused' : record.state;
  return {
    event, id: record.id, node: record.node, method: record.method, state: record.state,
    ...(reply.exitCode !== undefined && { exitCode: reply.exitCode }),
    ...(record.state !== 'replied' && record.state !== 'running' && code && { error: code }),
    ...(record.state !== 'running' && record.reply && { bytes: Buffer.byteLength(replyOutput(reply)) }),
  };
}

/** Final, and a file reply is written (or failed to be), so a waiter finds it there. */
function isDone(record: FleetMessageRecord): boolean {
  return FLEET_FINAL_STATES.includes(record.state) && replyHandled(record);
}
