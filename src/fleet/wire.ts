// What travels on the fleet subjects, besides the signed envelope itself (signing.ts).
import type { AddressedMessage } from './message.js';

/** The daemon's fleet name when none is configured: steward's central node. */
export const DEFAULT_FLEET_NAME = 'central';

/**
 * The signed payload of a command envelope: one node's messages of one lane, in the order sent.
 * Messages submitted together for the same node and lane travel in one envelope (one signature,
 * one JetStream message, one ack), up to MAX_BATCH_MESSAGES / MAX_BATCH_BYTES; each is still
 * taken, run and answered on its own. Replies go to <prefix>.reply.<node>.<first reply's id>.
 */
export interface CommandPayload {
  messages: AddressedMessage[];
  /**
   * The sender's fleet name (the daemon's fleetName, default `central`), for the agent's
   * allowedNodes (method-policy.ts). Signed with the rest, so only an allowed key can set it;
   * absent from daemons that predate it.
   */
  from?: string;
  /**
   * When the daemon gives up on these messages (ms since the epoch): the oldest one's submission
   * plus its fleetMaxAge, when it marks them `expired`. The agent refuses them after it (EXPIRED),
   * so a message that left late (held) is not run after the daemon has called it expired, whatever
   * the agent's own window. Signed with the rest; absent from daemons that predate it.
   */
  expires?: number;
}

/**
 * The payload's JSON text from its messages' own texts, each JSON.stringify(message): the same text
 * JSON.stringify({ messages, from, expires }) makes (test/fleet/message.test.ts), without making
 * each message's text again where the daemon has it already.
 */
export function commandPayloadText(messages: readonly string[], from: string, expires: number): string {
  return `{"messages":[${messages.join(',')}],"from":${JSON.stringify(from)},"expires":${JSON.stringify(expires)}}`;
}

export type ReplyState = 'running' | 'replied' | 'failed';

/** An agent's report on one message: first `running`, then `replied` or `failed`. */
export interface FleetReply {
  id: string;
  node: string;
  state: ReplyState;
  exitCode?: number | null;
  signal?: string | null;
  stdout?: string;
  stderr?: string;
  /** httpGet: the response's status (the body is in stdout). */
  httpStatus?: number;
  /** Set when stdout or stderr (httpGet: the body) was cut at the agent's cap. */
  truncated?: boolean;
  /**
   * Streamed methods (cliCommandCont, tailFile): `running` replies each carry one part of the
   * output, numbered from 1 in the order produced; the final reply then has `streamed` and no
   * stdout/stderr of its own.
   */
  part?: number;
  stream?: 'stdout' | 'stderr';
  text?: string;
  /** Bytes the agent had to drop before this part (the replies fell behind the output). */
  dropped?: number;
  streamed?: boolean;
  /**
   * Why it failed: TIMEOUT, SPAWN_FAILED, HTTP_STATUS, HTTP_FAILED, REFUSED_<reason>, NOT_SUPPORTED,
   * METHOD_DISABLED, SENDER_NOT_ALLOWED, OP_FAILED, INTERRUPTED, RETRIES_EXHAUSTED, TAIL_FAILED, NOT_FOUND, REPLY_FAILED.
   */
  errorCode?: string;
  error?: string;
  /** The agent's clock, ms since the epoch. */
  at: number;
}

/** Messages in one command envelope at most. */
export const MAX_BATCH_MESSAGES = 100;

/**
 * JSON bytes of one envelope's messages, or of one group of replies, at most, unless a single
 * one is larger: NATS refuses a payload over its max_payload (1 MB unless configured).
 */
export const MAX_BATCH_BYTES = 256 * 1024;

/** What a method's run adds to the reply. */
export type MethodOutcome = Omit<FleetReply, 'id' | 'node' | 'at'>;
