// An agent's replies, stored in the reply stream in the order they are made, several to a JetStream
// message when they come faster than the stream acks them (group commit): up to MAX_IN_FLIGHT
// groups are on their way at once, each sent as soon as it is made; replies made while that many
// are on their way wait and go out together when one is stored; so do replies made while the
// queue is corked (cork/uncork: the instant messages of one envelope, run back to back). A quiet
// agent answers as fast as before (a message's `running` and final reply both go at once); a busy
// one makes one publish, one ack and one delivery to the daemon per group instead of per reply.
// One connection's publishes are stored in the order sent, so groups on their way at once stay in order.
//
// Tries, as steward's replyACKTimeout and replyRetries say: each reply is tried 1 + replyRetries
// times, each try waiting up to replyACKTimeout for JetStream's ack, and a try refused sooner (no
// stream, a stream limit) waits out the rest of it, so the tries span a stream that is unavailable
// for a while. Replies are grouped only with replies of the same timing; one message's replies all
// have the same. A group is at most MAX_BATCH_BYTES of JSON unless one reply alone is larger.
import { setTimeout as delay } from 'node:timers/promises';
import type { FleetTiming } from './message.js';
import { MAX_BATCH_BYTES, type FleetReply } from './wire.js';

export type ReplyTiming = Pick<FleetTiming, 'replyAckTimeout' | 'replyRetries'>;

interface Pending {
  reply: FleetReply;
  json: string;
  /** Tries made so far. */
  tries: number;
  stored: (ok: boolean) => void;
}

export interface ReplyStore {
  /** One try at storing a group (its JSON: one reply, or a list); rejects if JetStream did not ack it within `timeoutMs`. */
  store(replies: FleetReply[], json: string, timeoutMs: number): Promise<void>;
  /** A try failed; the reply is tried again. */
  retrying(reply: FleetReply, tries: number, err: Error): void;
  /** The reply's last try failed: it is lost. */
  lost(reply: FleetReply, tries: number, err: Error, timing: ReplyTiming): void;
}

interface Queue {
  pending: Pending[];
  inFlight: number;
  timing: ReplyTiming;
}

/** Groups of one timing on their way at once. */
const MAX_IN_FLIGHT = 2;

export class ReplyQueue {
  private readonly queues = new Map<string, Queue>();
  /** Replies are held while corked (cork); counted, so corks may nest. */
  private corks = 0;

  constructor(private readonly target: ReplyStore) {}

  /** Resolves once the reply is stored (true) or given up on (false); never rejects. */
  send(reply: FleetReply, timing: ReplyTiming): Promise<boolean> {
    const key = `${timing.replyAckTimeout}/${timing.replyRetries}`;
    let queue = this.queues.get(key);
    if (!queue) this.queues.set(key, (queue = { pending: [], inFlight: 0, timing }));
    const q = queue;
    return new Promise((stored) => {
      q.pending.push({ reply, json: JSON.stringify(reply), tries: 0, stored });
      if (this.corks === 0) this.pump(q);
    });
  }

  /** Holds the replies sent from now on until uncork(), so those made together leave together. Keep it short: they wait meanwhile. */
  cork(): void {
    this.corks++;
  }

  /** Ends a cork(); with none left, sends what was held. */
  uncork(): void {
    if (this.corks === 0 || --this.corks > 0) return;
    for (const q of this.queues.values()) this.pump(q);
  }

  /** Sends what waits, in groups, while fewer than MAX_IN_FLIGHT are on their way. */
  private pump(q: Queue): void {
    while (q.inFlight < MAX_IN_FLIGHT && q.pending.length > 0) {
      let bytes = q.pending[0].json.length;
      let n = 1;
      while (n < q.pending.length && bytes + q.pending[n].json.length + 1 <= MAX_BATCH_BYTES) bytes += q.pending[n++].json.length + 1;
      q.inFlight++;
      void this.tries(q.pending.splice(0, n), q.timing).catch(() => undefined).finally(() => {
        q.inFlight--;
        this.pump(q);
      });
    }
  }

  /** One group's tries: those stored or out of tries are settled; the rest are tried again after the try's time. */
  private async tries(group: Pending[], timing: ReplyTiming): Promise<void> {
    const timeoutMs = timing.replyAckTimeout * 1000;
    while (group.length > 0) {
      const json = group.length === 1 ? group[0].json : `[${group.map((p) => p.json).join(',')}]`;
      const started = Date.now();
      try {
        await this.target.store(group.map((p) => p.reply), json, timeoutMs);
        for (const p of group) p.stored(true);
        return;
      } catch (e) {
        const err = e as Error;
        for (const p of group) {
          if (++p.tries > timing.replyRetries) {
            this.target.lost(p.reply, p.tries, err, timing);
            p.stored(false);
          } else {
            this.target.retrying(p.reply, p.tries, err);
          }
        }
        group = group.filter((p) => p.tries <= timing.replyRetries);
        if (group.length > 0) await delay(Math.max(0, started + timeoutMs - Date.now()));
      }
    }
  }
}
