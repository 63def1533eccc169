// The fleet's JetStream layout and connection; the controller and the agent speak through it and
// know nothing of stream or consumer settings.
//
// Two streams per fleet prefix (default `sb`), both work-queue retention (a message is deleted
// once its one consumer acks it) and kept at most MAX_AGE_MS, the signing window (signing.ts):
//   fleet-<prefix>-cmd    subjects <prefix>.cmd.<node>.<lane>   one durable consumer per node and lane (lanes.ts)
//   fleet-<prefix>-reply  subjects <prefix>.reply.<node>.<id>   one durable consumer, the controller's
// The node is in the reply subject so a nats-server can allow each agent to publish replies for
// its own node only (docs/fleet-nats.md); the controller checks it against the message's node.
// Events that may be lost go on core NATS without a stream: <prefix>.hello.<node> (hello.ts),
// <prefix>.errlog.<node> (error-report.ts).
// Replies go through a stream, not core NATS, so a reply sent while the daemon is down (or
// restarting) is recorded when it comes back, and the state in the store stays true.
// An ordered lane's consumer has max_ack_pending 1: the next envelope (wire.ts) is delivered only
// once the one before it is acked, i.e. its messages replied to; that is the per-node-and-method order. Ordering,
// redelivery after ack_wait, max_deliver and the offline queue are JetStream's.
import {
  AckPolicy, DeliverPolicy, DiscardPolicy, nanos, RetentionPolicy, StorageType,
  type JetStreamClient, type JetStreamManager, type NatsConnection,
} from 'nats';
import type { Logger } from 'pino';
import { errors } from '../errors.js';
import { isOrdered, LANES, type Lane } from './lanes.js';
import { connectNats, isPermissionError, type NatsClient, type WaitForServer } from './nats-connect.js';
import { DEFAULT_MAX_AGE_MS } from './signing.js';

export const DEFAULT_FLEET_PREFIX = 'sb';
export const FLEET_PREFIX_PATTERN = '^[A-Za-z0-9_-]{1,32}$';
const PREFIX = new RegExp(FLEET_PREFIX_PATTERN);
const MAX_AGE_MS = DEFAULT_MAX_AGE_MS;
const CONTROLLER_CONSUMER = 'controller';

/** Node names may hold '.', which would split a subject token; '~' is not allowed in node names. */
export function nodeToken(node: string): string {
  return node.replaceAll('.', '~');
}

export class FleetSubjects {
  readonly cmdStream: string;
  readonly replyStream: string;

  constructor(readonly prefix: string) {
    if (!PREFIX.test(prefix)) throw new errors.CONFIG(`fleetPrefix: '${prefix.slice(0, 40)}' must be 1-32 of A-Z a-z 0-9 _ -`);
    this.cmdStream = `fleet-${prefix}-cmd`;
    this.replyStream = `fleet-${prefix}-reply`;
  }

  cmd(node: string, lane: Lane): string {
    return `${this.prefix}.cmd.${nodeToken(node)}.${lane}`;
  }

  /** Every lane of one node. */
  cmdAll(node: string): string {
    return `${this.prefix}.cmd.${nodeToken(node)}.*`;
  }

  reply(node: string, id: string): string {
    return `${this.prefix}.reply.${nodeToken(node)}.${id}`;
  }

  /** The node a reply subject names (the token after `reply`), '.' restored. */
  replyNode(subject: string): string | undefined {
    const parts = subject.split('.');
    return parts.length === 4 && parts[1] === 'reply' ? parts[2].replaceAll('~', '.') : undefined;
  }

  /** Core NATS, no stream: hellos are events (hello.ts). */
  hello(node: string): string {
    return `${this.prefix}.hello.${nodeToken(node)}`;
  }

  get helloAll(): string {
    return `${this.prefix}.hello.*`;
  }

  /** Core NATS, no stream: an agent's own errors for the daemon's error log (error-report.ts). */
  errlog(node: string): string {
    return `${this.prefix}.errlog.${nodeToken(node)}`;
  }

  get errlogAll(): string {
    return `${this.prefix}.errlog.*`;
  }

  /** The agent's durable consumer of one lane (consumer names may not hold '.'). */
  agentConsumer(node: string, lane: Lane): string {
    return `agent-${nodeToken(node).replaceAll('~', '_')}-${lane}`;
  }

  /** Every durable consumer the node's agent uses, with its filter: its NATS permissions are made from these. */
  agentConsumers(node: string): { durable: string; filter: string }[] {
    return LANES.map((lane) => ({ durable: this.agentConsumer(node, lane), filter: this.cmd(node, lane) }));
  }
}

/** A reply id comes from a message id: uuid-like, so it is one subject token. */
export function isSubjectToken(id: string): boolean {
  return /^[A-Za-z0-9_-]{1,128}$/.test(id);
}

export class FleetTransport {
  /** When the connection was lost (logConnection); undefined while connected. */
  private lostAt?: number;

  private constructor(
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    readonly subjects: FleetSubjects,
  ) {}

  /**
   * Says in `log` when the connection to NATS is lost and when it is back (nats.js reconnects by
   * itself, forever): what the fleet does meanwhile (publishes fail, nothing is delivered) has a
   * reason an operator can see; `onBack` is called when it is back. Ends with the connection.
   */
  logConnection(log: Logger, server: string, onBack?: () => void): void {
    void (async () => {
      for await (const s of this.nc.status()) {
        if (s.type === 'disconnect' && this.lostAt === undefined) {
          this.lostAt = Date.now();
          log.warn({ nats: server }, 'NATS connection lost; reconnecting');
        } else if (s.type === 'reconnect' && this.lostAt !== undefined) {
          log.info({ nats: server, downMs: Date.now() - this.lostAt }, 'NATS connection back');
          this.lostAt = undefined;
          onBack?.();
        }
      }
    })();
  }

  /** Since when the connection is lost (logConnection watches it); undefined while connected. */
  get lostSince(): Date | undefined {
    return this.lostAt === undefined ? undefined : new Date(this.lostAt);
  }

  /** `wait`: an unreachable server is waited for (connectNats). */
  static async connect(client: NatsClient, prefix: string, wait?: WaitForServer): Promise<FleetTransport> {
    const subjects = new FleetSubjects(prefix);
    const nc = await connectNats(client, wait);
    try {
      const jsm = await nc.jetstreamManager();
      const transport = new FleetTransport(nc, nc.jetstream(), jsm, subjects);
      await transport.ensureStreams();
      return transport;
    } catch (err) {
      await nc.close();
      throw err;
    }
  }

  /** Creates the streams when missing; existing ones are left as they are (an operator may have tuned them). */
  private async ensureStreams(): Promise<void> {
    const { prefix, cmdStream, replyStream } = this.subjects;
    for (const [name, subject] of [[cmdStream, `${prefix}.cmd.>`], [replyStream, `${prefix}.reply.>`]]) {
      try {
        await this.jsm.streams.info(name);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        await this.jsm.streams.add({
          name, subjects: [subject], retention: RetentionPolicy.Workqueue, storage: StorageType.File, max_age: nanos(MAX_AGE_MS),
        }).catch((e: unknown) => {
          // An agent's NATS user may only use the streams (nats-permissions.ts): making them is the daemon's job.
          if (isPermissionError(e)) throw new errors.FLEET_UNAVAILABLE(`stream ${name} does not exist yet and this NATS user may not create it: start the daemon with --nats first`);
          if (!/already in use/i.test((e as Error).message)) throw e; // another process made it meanwhile
        });
      }
    }
  }

  /**
   * The controller's limits on one node's queue: at most `maxQueued` messages waiting per node and
   * lane, a publish beyond it refused (discard new, per subject) rather than dropping old ones; and
   * none kept longer than `maxAgeMs`.
   */
  async limitQueues(maxQueued: number, maxAgeMs: number): Promise<void> {
    const info = await this.jsm.streams.info(this.subjects.cmdStream);
    const c = info.config;
    const max_age = nanos(maxAgeMs);
    // JetStream's duplicate window (msgID, default 2 min) may not be longer than the age.
    const duplicate_window = Math.min(c.duplicate_window || nanos(120_000), max_age);
    if (c.max_msgs_per_subject === maxQueued && c.max_age === max_age && c.duplicate_window === duplicate_window && c.discard === DiscardPolicy.New && c.discard_new_per_subject) return;
    await this.jsm.streams.update(this.subjects.cmdStream, {
      ...c, max_msgs_per_subject: maxQueued, max_age, duplicate_window, discard: DiscardPolicy.New, discard_new_per_subject: true,
    });
  }

  /**
   * The node's durable consumer of one lane: explicit ack, redelivered after ackWaitMs; one
   * message in flight on an ordered lane, `concurrency` on the n lane.
   */
  async agentConsumer(node: string, lane: Lane, opts: { ackWaitMs: number; maxDeliver: number; concurrency: number }) {
    const durable = this.subjects.agentConsumer(node, lane);
    const config = {
      durable_name: durable,
      filter_subject: this.subjects.cmd(node, lane),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(opts.ackWaitMs),
      max_deliver: opts.maxDeliver,
      max_ack_pending: isOrdered(lane) ? 1 : opts.concurrency,
    };
    await upsertConsumer(this.jsm, this.subjects.cmdStream, durable, config);
    return this.js.consumers.get(this.subjects.cmdStream, durable);
  }

  async controllerConsumer() {
    const config = {
      durable_name: CONTROLLER_CONSUMER,
      filter_subject: `${this.subjects.prefix}.reply.>`,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(30_000),
    };
    await upsertConsumer(this.jsm, this.subjects.replyStream, CONTROLLER_CONSUMER, config);
    return this.js.consumers.get(this.subjects.replyStream, CONTROLLER_CONSUMER);
  }

  /** Resolves once JetStream has stored it, with the sequence it was stored at; rejects without its ack within `timeoutMs`. */
  async publishJson(subject: string, value: unknown, opts: { msgID?: string; timeoutMs?: number } = {}): Promise<number> {
    return this.publishText(subject, JSON.stringify(value), opts);
  }

  /** publishJson for a value already made JSON. */
  async publishText(subject: string, json: string, opts: { msgID?: string; timeoutMs?: number } = {}): Promise<number> {
    const { msgID, timeoutMs: timeout } = opts;
    return (await this.js.publish(subject, Buffer.from(json), { ...(msgID && { msgID }), ...(timeout && { timeout }) })).seq;
  }

  /** Fire-and-forget on core NATS: nobody acks it, nothing keeps it. */
  publishEvent(subject: string, value: unknown): void {
    this.nc.publish(subject, Buffer.from(JSON.stringify(value)));
  }

  /** Lets in-flight publishes and acks finish, then closes. */
  async drain(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.drain();
  }
}

type ConsumerSettings = Parameters<JetStreamManager['consumers']['add']>[1];

async function upsertConsumer(jsm: JetStreamManager, stream: string, durable: string, config: ConsumerSettings): Promise<void> {
  try {
    await jsm.consumers.info(stream, durable);
    // filter_subject, deliver_policy and ack_policy cannot change; the timing can.
    const { ack_wait, max_deliver, max_ack_pending } = config;
    await jsm.consumers.update(stream, durable, { ack_wait, max_deliver, max_ack_pending });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await jsm.consumers.add(stream, config);
  }
}

function isNotFound(err: unknown): boolean {
  const e = err as { code?: string; api_error?: { err_code?: number }; message?: string };
  return e.code === '404' || e.api_error?.err_code === 10059 || e.api_error?.err_code === 10014 || /not found/i.test(e.message ?? '');
}
