// What happens to messages that do not get through: retries spent on deliveries nobody acked,
// JetStream giving up (max deliver), a node's queue full, a message too old to run.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { runCli, runSwitchboard } from '../support/cli.js';
import { api, startDaemon, tempDir, type DaemonHandle } from '../support/daemon.js';
import { fleetPrefix, natsConnection, natsUrl, startAgent } from '../support/nats.js';

describe('fleet over NATS: messages that do not get through', () => {
  const prefix = fleetPrefix('delivery');
  const dataDir = tempDir('fleet-delivery');
  let daemon: DaemonHandle;
  let signer: string;
  const env = async () => ({ SWITCHBOARD_NATS_URL: await natsUrl(), SWITCHBOARD_FLEET_PREFIX: prefix, SWITCHBOARD_FLEET_MAX_QUEUED: '3' });

  before(async () => {
    daemon = await startDaemon({ dataDir, env: await env() });
    signer = (await runCli(daemon, ['fleet', 'signer'])).stdout.trim();
  });
  after(() => daemon?.stop());

  const submit = async (messages: unknown[]) => {
    const r = await api(daemon, 'POST', '/api/v1/fleet/messages', messages);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return r.body as { id: string; node: string }[];
  };
  const final = async (id: string) => (await api(daemon, 'GET', `/api/v1/fleet/messages/${id}?wait=30`)).body;

  /**
   * Takes the next message of a lane's consumer the way a link that drops would: delivered, never
   * acked. Waits (JetStream's own clock, ack_wait) for the delivery rather than sleeping.
   */
  const loseOneDelivery = async (node: string, lane: string) => {
    const nc = await natsConnection();
    try {
      const consumer = await nc.jetstream().consumers.get(`fleet-${prefix}-cmd`, `agent-${node}-${lane}`);
      const msg = await consumer.next({ expires: 20_000 });
      assert.ok(msg, 'a delivery came');
      return msg.info.deliveryCount;
    } finally {
      await nc.close();
    }
  };

  test('a delivery nobody acks shows as delivered; one delivered more often than 1 + retries is failed RETRIES_EXHAUSTED and not run', async () => {
    const node = 'lossy-1';
    const agentDir = tempDir('lossy');
    // The agent makes its consumers (ack_wait 1 s) and goes away: the node is offline.
    await (await startAgent({ node, prefix, allowSigner: signer, dataDir: agentDir, args: ['--ack-wait', '1'] })).stop();
    const marker = path.join(agentDir, 'ran');
    const [{ id }] = await submit([{ toNode: node, method: 'cliCommand', methodArgs: ['touch', marker], replyMethod: 'console', retries: 1 }]);
    assert.equal((await api(daemon, 'GET', `/api/v1/fleet/messages/${id}`)).body.state, 'queued');
    assert.equal(await loseOneDelivery(node, 'cli'), 1);
    // Handed to "the agent", not a word back: delivered.
    assert.equal((await api(daemon, 'GET', `/api/v1/fleet/messages/${id}`)).body.state, 'delivered');
    assert.equal(await loseOneDelivery(node, 'cli'), 2); // the one retry, lost too

    const agent = await startAgent({ node, prefix, allowSigner: signer, dataDir: agentDir, args: ['--ack-wait', '1'] });
    const m = await final(id);
    assert.equal(m.state, 'failed');
    assert.match(m.error, /^RETRIES_EXHAUSTED: delivered 3 times, allowed 1 \+ 1 retries; not run/);
    assert.equal(existsSync(marker), false, 'not run');
    await agent.stop();
  });

  test('when JetStream gives up on a message (max deliver), its state says so', async () => {
    const node = 'dying-1';
    await (await startAgent({ node, prefix, allowSigner: signer, args: ['--ack-wait', '1', '--max-deliver', '2'] })).stop();
    const [{ id }] = await submit([{ toNode: node, method: 'cliCommand', methodArgs: ['true'], replyMethod: 'console', retries: 5 }]);
    await loseOneDelivery(node, 'cli');
    await loseOneDelivery(node, 'cli');
    // JetStream notices it is out of deliveries when it next has someone to deliver to: the agent back.
    const agent = await startAgent({ node, prefix, allowSigner: signer, args: ['--ack-wait', '1', '--max-deliver', '2'] });
    const m = await final(id);
    await agent.stop();
    assert.equal(m.state, 'failed');
    assert.match(m.error, /^MAX_DELIVERIES: delivered 2 times to agent-dying-1-cli and never acknowledged/);
  });

  test("a node's full queue refuses more: QUEUE_FULL, the queued ones kept", async () => {
    const echo = (i: number) => ({ toNode: 'offline-1', method: 'cliCommand', methodArgs: ['echo', String(i)], replyMethod: 'console' });
    // Counted across submissions: the second finds two waiting already.
    const sent = [...await submit([1, 2].map(echo)), ...await submit([3, 4].map(echo))];
    const states = await Promise.all(sent.map(async (s) => (await api(daemon, 'GET', `/api/v1/fleet/messages/${s.id}`)).body));
    // The first two published in one envelope, the third held behind it; the refused one is failed, not held.
    assert.deepEqual(states.map((s) => [s.state, s.held]), [['queued', false], ['queued', false], ['queued', true], ['failed', false]]);
    assert.match(states[3].error, /^QUEUE_FULL: offline-1 has as many messages waiting as fleetMaxQueued allows \(1 of 2 would go past 3 waiting in its cli lane\)/);
  });

  test('a message still queued after the signing window is expired (found at start and by the sweep)', async () => {
    const [{ id }] = await submit([{ toNode: 'offline-2', method: 'cliCommand', methodArgs: ['true'], replyMethod: 'console' }]);
    await daemon.stop();
    const db = new Database(path.join(dataDir, 'switchboard.db'));
    db.prepare('UPDATE fleet_messages SET submitted_at = ? WHERE id = ?').run(new Date(Date.now() - 8 * 86_400_000).toISOString(), id);
    db.close();
    daemon = await startDaemon({ dataDir, env: await env() });
    const m = await final(id);
    assert.equal(m.state, 'expired');
    assert.match(m.error, /^EXPIRED: not taken by offline-2's agent within 7 days/);
  });
});


describe('fleet over NATS: fleetMaxAge', () => {
  test('a message older than fleetMaxAge is expired and never run, also when its agent comes back', async () => {
    const prefix = fleetPrefix('maxage');
    const daemon = await startDaemon({ env: { SWITCHBOARD_NATS_URL: await natsUrl(), SWITCHBOARD_FLEET_PREFIX: prefix, SWITCHBOARD_FLEET_MAX_AGE: '2s' } });
    try {
      const signer = (await runCli(daemon, ['fleet', 'signer'])).stdout.trim();
      const marker = path.join(tempDir('maxage'), 'ran');
      const post = async (args: string[]) => (await api(daemon, 'POST', '/api/v1/fleet/messages', [{ toNode: 'late-1', method: 'cliCommand', methodArgs: args, replyMethod: 'console' }])).body[0].id as string;
      const old = await post(['touch', marker]);
      const expired = (await api(daemon, 'GET', `/api/v1/fleet/messages/${old}?wait=30`)).body;
      assert.equal(expired.state, 'expired');
      assert.match(expired.error, /^EXPIRED: not taken by late-1's agent within 2 seconds \(fleetMaxAge\)/);

      const agent = await startAgent({ node: 'late-1', prefix, allowSigner: signer });
      // The same ordered queue: had the old one still been there, it would have run first.
      const fresh = (await api(daemon, 'GET', `/api/v1/fleet/messages/${await post(['true'])}?wait=30`)).body;
      assert.equal(fresh.state, 'replied');
      assert.equal(existsSync(marker), false, 'the expired message never ran');
      await agent.stop();
    } finally {
      await daemon.stop();
    }
  });

  test('a fleetMaxAge beyond the 7-day signing window is refused at start, before anything is written', async () => {
    const dataDir = tempDir('maxage-long');
    const r = await runSwitchboard(['serve', '--listen', '127.0.0.1:0', '--console-port', '-1', '--data-dir', dataDir, '--nats', await natsUrl()], {
      env: { ...process.env, SWITCHBOARD_FLEET_MAX_AGE: '8d' },
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /fleetMaxAge: '8d' is longer than the agents' signing window \(7d\)/);
    assert.deepEqual(readdirSync(dataDir), [], 'no token, store, audit log or log directory left behind');
  });
});
