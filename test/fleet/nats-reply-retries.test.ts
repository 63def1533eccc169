// replyACKTimeout and replyRetries: the agent tries to store a reply 1 + replyRetries times,
// replyACKTimeout seconds apart, while the reply stream refuses it; then it is lost, and the
// daemon's error log says so. The stream is made to refuse every reply by a message size limit
// smaller than any reply, and made to take them again by lifting it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { NatsConnection } from 'nats';
import { runCli } from '../support/cli.js';
import { api, startDaemon, type DaemonHandle } from '../support/daemon.js';
import { fleetPrefix, natsConnection, natsUrl, startAgent } from '../support/nats.js';

describe('fleet over NATS: replyACKTimeout and replyRetries', () => {
  const prefix = fleetPrefix('replyretries');
  const node = 'web-1';
  let daemon: DaemonHandle;
  let agent: DaemonHandle;
  let nc: NatsConnection;

  before(async () => {
    daemon = await startDaemon({ env: { SWITCHBOARD_NATS_URL: await natsUrl(), SWITCHBOARD_FLEET_PREFIX: prefix } });
    const signer = (await runCli(daemon, ['fleet', 'signer'])).stdout.trim();
    // ack_wait 2 s: a message whose reply was lost comes back soon.
    agent = await startAgent({ node, prefix, allowSigner: signer, args: ['--ack-wait', '2'] });
    nc = await natsConnection();
  });
  after(() => nc?.close());

  /** Every reply is bigger than 64 bytes: -1 lifts the limit. */
  async function replyStreamMaxMsgSize(bytes: number): Promise<void> {
    const jsm = await nc.jetstreamManager();
    const { config } = await jsm.streams.info(`fleet-${prefix}-reply`);
    await jsm.streams.update(config.name, { ...config, max_msg_size: bytes });
  }

  async function submit(message: Record<string, unknown>): Promise<string> {
    const r = await api(daemon, 'POST', '/api/v1/fleet/messages', [{ toNode: node, method: 'cliCommand', replyMethod: 'console', ...message }]);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return r.body[0].id;
  }

  const retried = (id: string, state: string) => agent.waitForLog((l) => l.msg === 'fleet reply not stored yet; trying again' && l.id === id && l.state === state, `${state} reply of ${id} tried again`);

  test('a reply the stream refuses at first is tried again after replyACKTimeout and stored once the stream takes it', async () => {
    await replyStreamMaxMsgSize(64);
    const id = await submit({ methodArgs: ['echo', 'stored late'], replyACKTimeout: 3, replyRetries: 2 });
    await retried(id, 'replied');
    await replyStreamMaxMsgSize(-1);
    const { body } = await api(daemon, 'GET', `/api/v1/fleet/messages/${id}?wait=20`);
    assert.equal(body.state, 'replied', JSON.stringify(body));
    assert.equal(body.reply.stdout, 'stored late\n');
    assert.equal(agent.logs.some((l) => l.msg === 'fleet reply lost' && l.id === id), false);
  });

  test('after 1 + replyRetries tries the reply is lost: REPLY_LOST in the fleet error log, and the message ends INTERRUPTED, not run again', async () => {
    await replyStreamMaxMsgSize(64);
    const id = await submit({ methodArgs: ['echo', 'never stored'], replyACKTimeout: 1, replyRetries: 1 });
    const lost = await agent.waitForLog((l) => l.msg === 'fleet reply lost' && l.id === id && l.state === 'replied', 'the final reply lost');
    assert.equal(lost.attempts, 2);
    await daemon.waitForLog((l) => l.msg === 'fleet agent error' && l.code === 'REPLY_LOST' && l.id === id, 'REPLY_LOST in the error log');
    const errors = await runCli(daemon, ['fleet', 'errors', '--node', node, '-o', 'json']);
    assert.equal(errors.code, 0, errors.stderr);
    const entry = JSON.parse(errors.stdout).find((e: { id?: string; message: string }) => e.id === id && /^the replied reply/.test(e.message));
    assert.ok(entry, errors.stdout);
    assert.equal(entry.code, 'REPLY_LOST');
    assert.match(entry.message, /not stored in 2 tries of replyACKTimeout 1s/);

    // Not acked: redelivered, and the seen store turns it into INTERRUPTED, stored once the stream takes replies again.
    await replyStreamMaxMsgSize(-1);
    const { body } = await api(daemon, 'GET', `/api/v1/fleet/messages/${id}?wait=30`);
    assert.equal(body.state, 'failed');
    assert.match(body.error, /^INTERRUPTED: /);
    assert.equal(agent.logs.filter((l) => l.msg === 'fleet message running' && l.id === id).length, 1);
  });
});
