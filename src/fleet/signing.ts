// Signed fleet envelopes: the daemon signs every message it sends, an agent runs only what its
// allow-listed keys signed, for its own node, recently enough, and never twice.
//
// Envelope: {v: 3, id, node, iat, kid, payload, sig}; the payload holds one or more messages
// (wire.ts) and travels as a string, its JSON text; `id` is the first message's. `sig` is ed25519
// over SIGNING_CONTEXTS[v] + canonicalJson(everything but sig) (see canonical-json.ts); the context
// string keeps a fleet signature from ever being valid for anything else signed with the same key.
// The payload as text is signed byte for byte as sent, so neither side puts each message in
// canonical form (that was a tenth of an agent's CPU per message), and the agent parses it only
// once the signature holds. Agents also accept version 2, the one before, whose payload was an
// object signed in canonical form, so they can be upgraded before the daemon.
// `node` is signed, so a fan-out to N nodes is N envelopes. `kid` (signer-keys.ts) picks the key.
//
// Time and replay, the design decision:
// - A short replay window (say 5 minutes) would refuse exactly the messages this system exists
//   for: those queued for a machine that was offline for hours. So age and replay are separate.
// - Age: a message is refused as EXPIRED once `iat` is more than `maxAgeMs` old (default 7 days,
//   the fleet queue's age limit: keep the JetStream stream's max age at or below it, or queued
//   messages arrive only to be refused). FROM_THE_FUTURE refuses `iat` more than `maxSkewMs`
//   (default 5 minutes) ahead of the agent's clock: a badly set clock on either side shows up
//   as a clear reason instead of as messages that would linger in the seen store.
// - Replay: by id. An accepted id goes into the SeenStore (on disk, survives agent restarts) for
//   as long as its envelope could pass the age check; after that the age check refuses it, so
//   the store can forget it. Replay protection is therefore exactly as long as `maxAgeMs`, with
//   no gap. Raising `maxAgeMs` across a restart reopens that window for ids already forgotten.
// - Each message's id is recorded (take()) before it runs: at most once. An
//   agent that dies mid-command does not run it again on redelivery (the controller sees no
//   reply and marks it failed). A retry must resend the same envelope, not a re-signed one with a
//   new iat, or the retry could outlive its first copy in the seen store.
// Checks run cheapest-honest first: shape, key, signature; node, age and replay only on an
// authentic envelope, so forged claims never reach the logs as anything but BAD_SIGNATURE and
// never take room in the seen store.
import { sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import type { SeenStore } from './seen-ids.js';
import { keyId, type Signer } from './signer-keys.js';

/** 3: the payload is the JSON text of a list of messages (wire.ts); 2 held it as an object, 1 held one message. */
export const ENVELOPE_VERSION = 3;
/** What the signature covers starts with this, per version the agent accepts. */
export const SIGNING_CONTEXTS: Readonly<Record<AcceptedVersion, string>> = {
  2: 'switchboard fleet envelope v2\n',
  3: 'switchboard fleet envelope v3\n',
};
type AcceptedVersion = 2 | 3;
const isAcceptedVersion = (v: unknown): v is AcceptedVersion => v === 2 || v === 3;
export const DEFAULT_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000;
export const DEFAULT_MAX_SKEW_MS = 5 * 60 * 1000;
const MAX_ID_LENGTH = 128;

function isMessageId(id: unknown): id is string {
  return typeof id === 'string' && id.length > 0 && id.length <= MAX_ID_LENGTH;
}

/** What travels: the payload as JSON text. */
export interface Envelope {
  v: typeof ENVELOPE_VERSION;
  id: string;
  node: string;
  /** Issued at, ms since the epoch, by the signer's clock. */
  iat: number;
  kid: string;
  payload: string;
  /** ed25519 signature, base64url. */
  sig: string;
}

/** What the agent goes on once the signature holds: the payload parsed. */
export interface VerifiedEnvelope<P = unknown> {
  v: AcceptedVersion;
  id: string;
  node: string;
  iat: number;
  kid: string;
  payload: P;
}

export interface SignOptions {
  node: string;
  id: string;
  now?: number;
}

/** The payload goes as its JSON text (JSON.stringify), which is what the agent will parse. */
export function sign(payload: object, signer: Signer, opts: SignOptions): Envelope {
  return signText(JSON.stringify(payload), signer, opts);
}

/** sign, for a payload that is JSON text already. */
export function signText(payload: string, signer: Signer, opts: SignOptions): Envelope {
  if (!opts.id || opts.id.length > MAX_ID_LENGTH) throw new TypeError(`fleet envelope id must be 1-${MAX_ID_LENGTH} characters`);
  const body: Omit<Envelope, 'sig'> = {
    v: ENVELOPE_VERSION,
    id: opts.id,
    node: opts.node,
    iat: opts.now ?? Date.now(),
    kid: keyId(signer.publicKey),
    payload,
  };
  return { ...body, sig: edSign(null, signedBytes(body), signer.privateKey).toString('base64url') };
}

/** v3: the payload is a string, so this is one JSON.stringify of it; v2: the payload object in canonical form. */
function signedBytes(body: { v: AcceptedVersion; id: string; node: string; iat: number; kid: string; payload: unknown }): Buffer {
  const { v, id, node, iat, kid, payload } = body; // exactly these fields, whatever else the object holds
  return Buffer.from(SIGNING_CONTEXTS[v] + canonicalJson({ v, id, node, iat, kid, payload }), 'utf8');
}

export type RejectReason =
  | 'UNSIGNED'
  | 'MALFORMED'
  | 'UNKNOWN_SIGNER'
  | 'BAD_SIGNATURE'
  | 'WRONG_NODE'
  | 'EXPIRED'
  | 'FROM_THE_FUTURE'
  | 'REPLAYED';

/** What each reason means, for the agent's log line. */
export const REJECT_REASONS: Record<RejectReason, string> = {
  UNSIGNED: 'not a signed envelope',
  MALFORMED: 'the envelope is malformed',
  UNKNOWN_SIGNER: "signed by a key not in this agent's allow-list",
  BAD_SIGNATURE: 'the signature does not match the content',
  WRONG_NODE: 'addressed to another node',
  EXPIRED: 'older than the maximum message age',
  FROM_THE_FUTURE: "issued ahead of this agent's clock by more than the allowed skew",
  REPLAYED: 'this message id was already accepted',
};

export class EnvelopeRejected extends Error {
  readonly code = 'ENVELOPE_REJECTED';

  constructor(
    readonly reason: RejectReason,
    /** The envelope's id as given; authentic only for reasons after BAD_SIGNATURE. */
    readonly id: string | undefined,
    readonly detail: string,
  ) {
    super(`fleet message ${id ?? '(no id)'} refused: ${reason}: ${REJECT_REASONS[reason]} (${detail})`);
    this.name = 'EnvelopeRejected';
  }
}

export interface VerifierOptions {
  /** This agent's node name. */
  node: string;
  allowed: KeyObject[];
  seen: SeenStore;
  maxAgeMs?: number;
  maxSkewMs?: number;
  now?: () => number;
}

export class EnvelopeVerifier {
  private readonly keys = new Map<string, KeyObject>();
  private readonly node: string;
  private readonly seen: SeenStore;
  private readonly maxAgeMs: number;
  private readonly maxSkewMs: number;
  private readonly now: () => number;

  constructor(opts: VerifierOptions) {
    if (opts.allowed.length === 0) throw new TypeError('a fleet agent needs at least one allowed signer');
    for (const key of opts.allowed) this.keys.set(keyId(key), key);
    this.node = opts.node;
    this.seen = opts.seen;
    this.maxAgeMs = opts.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
    this.maxSkewMs = opts.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
    this.now = opts.now ?? Date.now;
  }

  /** The authentic envelope (without sig), for this node and recent; or throws EnvelopeRejected. Its messages are taken one by one (take). */
  verify(input: unknown): VerifiedEnvelope {
    const { body, sig } = parseEnvelope(input);
    this.checkSignature(body, sig);
    if (body.node !== this.node) throw new EnvelopeRejected('WRONG_NODE', body.id, `for '${body.node}', this agent is '${this.node}'`);
    this.checkAge(body);
    const payload = body.v === 3 ? parsePayload(body.payload as string, body.id) : body.payload;
    this.checkExpires(payload, body.id);
    return { ...body, payload };
  }

  /**
   * Before the messages of a verified envelope are taken one by one: lets the seen store make that
   * cheaper. `ids` as the messages carry them; those take() would refuse are left out.
   */
  async intend(ids: unknown[], envelope: VerifiedEnvelope): Promise<void> {
    await this.seen.intend?.(ids.filter(isMessageId), envelope.iat + this.maxAgeMs);
  }

  /**
   * Records message `id` of a verified envelope as taken, before it runs; throws REPLAYED if it was
   * taken before. Kept as long as the envelope could pass the age check.
   */
  async take(id: string, envelope: VerifiedEnvelope): Promise<void> {
    if (!isMessageId(id)) throw malformedId();
    if (!(await this.seen.remember(id, envelope.iat + this.maxAgeMs))) throw replayed(id, envelope);
  }

  /**
   * take() for each of a verified envelope's messages that run back to back at once (seen-ids.ts
   * rememberAll): all recorded before any runs. For each id in turn, undefined if taken, else why not.
   */
  async takeAll(ids: unknown[], envelope: VerifiedEnvelope): Promise<(EnvelopeRejected | undefined)[]> {
    const fresh = await this.seen.rememberAll(ids.filter(isMessageId), envelope.iat + this.maxAgeMs);
    let k = 0;
    return ids.map((id) => (!isMessageId(id) ? malformedId() : fresh[k++] ? undefined : replayed(id, envelope)));
  }

  private checkSignature(body: WireBody, sig: Buffer): void {
    const key = this.keys.get(body.kid);
    if (!key) throw new EnvelopeRejected('UNKNOWN_SIGNER', body.id, `key id ${body.kid}`);
    let bytes: Buffer;
    try {
      bytes = signedBytes(body);
    } catch (err) {
      throw new EnvelopeRejected('MALFORMED', body.id, (err as Error).message);
    }
    if (!edVerify(null, bytes, key, sig)) throw new EnvelopeRejected('BAD_SIGNATURE', body.id, `key id ${body.kid}`);
  }

  private checkAge(body: VerifiedEnvelope): void {
    const age = this.now() - body.iat;
    if (age > this.maxAgeMs) {
      throw new EnvelopeRejected('EXPIRED', body.id, `issued ${formatMs(age)} ago, the limit is ${formatMs(this.maxAgeMs)}`);
    }
    if (-age > this.maxSkewMs) {
      throw new EnvelopeRejected('FROM_THE_FUTURE', body.id, `issued ${formatMs(-age)} ahead, the limit is ${formatMs(this.maxSkewMs)}`);
    }
  }

  /**
   * Past the time its sender gave up on its messages (the payload's `expires`, wire.ts): the daemon
   * has called them expired, whatever this agent's own window. Our clock is in the reason, so one
   * far ahead of the sender's shows there.
   */
  private checkExpires(payload: unknown, id: string): void {
    const expires = (payload as { expires?: unknown } | null)?.expires;
    const now = this.now();
    if (typeof expires === 'number' && now > expires) {
      throw new EnvelopeRejected('EXPIRED', id, `past ${new Date(expires).toISOString()}, when its sender gave up on it (fleetMaxAge); this agent's clock says ${new Date(now).toISOString()}`);
    }
  }
}

const malformedId = () => new EnvelopeRejected('MALFORMED', undefined, `a message id must be 1-${MAX_ID_LENGTH} characters`);
const replayed = (id: string, envelope: VerifiedEnvelope) => new EnvelopeRejected('REPLAYED', id, `issued at ${new Date(envelope.iat).toISOString()}`);

const SIGNATURE_BASE64URL = /^[A-Za-z0-9_-]{86}$/; // 64 bytes
const KID = /^[0-9a-f]{16}$/;
const ENVELOPE_FIELDS = new Set(['v', 'id', 'node', 'iat', 'kid', 'payload', 'sig']);

/** An envelope as it came, but sig: a v3 payload is still its text. */
type WireBody = VerifiedEnvelope;

/** A v3 payload, parsed once its signature holds: the signer made it with JSON.stringify of an object. */
function parsePayload(text: string, id: string): unknown {
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch (err) {
    throw new EnvelopeRejected('MALFORMED', id, `payload is not JSON: ${(err as Error).message}`);
  }
  if (typeof payload !== 'object' || payload === null) throw new EnvelopeRejected('MALFORMED', id, 'payload must be the JSON text of an object');
  return payload;
}

/** Shape checks only; nothing here is trusted until the signature is. */
function parseEnvelope(input: unknown): { body: WireBody; sig: Buffer } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new EnvelopeRejected('UNSIGNED', undefined, 'not a JSON object');
  }
  const env = input as Record<string, unknown>;
  const id = typeof env.id === 'string' && env.id.length > 0 && env.id.length <= MAX_ID_LENGTH ? env.id : undefined;
  if (env.sig === undefined) throw new EnvelopeRejected('UNSIGNED', id, 'no sig');
  if (typeof env.sig !== 'string' || !SIGNATURE_BASE64URL.test(env.sig)) {
    throw new EnvelopeRejected('UNSIGNED', id, 'sig is not 64 bytes of base64url');
  }
  const malformed = (field: string, why: string) => new EnvelopeRejected('MALFORMED', id, `${field} ${why}`);
  const v = env.v;
  if (!isAcceptedVersion(v)) throw malformed('v', `is ${JSON.stringify(v)}, this agent speaks 2 and ${ENVELOPE_VERSION}`);
  if (!id) throw malformed('id', `must be a string of 1-${MAX_ID_LENGTH} characters`);
  if (typeof env.node !== 'string') throw malformed('node', 'must be a string');
  if (!Number.isSafeInteger(env.iat)) throw malformed('iat', 'must be an integer (ms since the epoch)');
  if (typeof env.kid !== 'string' || !KID.test(env.kid)) throw malformed('kid', 'must be 16 hex digits');
  if (v === 3 && typeof env.payload !== 'string') throw malformed('payload', 'must be a string (JSON text) in version 3');
  if (v === 2 && (typeof env.payload !== 'object' || env.payload === null)) throw malformed('payload', 'must be an object in version 2');
  // Anything not covered by the signature could be swapped in transit: refuse it outright.
  const extra = Object.keys(env).find((key) => !ENVELOPE_FIELDS.has(key));
  if (extra) throw malformed(extra, 'is not an envelope field');
  const body: WireBody = { v, id, node: env.node, iat: env.iat as number, kid: env.kid, payload: env.payload };
  return { body, sig: Buffer.from(env.sig, 'base64url') };
}

function formatMs(ms: number): string {
  if (ms < 120_000) return `${Math.round(ms / 1000)}s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)}min`;
  if (ms < 172_800_000) return `${Math.round(ms / 3_600_000)}h`;
  return `${Math.round(ms / 86_400_000)}d`;
}
