// The daemon's side of the fleet: takes submissions, signs one envelope per addressed message,
// publishes it to the node's subject, and records each message's state from the agents' replies.
import type { KeyObject } from 'node:crypto';
import path from 'node:path';
import ms from 'ms';
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import type { Subscription } from 'nats';
import { errors, isSwitchboardError } from '../errors.js';
import type { FleetMessageRecord, FleetMessageState, FleetMessageStore, FleetOutputPart } from '../store/types.js';
import { FLEET_FINAL_STATES } from '../store/types.js';
import { parseHello, type AgentHello } from './hello.js';
import { KnownAgents } from './known-agents.js';
import { isOrdered, laneOf, methodsOf, type Lane } from './lanes.js';
import { AuditLog, type AuditEvent, type AuditRotation } from './audit.js';
import { FleetErrorLog } from './error-log.js';
import { fanOut, parseMessages, type AddressedMessage, type FleetMethod } from './message.js';
import { natsClientOptions, redactNatsUrl, type NatsSettings, type WaitForServer } from './nats-connect.js';
import { FleetTransport } from './nats-transport.js';
import { isFileReply, replyHandled, replyOutput, replyTarget, writeReplyFile } from './reply-file.js';
import { DEFAULT_MAX_AGE_MS, signText } from './signing.js';
import { formatPublicKey, loadOrCreateSigner, type Signer } from './signer-keys.js';
import { commandPayloadText, DEFAULT_FLEET_NAME, MAX_BATCH_BYTES, MAX_BATCH_MESSAGES, type FleetReply } from './wire.js';

export interface ControllerOptions {
  /** The server, credentials and TLS (nats-connect.ts). */
  nats: NatsSettings;
  prefix: string;
  dataDir: string;
  store: FleetMessageStore;
  logger: Logger;
  /** Where the agents' hellos are recorded; the daemon shares it with the node views. */
  agents?: KnownAgents;
  /** Messages waiting per node and lane before submissions fail QUEUE_FULL (default 10,000). */
  maxQueued?: number;
  /** How long a message waits for its agent before it is expired (default, and at most, the 7-day signing window). */
  maxAgeMs?: number;
  /** Signed into every message as its sender, for the agents' allowedNodes; default central. */
  fleetName?: string;
  /** Rotation of <data-dir>/fleet/audit.jsonl: the daemon's auditMaxBytes and auditKeep. */
  audit: AuditRotation;
  /** An unreachable server is waited for (connectNats); without it, it fails the start. */
  wait?: WaitForServer;
  /** The signing key, when the caller has loaded it already (else it is loaded, or made, from dataDir). */
  signer?: Signer;
}

/**
 * Envelopes on their way at once, all nodes together (publishNode): more would only wait in the
 * client's buffer, with their ack timers running.
 */
const PUBLISHES_AT_ONCE = 32;

/**
 * How long JetStream may take to ack a command envelope. Long: a machine busy with its agents can
 * make the server slow to answer, and a publish given up on may still have been stored (then it is
 * delivered and run, while its record says PUBLISH_FAILED).
 */
const PUBLISH_TIMEOUT_MS = 30_000;

const DEFAULT_MAX_QUEUED = 10_000;

/** How often lanes with held messages are checked against JetStream (heldCheck). */
const HELD_CHECK_MS = 5_000;

/**
 * A message on its way out: what the daemon needs of it, and its JSON text as it is signed into the
 * envelope, made once (a held one's is the body kept in the store) rather than each time it is
 * measured, kept and signed.
 */
interface Outbound {
  id: string;
  toNode: string;
  method: FleetMethod;
  json: string;
}

const outbound = (m: AddressedMessage): Outbound => ({ id: m.id, toNode: m.toNode, method: m.method, json: JSON.stringify(m) });

/** An envelope JetStream has stored, at `seq` of the command stream. */
interface Published {
  batch: Outbound[];
  seq: number;
}

/** A submission beyond fleetMaxQueued (roomFor). */
class QueueFull extends Error {}

/** A message that could not be queued or published, and why. */
interface Failure {
  message: Pick<AddressedMessage, 'id' | 'toNode'>;
  err: Error;
}

/** One node's lane, as the key of laneWork and heldLanes ('\n' is in no node name). */
const laneKey = (node: string, lane: Lane) => `${lane}\n${node}`;

/** A submission's messages for one node's lane, in order. */
interface LaneGroup {
  key: string;
  node: string;
  lane: Lane;
  messages: AddressedMessage[];
}

/** A lane with held messages, marked held since `since` (ms; 0: found so at start). */
interface HeldLane extends Omit<LaneGroup, 'messages'> {
  since: number;
}

/** One node's envelopes to publish, in order; `since`: when each held message among them was submitted (ms). */
interface Outgoing {
  envelopes: Outbound[][];
  since: Map<string, number>;
}

/** One lane's messages, in order, cut into envelopes of at most MAX_BATCH_MESSAGES and MAX_BATCH_BYTES (a larger one alone). */
function batches(messages: Outbound[]): Outbound[][] {
  const out: Outbound[][] = [];
  let batch: Outbound[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = m.json.length;
    if (batch.length > 0 && (batch.length >= MAX_BATCH_MESSAGES || bytes + size > MAX_BATCH_BYTES)) {
      out.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(m);
    bytes += size;
  }
  if (batch.length > 0) out.push(batch);
  return out;
}

/** How often queued messages past their age are looked for: a minute, or sooner for a short age. */
const sweepMs = (maxAgeMs: number) => Math.max(250, Math.min(60_000, maxAgeMs / 4));

export interface Submitted {
  id: string;
  node: string;
  index: number;
}

/** A state a message is moved to (setStates); `from`, for a reply, the node it came from. */
interface StateChange {
  id: string;
  state: FleetMessageState;
  reply?: Record<string, unknown>;
  error?: string;
  from?: string;
}

/** The fleet's controlling side: takes submissions, signs and publishes them, holds what must wait, and follows the replies. */
export class FleetController {
  private messages?: Awaited<ReturnType<Awaited<ReturnType<FleetTransport['controllerConsumer']>>['consume']>>;
  private loop?: Promise<void>;
  private hellos?: Subscription;
  private advisories?: Subscription;
  private sweeper?: NodeJS.Timeout;
  private fleetName = DEFAULT_FLEET_NAME;
  /** Messages waiting per node and lane before more are refused QUEUE_FULL (roomFor). */
  private maxQueued = DEFAULT_MAX_QUEUED;
  private readonly publishLimit = pLimit(PUBLISHES_AT_ONCE);
  /** Messages older than this are expired: JetStream drops them, the sweep marks them. */
  private maxAgeMs = DEFAULT_MAX_AGE_MS;
  /** The agents' own errors (error-log.ts). */
  errorLog!: FleetErrorLog;
  /**
   * Messages whose envelope JetStream has not acked yet: settles once their `published` audit line
   * is appended. An agent's reply can reach the daemon in the same read as that ack and be taken
   * first, and its state's audit line waits for this one (setStates).
   */
  private readonly publishing = new Map<string, Promise<void>>();
  /**
   * Who waits for each message to move (poll): a long poll each. By id, so a state change tells
   * only those waiting for that message, however many wait for others.
   */
  private readonly watchers = new Map<string, Set<() => void>>();
  /** The end of the work on each node's lane (withLanes). */
  private readonly laneWork = new Map<string, Promise<void>>();
  /** Lanes with messages held in the store (enqueue), to publish once their envelope is done (pump). */
  private readonly heldLanes = new Map<string, HeldLane>();
  private heldChecker?: NodeJS.Timeout;

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
  }

  static async start(opts: ControllerOptions): Promise<FleetController> {
    const log = opts.logger.child({ component: 'fleet' });
    let controller: FleetController | undefined;
    const signer = opts.signer ?? await loadSigner(opts.dataDir, log);
    const client = await natsClientOptions(opts.nats, 'switchboard-controller');
    const transport = await FleetTransport.connect(client, opts.prefix, opts.wait).catch((err: Error & { code?: string }) => {
      if (isSwitchboardError(err)) throw err; // already says what and where
      throw new errors.FLEET_UNAVAILABLE(`cannot use NATS at ${client.server}: ${err.code ?? ''} ${err.message}`.trim());
    });
    // Held messages wait while NATS is away (pump): once it is back, they go.
    transport.logConnection(log, client.server, () => controller?.pumpAll());
    const fleetDir = path.join(opts.dataDir, 'fleet');
    const audit = await AuditLog.open(fleetDir, log, opts.audit).catch(async (err: Error) => {
      await transport.drain();
      throw err;
    });
    controller = new FleetController(transport, signer, opts.store, log, fleetDir, audit, opts.agents ?? new KnownAgents());
    controller.fleetName = opts.fleetName ?? DEFAULT_FLEET_NAME;
    controller.maxAgeMs = Math.min(opts.maxAgeMs ?? DEFAULT_MAX_AGE_MS, DEFAULT_MAX_AGE_MS);
    try {
      controller.maxQueued = opts.maxQueued ?? DEFAULT_MAX_QUEUED;
      await transport.limitQueues(controller.maxQueued, controller.maxAgeMs);
      controller.messages = await (await transport.controllerConsumer()).consume();
      controller.errorLog = await FleetErrorLog.start({ nc: transport.nc, subject: transport.subjects.errlogAll, fleetDir, log });
    } catch (err) {
      await transport.drain();
      await audit.close();
      throw err;
    }
    controller.loop = controller.takeReplies();
    controller.hellos = transport.nc.subscribe(transport.subjects.helloAll, { callback: (err, msg) => controller.takeHello(err, msg) });
    controller.advisories = transport.nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${transport.subjects.cmdStream}.*`, {
      callback: (err, msg) => void controller.takeMaxDeliveries(err, msg),
    });
    controller.sweeper = setInterval(() => void controller!.expireStale(), sweepMs(controller.maxAgeMs)).unref();
    controller.heldChecker = setInterval(() => void controller!.heldCheck(), HELD_CHECK_MS).unref();
    void controller.expireStale();
    // Held when the daemon stopped: out again once their lane's envelope is done, or now if it is.
    // Also those it was publishing when it stopped, not knowing whether they went (claim).
    for (const { node, method } of await opts.store.heldLanes()) controller.markHeld(node, laneOf({ method: method as FleetMethod }), 0);
    controller.pumpAll();
    log.info({ nats: redactNatsUrl(opts.nats.natsUrl), prefix: opts.prefix, signer: controller.publicKey }, 'fleet controller ready');
    return controller;
  }

  /** The public half of the signing key, as an agent's allow-list holds it. */
  get signerKey(): KeyObject {
    return this.signer.publicKey;
  }

  get publicKey(): string {
    return formatPublicKey(this.signer.publicKey);
  }

  /** Since when the connection to NATS is lost (nats.js is reconnecting); undefined while connected. */
  get natsLostSince(): Date | undefined {
    return this.transport.lostSince;
  }

  /**
   * Parses (400 naming the message and field), records every addressed message as queued, and
   * publishes them, or holds them in the store where their lane has an envelope out (enqueue).
   */
  async submit(input: unknown, by?: string): Promise<Submitted[]> {
    const addressed = fanOut(parseMessages(input).messages);
    // NATS is away: refused at once, nothing recorded (each publish would wait for its timeout, then fail).
    const lost = this.transport.lostSince;
    if (lost) throw new errors.FLEET_UNAVAILABLE(`the connection to NATS is lost since ${lost.toISOString()} and being retried; nothing was submitted, send it again once it is back`);
    const groups = new Map<string, LaneGroup>();
    for (const m of addressed) {
      const lane = laneOf(m);
      const key = laneKey(m.toNode, lane);
      const group = groups.get(key);
      if (group) group.messages.push(m);
      else groups.set(key, { key, node: m.toNode, lane, messages: [m] });
    }
    const failures = await this.withLanes([...groups.keys()], () => this.enqueue([...groups.values()], by));
    const failed = failures.length;
    if (failed > 0 && failed === addressed.length) {
      // Lost while these were on their way (the check above was before).
      const lostSince = this.transport.lostSince as Date | undefined;
      const why = lostSince
        ? `the connection to NATS is lost since ${lostSince.toISOString()} and being retried`
        : `the first with ${(failures[0].err as Error & { code?: string }).code ?? failures[0].err.message}`;
      throw new errors.FLEET_UNAVAILABLE(`no message could be published (${failed} failed; ${why}): see the daemon log`);
    }
    this.log.info({ messages: addressed.length, failed, nodes: new Set(addressed.map((m) => m.toNode)).size }, 'fleet messages submitted');
    return addressed.map((m) => ({ id: m.id, node: m.toNode, index: m.index }));
  }

  /**
   * A submission's messages, its lanes' work held (withLanes): recorded as queued; beyond
   * fleetMaxQueued failed QUEUE_FULL; the rest published, or held in the store where the lane has
   * an envelope out. Held messages go out together once that envelope is done (pump), in as few
   * envelopes as they fill: an agent that is busy or away gets one envelope for many submissions,
   * not one each. The order stays: a lane's messages are published in the order submitted.
   * Every message is recorded held, with its body, also one published at once: it is held until
   * its seq is recorded (publishAll), so a daemon that stops before that publishes it when it starts.
   */
  private async enqueue(groups: LaneGroup[], by?: string): Promise<Failure[]> {
    const held = new Set<LaneGroup>();
    for (const g of groups) if (isOrdered(g.lane) && await this.store.hasOutstanding(g.node, methodsOf(g.lane))) held.add(g);
    const now = new Date().toISOString();
    const outbounds = new Map(groups.map((g) => [g, g.messages.map(outbound)]));
    await this.store.insertMany(groups.flatMap((g) => g.messages.map((m, i) => ({
      id: m.id, node: m.toNode, method: m.method, index: m.index, state: 'queued' as const, submittedAt: now, updatedAt: now, reply: null, error: null,
      replyMethod: m.replyMethod, replyDirectory: m.directory, replyFileName: m.fileName ?? null, replyFile: null, replyFileError: null,
      held: true, body: outbounds.get(g)![i].json,
    }))));
    // Not awaited before publishing (it is before answering): appends keep their order, so `submitted`
    // is in the file before any later line of these messages, and the write is off the way of a reply.
    const audited = this.audit.append(groups.flatMap((g) => g.messages.map((m) => ({ event: 'submitted' as const, id: m.id, node: m.toNode, method: m.method, ...(by && { by }) }))));
    const failures: Failure[] = [];
    const outgoing = new Map<string, Outgoing>(); // by node: its lanes' envelopes, in order
    for (const g of groups) {
      const room = await this.roomFor(g.node, g.lane, g.messages.length);
      for (const message of g.messages.slice(room)) failures.push({ message, err: new QueueFull(`${g.messages.length - room} of ${g.messages.length} would go past ${this.maxQueued} waiting in its ${g.lane} lane`) });
      const taken = outbounds.get(g)!.slice(0, room);
      if (held.has(g)) {
        if (taken.length > 0) this.markHeld(g.node, g.lane, Date.now());
        continue;
      }
      let out = outgoing.get(g.node);
      if (!out) outgoing.set(g.node, (out = { envelopes: [], since: new Map() }));
      // Held ones left from before (a restart, NATS away, an envelope done whose pump has not run
      // yet) go first; not this group's own, recorded held a moment ago (and those past room).
      const own = new Set(g.messages.map((m) => m.id));
      const earlier = this.heldLanes.has(g.key) ? (await this.claim(g, out.since)).filter((m) => !own.has(m.id)) : [];
      out.envelopes.push(...batches([...earlier, ...taken]));
    }
    // One node's envelopes one after another, so the stream holds them in order; nodes in parallel.
    failures.push(...await this.publishAll([...outgoing.values()]));
    await this.markFailed(failures);
    await audited;
    return failures;
  }

  /**
   * Publishes the held messages of a node's lane once it has no envelope out (`force`: whatever the
   * store says, JetStream holds none of the lane's: heldCheck). Called when a message of the lane
   * becomes final, when NATS is back, and at start. Never throws (logged).
   */
  private pump(node: string, lane: Lane, force = false): Promise<void> {
    const key = laneKey(node, lane);
    // Work under way on the lane may be holding messages now: looked at again after it.
    if (!this.heldLanes.has(key) && !this.laneWork.has(key)) return Promise.resolve();
    return this.withLanes([key], async () => {
      if (!this.heldLanes.has(key) || this.transport.lostSince) return; // NATS back: pumpAll
      if (!force && isOrdered(lane) && await this.store.hasOutstanding(node, methodsOf(lane))) return;
      const out: Outgoing = { envelopes: [], since: new Map() };
      const messages = await this.claim({ key, node, lane }, out.since);
      if (messages.length === 0) return;
      out.envelopes = batches(messages);
      await this.markFailed(await this.publishAll([out]));
      this.log.debug({ node, lane, messages: messages.length, envelopes: out.envelopes.length }, 'fleet held messages published');
    }).catch((err: unknown) => this.log.error({ err, node, lane }, 'fleet held messages could not be published'));
  }

  /** A lane has held messages (pump publishes them), since `since` unless it had already. */
  private markHeld(node: string, lane: Lane, since: number): void {
    const key = laneKey(node, lane);
    if (!this.heldLanes.has(key)) this.heldLanes.set(key, { key, node, lane, since });
  }

  /** Every lane with held messages (pump): at start, and when NATS is back. */
  private pumpAll(): void {
    for (const { node, lane } of [...this.heldLanes.values()]) void this.pump(node, lane);
  }

  /**
   * A lane whose messages stay held although JetStream holds none of its envelopes: the store says
   * one is out, but it is gone (the stream purged, a record never moved on). Its held messages are
   * published: JetStream still delivers a lane's envelopes in the order they were stored.
   */
  private async heldCheck(): Promise<void> {
    // Only lanes held for a whole period: most are held for a moment, while their agent works.
    const now = Date.now();
    const due = [...this.heldLanes.values()].filter((l) => now - l.since >= HELD_CHECK_MS);
    if (due.length === 0 || this.transport.lostSince) return;
    try {
      const info = await this.transport.jsm.streams.info(this.transport.subjects.cmdStream, { subjects_filter: `${this.transport.subjects.prefix}.cmd.>` });
      const waiting = info.state.subjects ?? {};
      for (const { node, lane } of due) {
        if (!waiting[this.transport.subjects.cmd(node, lane)]) void this.pump(node, lane, true);
      }
    } catch (err) {
      this.log.warn({ err }, 'fleet held messages check failed');
    }
  }

  /**
   * A lane's held messages, to publish (not past fleetMaxAge: the sweep expires those), noting when
   * each was submitted in `since`. The lane's mark goes first, so one held meanwhile sets it again.
   * Run in the lane's work (withLanes), so no other takes them. They stay held in the store until
   * publishAll records where they went (setSeq): a daemon that stops before that finds them held
   * when it starts, and publishes them again.
   */
  private async claim(lane: Omit<LaneGroup, 'messages'>, since: Map<string, number>): Promise<Outbound[]> {
    this.heldLanes.delete(lane.key);
    const held = await this.store.heldMessages(lane.node, methodsOf(lane.lane), new Date(Date.now() - this.maxAgeMs).toISOString());
    return held.map((h) => {
      since.set(h.id, Date.parse(h.submittedAt));
      return { id: h.id, toNode: lane.node, method: h.method as FleetMethod, json: h.body };
    });
  }

  /**
   * Publishes each node's envelopes through the controller's PUBLISHES_AT_ONCE: it starts them in
   * the order given, and the server stores one connection's publishes in the order they were sent,
   * so waiting for each ack in turn would only add round trips. After a failure no more of that
   * node's are sent (they would overtake it); those already sent stand or fall on their own. Where
   * each envelope is in the stream is stored for all at once (one commit, not one each).
   */
  private async publishAll(nodes: Outgoing[]): Promise<Failure[]> {
    const failures: Failure[] = [];
    const published: Published[] = [];
    await Promise.all(nodes.map(async ({ envelopes, since }) => {
      let stopped: Error | undefined;
      await Promise.all(envelopes.map((batch) => this.publishLimit(async () => {
        if (stopped) throw stopped;
        // Signed as of its oldest message, so a held one gets no more time than it had (fleetMaxAge).
        const oldest = Math.min(...batch.map((m) => since.get(m.id) ?? Infinity));
        published.push({ batch, seq: await this.publishBatch(batch, Number.isFinite(oldest) ? oldest : undefined) });
      }).catch((err: Error) => {
        stopped ??= err;
        for (const message of batch) failures.push({ message, err });
      })));
    }));
    await this.store.setSeq(published.map(({ batch, seq }) => ({ ids: batch.map((m) => m.id), seq })));
    return failures;
  }

  /** Messages that could not be queued or published: failed, saying why. */
  private async markFailed(failures: Failure[]): Promise<void> {
    for (const { message, err } of failures) {
      this.log.error({ err, id: message.id, node: message.toNode }, 'fleet message publish failed');
      // JetStream's own words are in api_error; the message is often only the status code.
      const said = (err as Error & { api_error?: { err_code?: number; description?: string } }).api_error;
      const text = said?.description ?? err.message;
      // JetStream's per-subject limit backs up the count of roomFor (it counts envelopes, not messages).
      const error = err instanceof QueueFull || said?.err_code === 10077 || /maximum messages per subject/i.test(text)
        ? `QUEUE_FULL: ${message.toNode} has as many messages waiting as fleetMaxQueued allows (${text})`
        : `PUBLISH_FAILED: ${text}${(err as Error & { code?: string }).code === 'TIMEOUT' ? ` (no ack from JetStream within ${PUBLISH_TIMEOUT_MS / 1000}s: it may still have been stored, and run)` : ''}`;
      await this.setState(message.id, 'failed', { error });
    }
  }

  /**
   * Runs `work` once the work before it on any of these lanes is done, and holds them until it is:
   * a lane's decisions (hold or publish) and publishes happen one at a time, in the order asked for.
   */
  private withLanes<T>(keys: string[], work: () => Promise<T>): Promise<T> {
    const before = keys.flatMap((k) => this.laneWork.get(k) ?? []);
    const run = (before.length > 0 ? Promise.all(before).then(work) : work());
    const done = run.then(() => undefined, () => undefined);
    for (const k of keys) this.laneWork.set(k, done);
    void done.then(() => {
      for (const k of keys) if (this.laneWork.get(k) === done) this.laneWork.delete(k);
    });
    return run;
  }

  /**
   * How many of `adding` messages just recorded for a node's lane fit under fleetMaxQueued: the
   * store counts what waits (queued, delivered or running, these included). Two submissions at once
   * may each count the other's, so they refuse too many, never too few.
   */
  private async roomFor(node: string, lane: Lane, adding: number): Promise<number> {
    const waiting = await this.store.countWaiting(node, methodsOf(lane));
    return Math.max(0, Math.min(adding, adding - (waiting - this.maxQueued)));
  }

  /**
   * Signs (as of `iat`, default now) and publishes one envelope; resolves with its sequence in the
   * stream once JetStream has stored it.
   */
  private async publishBatch(batch: Outbound[], iat?: number): Promise<number> {
    const [first] = batch;
    const payload = commandPayloadText(batch.map((m) => m.json), this.fleetName, (iat ?? Date.now()) + this.maxAgeMs);
    const subject = this.transport.subjects.cmd(first.toNode, laneOf(first));
    const envelope = signText(payload, this.signer, { node: first.toNode, id: first.id, now: iat });
    // msgID: the same envelope published again (the client retrying after a lost ack, held messages
    // published again after a restart: claim) is stored once. Its first and last ids name
    // it: an envelope made again after a restart with the same first and last messages holds none
    // the first did not (some may have expired), while one that holds more is not dropped with it.
    const last = batch[batch.length - 1];
    const msgID = batch.length === 1 ? first.id : `${first.id}.${last.id}`;
    const stored = this.transport.publishJson(subject, envelope, { msgID, timeoutMs: PUBLISH_TIMEOUT_MS });
    // Appended as soon as the ack is in (the first to hear of it), and a reply's line waits for it.
    const audited = stored.then(() => void this.audit.append(batch.map((m) => ({ event: 'published' as const, id: m.id, node: m.toNode, method: m.method }))), () => undefined);
    for (const m of batch) this.publishing.set(m.id, audited);
    try {
      return await stored;
    } finally {
      for (const m of batch) this.publishing.delete(m.id);
    }
  }

  async get(id: string): Promise<FleetMessageRecord> {
    const record = await this.store.get(id);
    if (!record) throw new errors.FLEET_MESSAGE_NOT_FOUND(id);
    return record;
  }

  /**
   * `delivered`: JetStream has handed a queued message to its agent (its consumer got past the
   * message's sequence) but the agent has not said a word about it yet — it is on its way over a
   * slow link, or it was lost with the link and will be delivered again. Asked of JetStream when
   * someone looks at one message, not kept up to date for all of them.
   */
  private async refreshDelivered(record: FleetMessageRecord): Promise<FleetMessageRecord> {
    if (record.state !== 'queued' || !record.seq) return record;
    const lane = laneOf({ method: record.method as FleetMethod });
    const info = await this.transport.jsm.consumers.info(this.transport.subjects.cmdStream, this.transport.subjects.agentConsumer(record.node, lane)).catch(() => undefined);
    if (!info || info.delivered.stream_seq < record.seq) return record;
    await this.setState(record.id, 'delivered', {});
    return this.get(record.id);
  }

  list(filter: { node?: string; state?: FleetMessageState; limit: number }): Promise<FleetMessageRecord[]> {
    return this.store.list(filter);
  }

  /**
   * The record once it is final (and a file reply written), or as it is after `timeoutMs` (a long
   * poll). JetStream is asked about `delivered` only when the answer is not final: a look with no
   * wait, or a wait that ran out — not before every wait, where it cost a round trip to the server
   * on the way of every `switchboard run`.
   */
  async waitFinal(id: string, timeoutMs: number): Promise<FleetMessageRecord> {
    const record = await this.poll(id, () => this.get(id), isDone, timeoutMs);
    return isDone(record) ? record : this.refreshDelivered(record);
  }

  /**
   * A long poll on message `id`: `first` (or a first look), and if `ready` says no, a new look each
   * time the message moves (a state, a part of its output) until it says yes or `timeoutMs` passes.
   */
  private async poll<T>(id: string, look: () => Promise<T>, ready: (value: T) => boolean, timeoutMs: number, first?: T): Promise<T> {
    const now = first ?? (await look());
    if (timeoutMs <= 0 || ready(now)) return now;
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (settle: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const watching = this.watchers.get(id);
        watching?.delete(check);
        if (watching?.size === 0) this.watchers.delete(id);
        settle();
      };
      const fail = (err: unknown) => finish(() => reject(err));
      const check = () => void look().then((value) => ready(value) && finish(() => resolve(value)), fail);
      const timer = setTimeout(() => void look().then((value) => finish(() => resolve(value)), fail), timeoutMs);
      let watching = this.watchers.get(id);
      if (!watching) this.watchers.set(id, (watching = new Set()));
      watching.add(check);
      check(); // it may have moved between the first look and listening
    });
  }

  /** Message `id` moved (a state, a part of its output): whoever waits for it looks again. */
  private moved(id: string): void {
    const watching = this.watchers.get(id);
    if (watching) for (const look of [...watching]) look();
  }

  /**
   * A reply message holds one reply or, from an agent that had several ready at once, a list of
   * them (wire.ts). Their state changes are stored together (one transaction), in order with the
   * parts of streamed output between them.
   */
  private async takeReplies(): Promise<void> {
    for await (const msg of this.messages!) {
      let replies: unknown[];
      try {
        const body = JSON.parse(msg.string()) as unknown;
        replies = Array.isArray(body) ? body : [body];
      } catch (err) {
        this.log.warn({ err, subject: msg.subject }, 'fleet reply ignored: not JSON');
        replies = [];
      }
      let changes: StateChange[] = [];
      const flush = async () => {
        if (changes.length === 0) return;
        const taking = changes;
        changes = [];
        await this.setStates(taking).catch((err: unknown) => this.log.warn({ err, subject: msg.subject }, 'fleet replies ignored: not understood'));
      };
      for (const reply of replies) {
        try {
          const taken = this.takeReply(reply as FleetReply, msg.subject);
          if (taken?.part) {
            await flush(); // the running state before its first part
            await this.takeOutput(taken.part);
          } else if (taken?.change) {
            changes.push(taken.change);
          }
        } catch (err) {
          this.log.warn({ err, subject: msg.subject }, 'fleet reply ignored: not understood');
        }
      }
      await flush();
      msg.ack();
    }
  }

  /** A reply as the state change it asks for or a part of streamed output (takeOutput); undefined if it is no reply for its subject (logged). */
  private takeReply(reply: FleetReply, subject: string): { change?: StateChange; part?: FleetReply } | undefined {
    if (typeof reply?.id !== 'string' || !['running', 'replied', 'failed'].includes(reply.state)) {
      this.log.warn({ subject }, 'fleet reply ignored: not a reply');
    } else if (reply.node !== this.transport.subjects.replyNode(subject)) {
      this.log.warn({ subject, id: reply.id, node: reply.node }, 'fleet reply ignored: its node is not the one in its subject');
    } else if (reply.state === 'running' && reply.part !== undefined) {
      return { part: reply };
    } else {
      const error = reply.state === 'failed' ? `${reply.errorCode ?? 'FAILED'}: ${reply.error ?? ''}` : undefined;
      // Too old when it reached the agent: it never ran, its time ran out.
      const state = reply.errorCode === 'REFUSED_EXPIRED' ? 'expired' : reply.state;
      return { change: { id: reply.id, state, reply: reply.state === 'running' ? undefined : (reply as unknown as Record<string, unknown>), error, from: reply.node } };
    }
    return undefined;
  }

  /**
   * A part of a streamed reply: kept in the store (a redelivered part once), appended to the reply
   * file of a file / fileAppend message as it comes, and told to whoever follows the output.
   */
  private async takeOutput(reply: FleetReply): Promise<void> {
    const record = await this.store.get(reply.id);
    if (!record || record.node !== reply.node || FLEET_FINAL_STATES.includes(record.state)) {
      return void this.log.warn({ id: reply.id, node: reply.node, state: record?.state }, 'fleet output part ignored: unknown, final or not from its node');
    }
    if (!Number.isInteger(reply.part) || reply.part! < 1 || typeof reply.text !== 'string') return void this.log.warn({ id: reply.id }, 'fleet output part ignored: malformed');
    const text = reply.dropped ? `[${reply.dropped} bytes of output dropped]\n${reply.text}` : reply.text;
    const fresh = await this.store.addOutput(reply.id, [{ part: reply.part!, stream: reply.stream === 'stderr' ? 'stderr' : 'stdout', text, at: new Date(reply.at).toISOString() }]);
    if (fresh.length === 0) return;
    if (record.state !== 'running') await this.setState(record.id, 'running', { from: reply.node });
    const target = replyTarget(record);
    if (isFileReply(target)) {
      // Part 1 starts a `file` reply afresh; every later part, and every fileAppend part, appends.
      await writeReplyFile(this.fleetDir, target, text, reply.part! > 1).catch((err: Error) => {
        this.log.error({ err, id: record.id }, 'fleet reply part could not be written to its file');
      });
    }
    this.moved(record.id);
  }

  /** Parts after `after`; when there are none and the message is not done, waits up to `timeoutMs` for one. */
  async waitOutput(id: string, after: number, timeoutMs: number): Promise<{ record: FleetMessageRecord; parts: FleetOutputPart[] }> {
    const look = async () => ({ record: await this.get(id), parts: await this.store.output(id, after, 1000) });
    return this.poll(id, look, (now) => now.parts.length > 0 || isDone(now.record), timeoutMs);
  }

  /**
   * JetStream gave up on a message: delivered max_deliver times (the agent's --max-deliver) and never
   * acked, e.g. an agent that dies on it each time. Without this it would stay `running` for good.
   */
  private async takeMaxDeliveries(err: Error | null, msg: { string(): string }): Promise<void> {
    if (err) return void this.log.warn({ err }, 'fleet advisory subscription failed');
    try {
      const advisory = JSON.parse(msg.string()) as { stream_seq?: number; deliveries?: number; consumer?: string };
      // Every message of the envelope that is not final yet: one that was answered stays as it is.
      const records = typeof advisory.stream_seq === 'number' ? await this.store.bySeq(advisory.stream_seq) : [];
      for (const record of records) {
        await this.setState(record.id, 'failed', {
          error: `MAX_DELIVERIES: delivered ${advisory.deliveries ?? '?'} times to ${advisory.consumer ?? 'its agent'} and never acknowledged`,
        });
      }
    } catch (e) {
      this.log.warn({ err: e }, 'fleet max-deliveries advisory not understood');
    }
  }

  /** Queued messages older than the signing window can no longer run: the agent would refuse them. */
  private async expireStale(): Promise<void> {
    try {
      const before = new Date(Date.now() - this.maxAgeMs).toISOString();
      for (const record of await this.store.stale(before, 1000)) {
        await this.setState(record.id, 'expired', { error: `EXPIRED: not taken by ${record.node}'s agent within ${ms(this.maxAgeMs, { long: true })} (fleetMaxAge)` });
      }
    } catch (err) {
      this.log.error({ err }, 'fleet expiry sweep failed');
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

  private setState(id: string, state: FleetMessageState, change: Omit<StateChange, 'id' | 'state'>): Promise<void> {
    return this.setStates([{ id, state, ...change }]);
  }

  /**
   * Moves messages on, all in one store transaction. `from`: the node a reply came from; only the
   * node a message was sent to may move it. Each move is audited, a final file reply written, and
   * then, once the audit lines are in the file, whoever waits is told (`changed`).
   */
  private async setStates(changes: StateChange[]): Promise<void> {
    const publishing = changes.flatMap((c) => this.publishing.get(c.id) ?? []);
    if (publishing.length > 0) await Promise.all(publishing);
    const at = new Date().toISOString();
    const fromItsNode = (before: FleetMessageRecord, from: string | undefined) => from === undefined || from === before.node;
    // Only a queued message can become delivered: the agent's own word (running, ...) may have come first.
    const applies = (before: FleetMessageRecord, change: StateChange) =>
      (change.state !== 'delivered' || before.state === 'queued') && fromItsNode(before, change.from);
    const results = await this.store.updateMany(changes.map((c) => ({ ...c, at })), applies);
    const moved: FleetMessageRecord[] = [];
    for (const [i, { before, after: updated }] of results.entries()) {
      const { id, state, from } = changes[i];
      if (!before) {
        this.log.warn({ id, state }, 'fleet reply for an unknown message ignored');
        continue;
      }
      if (!fromItsNode(before, from)) {
        // An agent may only speak for its own node (a nats-server can enforce the subject: docs/fleet-nats.md).
        this.log.warn({ id, node: before.node, from }, 'fleet reply ignored: not from the node the message was sent to');
        continue;
      }
      if (!updated) continue;
      let after = updated;
      if (after.state !== before.state) void this.audit.append(auditOfState(after));
      // Before `changed`, so whoever waits for the final state finds the file written. Also when the
      // state was final already: a reply redelivered after a crash before the file was handled.
      if (FLEET_FINAL_STATES.includes(after.state)) after = await this.deliverReply(after);
      if (after.state !== before.state) {
        this.log.debug({ id, node: after.node, state: after.state, from: before.state }, 'fleet message state');
        moved.push(after);
      }
    }
    if (moved.length === 0) return;
    // A lane's message done: its held ones may go (not awaited: this may run in that lane's work).
    // Once per lane: a reply group ends a whole envelope, and each pump more would queue behind the first for nothing.
    const doneLanes = new Map<string, { node: string; lane: Lane }>();
    for (const after of moved) {
      if (!FLEET_FINAL_STATES.includes(after.state)) continue;
      const lane = laneOf({ method: after.method as FleetMethod });
      doneLanes.set(laneKey(after.node, lane), { node: after.node, lane });
    }
    for (const { node, lane } of doneLanes.values()) void this.pump(node, lane);
    // A final state is in the audit log before anyone waiting is told of it.
    await this.audit.flushed();
    for (const after of moved) this.moved(after.id);
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
      const reply = record.reply as Pick<FleetReply, 'stdout' | 'stderr' | 'streamed'>;
      // A streamed reply's parts are in the file already; a `file` one with no parts still starts it afresh.
      const append = !!reply.streamed && (await this.store.output(record.id, 0, 1)).length > 0;
      const { file, bytes } = await writeReplyFile(this.fleetDir, target, replyOutput(reply), append);
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
    clearInterval(this.sweeper);
    clearInterval(this.heldChecker);
    this.advisories?.unsubscribe();
    this.hellos?.unsubscribe();
    await this.errorLog.close();
    this.messages?.stop();
    await this.loop;
    await Promise.all(this.laneWork.values()); // publishes under way: their seq stored
    this.heldLanes.clear();
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

/** The fleet's signing key from `<dataDir>`, made (and said so) on the first start. */
export async function loadSigner(dataDir: string, log: Logger): Promise<Signer> {
  const signer = await loadOrCreateSigner(dataDir);
  if (signer.created) log.info({ file: signer.file }, 'fleet signing key created');
  return signer;
}
