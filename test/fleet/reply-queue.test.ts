// The agent's reply queue on its own: what goes out together, in which order, and how tries are
// counted. The store here is the test's (it answers when the test says); the real reply stream
// is in the nats-*.test.ts files.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ReplyQueue, type ReplyStore, type ReplyTiming } from '../../src/fleet/reply-queue.js';
import { MAX_BATCH_BYTES, type FleetReply } from '../../src/fleet/wire.js';

const reply = (id: string, extra: Partial<FleetReply> = {}): FleetReply => ({ id, node: 'n1', state: 'replied', at: 0, ...extra });

/** A store whose every try waits until the test settles it. */
function heldStore() {
  const tries: { ids: string[]; json: string; ok: () => void; fail: (err: Error) => void }[] = [];
  const retried: string[] = [];
  const lost: string[] = [];
  let wake = () => {};
  const store: ReplyStore = {
    store: (replies, json) => new Promise<void>((ok, fail) => {
      tries.push({ ids: replies.map((r) => r.id), json, ok: () => ok(), fail });
      wake();
    }),
    retrying: (r, n) => void retried.push(`${r.id}#${n}`),
    lost: (r, n) => void lost.push(`${r.id}#${n}`),
  };
  /** Resolves once `n` tries were made. */
  const made = (n: number) => new Promise<void>((resolve) => {
    const check = () => (tries.length >= n ? resolve() : void (wake = check));
    check();
  });
  return { store, tries, retried, lost, made };
}

const timing: ReplyTiming = { replyAckTimeout: 0.01, replyRetries: 1 };

describe('reply queue', () => {
  test('two groups on their way at once; what comes meanwhile goes out together, in order', async () => {
    const s = heldStore();
    const q = new ReplyQueue(s.store);
    const stored = ['a', 'b', 'c', 'd', 'e'].map((id) => q.send(reply(id), timing));
    await s.made(2);
    assert.deepEqual(s.tries.map((t) => t.ids), [['a'], ['b']]);
    assert.equal(JSON.parse(s.tries[0].json).id, 'a', 'one reply goes as itself, not in a list');
    s.tries[0].ok();
    await s.made(3);
    assert.deepEqual(s.tries[2].ids, ['c', 'd', 'e']);
    assert.deepEqual((JSON.parse(s.tries[2].json) as FleetReply[]).map((r) => r.id), ['c', 'd', 'e']);
    s.tries[1].ok();
    s.tries[2].ok();
    assert.deepEqual(await Promise.all(stored), [true, true, true, true, true]);
  });

  test('replies sent while corked leave as one group once uncorked, even with nothing on its way', async () => {
    const s = heldStore();
    const q = new ReplyQueue(s.store);
    q.cork();
    q.cork();
    const stored = ['a', 'b', 'c'].map((id) => q.send(reply(id), timing));
    q.uncork();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(s.tries.length, 0, 'held while a cork is left');
    q.uncork();
    await s.made(1);
    assert.deepEqual(s.tries.map((t) => t.ids), [['a', 'b', 'c']]);
    s.tries[0].ok();
    assert.deepEqual(await Promise.all(stored), [true, true, true]);
    stored.push(q.send(reply('d'), timing));
    await s.made(2);
    assert.deepEqual(s.tries[1].ids, ['d'], 'uncorked: sent at once');
  });

  test('a group stays under MAX_BATCH_BYTES unless one reply alone is larger', async () => {
    const s = heldStore();
    const q = new ReplyQueue(s.store);
    const big = 'x'.repeat(MAX_BATCH_BYTES / 2);
    const stored = [q.send(reply('hold1'), timing), q.send(reply('hold2'), timing)];
    stored.push(...['p', 'q', 'r'].map((id) => q.send(reply(id, { stdout: big }), timing)));
    stored.push(q.send(reply('huge', { stdout: big + big }), timing));
    await s.made(2);
    s.tries[0].ok();
    s.tries[1].ok();
    await s.made(4);
    assert.deepEqual(s.tries.slice(2).map((t) => t.ids), [['p'], ['q']]);
    for (const t of s.tries.slice(2)) t.ok();
    await s.made(6);
    assert.deepEqual(s.tries.slice(4).map((t) => t.ids), [['r'], ['huge']]);
    for (const t of s.tries.slice(4)) t.ok();
    assert.ok((await Promise.all(stored)).every(Boolean));
    assert.ok(s.tries.every((t) => t.json.length <= MAX_BATCH_BYTES || t.ids.length === 1));
  });

  test('a failed try is tried again, 1 + replyRetries times in all; then the reply is lost', async () => {
    const s = heldStore();
    const q = new ReplyQueue(s.store);
    const kept = q.send(reply('kept'), timing);
    const gone = q.send(reply('gone'), { replyAckTimeout: 0.01, replyRetries: 0 });
    await s.made(2);
    const [first, other] = s.tries[0].ids[0] === 'kept' ? [s.tries[0], s.tries[1]] : [s.tries[1], s.tries[0]];
    first.fail(new Error('no stream'));
    other.fail(new Error('no stream'));
    assert.equal(await gone, false);
    await s.made(3);
    assert.deepEqual(s.tries[2].ids, ['kept']);
    s.tries[2].ok();
    assert.equal(await kept, true);
    assert.deepEqual([s.retried, s.lost], [['kept#1'], ['gone#1']]);
  });
});
