// The daemon's side of the fleet: takes submissions, signs one envelope per addressed message,
// publishes it to the node's subject, and records each message's state from the agents' replies.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Subscription } from 'nats';
import { errors } from '../errors.js';
import type { FleetMessageRecord, FleetMessageState, FleetMessageStore } from '../store/types.js';
import { FLEET_FINAL_STATES } from '../store/types.js';
import { parseHello, type AgentHello } from './hello.js';
import { KnownAgents } from './known-agents.js';
import { fanOut, parseMessages, type AddressedMessage } from './message.js';
import { FleetTransport, redactNatsUrl } from './nats-transport.js';
import { sign } from './signing.js';
import { formatPublicKey, loadOrCreateSigner, type Signer } from './signer-keys.js';
import type { CommandPayload, FleetReply } from './wire.js';

export interface ControllerOptions {
  natsUrl: string;
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
    readonly agents: KnownAgents,
  ) {
    super();
    this.setMaxListeners(0); // one per waiting request
  }

  static async start(opts: ControllerOptions): Promise<FleetController> {
    const signer = await loadOrCreateSigner(opts.dataDir);
    const log = opts.logger.child({ component: 'fleet' });
    if (signer.created) log.info({ file: signer.file }, 'fleet signing key created');
    const transport = await FleetTransport.connect(opts.natsUrl, opts.prefix, 'switchboard-controller').catch((err: Error & { code?: string }) => {
      throw new errors.FLEET_UNAVAILABLE(`cannot use NATS at ${redactNatsUrl(opts.natsUrl)}: ${err.code ?? ''} ${err.message}`.trim());
    });
    const controller = new FleetController(transport, signer, opts.store, log, opts.agents ?? new KnownAgents());
    try {
      controller.messages = await (await transport.controllerConsumer()).consume();
    } catch (err) {
      await transport.drain();
      throw err;
    }
    controller.loop = controller.takeReplies();
    controller.hellos = transport.nc.subscribe(transport.subjects.helloAll, { callback: (err, msg) => controller.takeHello(err, msg) });
    log.info({ nats: redactNatsUrl(opts.natsUrl), prefix: opts.prefix, signer: controller.publicKey }, 'fleet controller ready');
    return controller;
  }

  get publicKey(): string {
    return formatPublicKey(this.signer.publicKey);
  }

  /** Parses (400 naming the message and field), records every addressed message as queued, publishes. */
  async submit(input: unknown): Promise<Submitted[]> {
    const addressed = fanOut(parseMessages(input).messages);
    const now = new Date().toISOString();
    await this.store.insertMany(addressed.map((m) => ({
      id: m.id, node: m.toNode, method: m.method, index: m.index, state: 'queued' as const, submittedAt: now, updatedAt: now, reply: null, error: null,
    })));
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

  /** The record once it is final, or as it is after `timeoutMs` (a long poll). */
  async waitFinal(id: string, timeoutMs: number): Promise<FleetMessageRecord> {
    const first = await this.get(id);
    if (timeoutMs <= 0 || FLEET_FINAL_STATES.includes(first.state)) return first;
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.off('changed', onChange);
        this.get(id).then(resolve, reject);
      };
      const onChange = (r: FleetMessageRecord) => {
        if (r.id === id && FLEET_FINAL_STATES.includes(r.state)) done();
      };
      const timer = setTimeout(done, timeoutMs);
      this.on('changed', onChange);
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
    const after = await this.store.update(id, { state, reply: change.reply, error: change.error, at: new Date().toISOString() });
    if (after && after.state !== before.state) {
      this.log.info({ id, node: after.node, state: after.state, from: before.state }, 'fleet message state');
      this.emit('changed', after);
    }
  }

  async stop(): Promise<void> {
    this.hellos?.unsubscribe();
    this.messages?.stop();
    await this.loop;
    await this.transport.drain();
    await this.agents.flush();
    this.log.debug('fleet controller stopped');
  }
}
