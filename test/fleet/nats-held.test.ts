// Messages for a lane that has an envelope out (its agent busy or away) wait in the daemon's store,
// held, and go out together once that envelope is done: one JetStream message for many
// submissions, in the order submitted, across a restart of the daemon, and also when the envelope
// they waited for is gone from JetStream.
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import type { JetStreamManager } from 'nats';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadOrCreateSigner } from '../../src/fleet/signer-keys.js';
import { sign } from '../../src/fleet/signing.js';
import { DEFAULT_FLEET_NAME } from '../../src/fleet/wire.js';
import { runCli } from '../support/cli.js';
import { startDaemon, tempDir, type DaemonHandle } from '../support/daemon.js';
import { fleetCalls, fleetPrefix, natsConnection, natsUrl, startAgent } from '../support/nats.js';

describe('fleet over NATS: messages held while their lane has an envelope out', () => {
  const prefix = fleetPrefix('held');
  const dataDir = tempDir('fleet-held');
  const stream = `fleet-${prefix}-cmd`;
  let daemon: DaemonHandle;
  let signer: string;
  const env = async () => ({ SWITCHBOARD_NATS_URL: await natsUrl(), SWITCHBOARD_FLEET_PREFIX: prefix });

  before(async () => {
    daemon = await startDaemon({ dataDir, env: await env() });
    signer = (await runCli(daemon, ['fleet', 'signer'])).stdout.trim();
  });
  after(() => daemon?.stop());

  const { submit, view, final } = fleetCalls(() => daemon);
  const state = async (id: string) => (await view(id)).state as string;
  /** A cliCommand that appends `n` to `file`: the file tells what ran, and in which order. */
  const append = (node: string, file: string, n: number) =>
    ({ toNode: node, method: 'cliCommand', methodArgs: ['sh', '-c', `echo ${n} >> ${file}`], replyMethod: 'console' });

  /** JetStream's view of the command stream: envelopes ever stored, and those waiting on `node`'s cli lane. */
  async function envelopes(node: string): Promise<{ stored: number; waiting: number }> {
    const nc = await natsConnection();
    try {
      const subject = `${prefix}.cmd.${node}.cli`;
      const info = await (await nc.jetstreamManager()).streams.info(stream, { subjects_filter: subject });
      return { stored: info.state.last_seq, waiting: info.state.subjects?.[subject] ?? 0 };
    } finally {
      await nc.close();
    }
  }

  /** Three POSTs for `node`, whose agent is not started: the first published, the other two held; then the daemon stopped. */
  async function threeThenStop(node: string): Promise<{ file: string; ids: string[] }> {
    const file = path.join(tempDir(node), 'ran');
    const ids = [...await submit([append(node, file, 1)]), ...await submit([append(node, file, 2)]), ...await submit([append(node, file, 3)])];
    await daemon.stop();
    return { file, ids };
  }

  /** Works on the stopped daemon's store file itself: what a daemon killed at a given moment leaves there. */
  function inStore<T>(work: (db: Database.Database) => T): T {
    const db = new Database(path.join(dataDir, 'switchboard.db'));
    try {
      return work(db);
    } finally {
      db.close();
    }
  }

  /** The three replied, and each ran once, in order. */
  async function ranOnceInOrder(ids: string[], file: string): Promise<void> {
    const done = [];
    for (const id of ids) done.push(await final(id));
    assert.deepEqual(done.map((m) => m.state), ['replied', 'replied', 'replied']);
    assert.equal(readFileSync(file, 'utf8'), '1\n2\n3\n', 'each once, in order');
  }

  /** The daemon started again on the same store, then the node's agent: the three run once, in order. */
  async function startAgainAndRun(node: string, ids: string[], file: string): Promise<void> {
    daemon = await startDaemon({ dataDir, env: await env() });
    const agent = await startAgent({ node, prefix, allowSigner: signer });
    try {
      await ranOnceInOrder(ids, file);
    } finally {
      await agent.stop();
    }
  }

  /** The payload of an envelope in the command stream, as the agent will read it. */
  async function storedPayload(jsm: JetStreamManager, query: { seq: number } | { last_by_subj: string }): Promise<{ messages: { id: string }[]; expires: number }> {
    const envelope = JSON.parse(new TextDecoder().decode((await jsm.streams.getMessage(stream, query)).data)) as { payload: string };
    return JSON.parse(envelope.payload) as { messages: { id: string }[]; expires: number };
  }

  test('four POSTs for an offline node make two envelopes: the first, then the other three together; all run once, in order', async () => {
    const node = 'held-1';
    const file = path.join(tempDir('held-1'), 'ran');
    const start = (await envelopes(node)).stored;
    const ids = [
      ...await submit([append(node, file, 1)]),
      ...await submit([append(node, file, 2)]),
      ...await submit([append(node, file, 3), append(node, file, 4)]),
      ...await submit([append(node, file, 5)]),
    ];
    const views = await Promise.all(ids.map(view));
    assert.deepEqual(views.map((m) => [m.state, m.held]), [['queued', false], ['queued', true], ['queued', true], ['queued', true], ['queued', true]]);
    // Only the first is in JetStream; the others wait in the daemon's store, and say so.
    assert.deepEqual(await envelopes(node), { stored: start + 1, waiting: 1 });
    const status = await runCli(daemon, ['fleet', 'status', ids[1]]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`^${ids[1]} +held-1 +cliCommand +queued \\(held\\) `, 'm'));

    const agent = await startAgent({ node, prefix, allowSigner: signer });
    try {
      const done = [];
      for (const id of ids) done.push(await final(id));
      assert.deepEqual(done.map((m) => [m.state, m.held]), [['replied', false], ['replied', false], ['replied', false], ['replied', false], ['replied', false]]);
      assert.equal(readFileSync(file, 'utf8'), '1\n2\n3\n4\n5\n', 'each ran once, in the order submitted');
      assert.deepEqual(await envelopes(node), { stored: start + 2, waiting: 0 }, 'the held four went out as one envelope');
      const kept = inStore((db) => db.prepare(`SELECT COUNT(*) AS n FROM fleet_messages WHERE id IN (${ids.map(() => '?').join(', ')}) AND body IS NOT NULL`).get(...ids));
      assert.deepEqual(kept, { n: 0 }, 'published: the text of none (an argv may hold a secret) is kept in the store');
    } finally {
      await agent.stop();
    }
  });

  test('messages held when the daemon stops go out after it starts again', async () => {
    const node = 'held-2';
    const { file, ids } = await threeThenStop(node);
    // The agent runs the first while the daemon is away; its reply waits in the reply stream.
    const agent = await startAgent({ node, prefix, allowSigner: signer });
    try {
      daemon = await startDaemon({ dataDir, env: await env() });
      await ranOnceInOrder(ids, file);
    } finally {
      await agent.stop();
    }
  });

  test('a store from before migration 13: held messages its daemon had taken to publish when it stopped (not held, no seq) go out after the upgrade', async () => {
    const node = 'held-5';
    const { file, ids } = await threeThenStop(node);
    // What the claim of an older daemon, killed before it published 2 and 3, left in its store.
    const taken = inStore((db) => {
      db.pragma('user_version = 12');
      return db.prepare('UPDATE fleet_messages SET held = 0 WHERE id IN (?, ?) AND held = 1 AND seq IS NULL').run(ids[1], ids[2]);
    });
    assert.equal(taken.changes, 2);
    await startAgainAndRun(node, ids, file);
  });

  test('an envelope the daemon had published but not recorded when it stopped: published again, what was held after it is not dropped with it, none runs twice', async () => {
    const node = 'held-6';
    const { file, ids } = await threeThenStop(node);
    // What a daemon killed after publishing 2 and before recording it leaves: 2 still held (no seq)
    // in its store, and its envelope in JetStream, published as the daemon publishes one.
    const body = inStore((db) => (db.prepare('SELECT body FROM fleet_messages WHERE id = ? AND held = 1 AND seq IS NULL').get(ids[1]) as { body: string }).body);
    const nc = await natsConnection();
    try {
      const envelope = sign({ messages: [JSON.parse(body)], from: DEFAULT_FLEET_NAME }, await loadOrCreateSigner(dataDir), { node, id: ids[1] });
      await nc.jetstream().publish(`${prefix}.cmd.${node}.cli`, Buffer.from(JSON.stringify(envelope)), { msgID: ids[1] });
    } finally {
      await nc.close();
    }
    await startAgainAndRun(node, ids, file);
  });

  test('a message the daemon had recorded and not yet published when it stopped (its lane idle): published at start, run once, before those held after it', async () => {
    const node = 'held-7';
    const { file, ids } = await threeThenStop(node);
    // 1 went out at once, 2 and 3 were held behind it. What a daemon killed between recording 1 and
    // publishing it leaves: 1 as recorded (held, no seq) and nothing of it in JetStream.
    const seq = inStore((db) => {
      const row = db.prepare('SELECT seq, held, body FROM fleet_messages WHERE id = ?').get(ids[0]) as { seq: number; held: number; body: string | null };
      assert.deepEqual([row.held, row.body], [0, null], 'published: held no more, its text not kept');
      return row.seq;
    });
    const nc = await natsConnection();
    try {
      // Its text as recorded, which is what was signed into the envelope.
      const jsm = await nc.jetstreamManager();
      const [recorded] = (await storedPayload(jsm, { seq })).messages;
      inStore((db) => db.prepare('UPDATE fleet_messages SET held = 1, seq = NULL, body = ? WHERE id = ?').run(JSON.stringify(recorded), ids[0]));
      assert.equal(await jsm.streams.deleteMessage(stream, seq), true);
    } finally {
      await nc.close();
    }
    assert.equal((await envelopes(node)).waiting, 0, 'nothing of it in JetStream');
    await startAgainAndRun(node, ids, file);
  });

  test("a submission to a lane whose envelope is done before the daemon has published what was held behind it: those go first, in one envelope with it, each once", async () => {
    const node = 'held-8';
    const file = path.join(tempDir(node), 'ran');
    const [first] = await submit([append(node, file, 1)]);
    const held = await submit([append(node, file, 2)]);
    // The first's envelope done as the store sees it, the daemon not told: it has not yet published
    // what was held behind it when the next submission comes (a reply and a POST at once).
    inStore((db) => db.prepare("UPDATE fleet_messages SET state = 'replied' WHERE id = ?").run(first));
    const next = await submit([append(node, file, 3), append(node, file, 4)]);
    const nc = await natsConnection();
    try {
      const { messages, expires } = await storedPayload(await nc.jetstreamManager(), { last_by_subj: `${prefix}.cmd.${node}.cli` });
      assert.deepEqual(messages.map((m) => m.id), [...held, ...next], 'the held one first, then the new ones, each once');
      // Signed: when the daemon gives up on them, counted from the oldest one's submission (fleetMaxAge, 7 days here).
      assert.equal(expires, Date.parse((await view(held[0])).submittedAt) + 7 * 86_400_000);
    } finally {
      await nc.close();
    }
    assert.equal((await envelopes(node)).waiting, 2, "the first's envelope and this one");
    const agent = await startAgent({ node, prefix, allowSigner: signer });
    try {
      for (const id of [...held, ...next]) assert.equal((await final(id)).state, 'replied');
      assert.equal(readFileSync(file, 'utf8'), '1\n2\n3\n4\n', 'each once, in order');
    } finally {
      await agent.stop();
    }
  });

  test('held messages go out when the envelope they wait for is gone from JetStream (stream purged)', async () => {
    const node = 'held-3';
    const file = path.join(tempDir('held-3'), 'ran');
    const [first] = await submit([append(node, file, 1)]);
    const [second] = await submit([append(node, file, 2)]);
    assert.deepEqual((await envelopes(node)).waiting, 1);
    const nc = await natsConnection();
    try {
      await (await nc.jetstreamManager()).streams.purge(stream, { filter: `${prefix}.cmd.${node}.cli` });
    } finally {
      await nc.close();
    }
    // Its record still says queued: only JetStream knows it is gone.
    assert.equal(await state(first), 'queued');
    const agent = await startAgent({ node, prefix, allowSigner: signer });
    try {
      const m = await final(second);
      assert.equal(m.state, 'replied');
      assert.equal(readFileSync(file, 'utf8'), '2\n', 'the purged one never ran');
    } finally {
      await agent.stop();
    }
  });
});

describe('fleet over NATS: held messages and fleetMaxAge', () => {
  test('a held message older than fleetMaxAge is expired and never run, also when its agent comes back', async () => {
    const prefix = fleetPrefix('heldage');
    const daemon = await startDaemon({ env: { SWITCHBOARD_NATS_URL: await natsUrl(), SWITCHBOARD_FLEET_PREFIX: prefix, SWITCHBOARD_FLEET_MAX_AGE: '2s' } });
    try {
      const { submit, view, final } = fleetCalls(() => daemon);
      const signer = (await runCli(daemon, ['fleet', 'signer'])).stdout.trim();
      const file = path.join(tempDir('heldage'), 'ran');
      const cmd = (n: number) => ({ toNode: 'late-2', method: 'cliCommand', methodArgs: ['sh', '-c', `echo ${n} >> ${file}`], replyMethod: 'console' });
      const [first] = await submit([cmd(1)]);
      const [second] = await submit([cmd(2)]);
      assert.equal((await view(second)).held, true);
      const [a, b] = [await final(first), await final(second)];
      assert.deepEqual([a.state, b.state], ['expired', 'expired']);
      assert.match(b.error, /^EXPIRED: not taken by late-2's agent within 2 seconds \(fleetMaxAge\)/);

      const agent = await startAgent({ node: 'late-2', prefix, allowSigner: signer });
      try {
        // The same ordered lane: had either still been waiting, it would have run before this one.
        const fresh = await final((await submit([cmd(3)]))[0]);
        assert.equal(fresh.state, 'replied');
        assert.equal(readFileSync(file, 'utf8'), '3\n', 'neither expired message ran');
      } finally {
        await agent.stop();
      }
    } finally {
      await daemon.stop();
    }
  });
});
