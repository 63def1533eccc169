// The agent against a real nats-server: an offline queue drained in order, and envelopes that
// must be refused (unsigned, foreign-signed, for another node, replayed) logged and never run.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, watch } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { fanOut, parseMessages } from '../../src/fleet/message.js';
import { formatPublicKey, generateSigner, loadOrCreateSigner } from '../../src/fleet/signer-keys.js';
import { sign } from '../../src/fleet/signing.js';
import type { CommandPayload } from '../../src/fleet/wire.js';
import { runCli } from '../support/cli.js';
import { api, startDaemon, tempDir, type DaemonHandle, type LogLine } from '../support/daemon.js';
import { fleetPrefix, natsConnection, natsUrl, startAgent } from '../support/nats.js';
import { groupMembers } from '../support/processes.js';
import { waitUntil } from '../support/wait.js';

function waitForFile(file: string): Promise<true> {
  return waitUntil(() => (existsSync(file) && readFileSync(file, 'utf8').endsWith('\n')) || undefined, {
    what: file,
    subscribe: (wake) => {
      const w = watch(path.dirname(file), wake);
      return () => w.close();
    },
  });
}

describe('fleet agent over NATS', () => {
  const prefix = fleetPrefix('agent');
  let daemon: DaemonHandle;
  let key: string;

  before(async () => {
    // debug: a message's state changes are logged at debug (the audit log has them at any level).
    daemon = await startDaemon({ args: ['--log-level', 'debug'], env: { SWITCHBOARD_NATS_URL: await natsUrl(), SWITCHBOARD_FLEET_PREFIX: prefix } });
    key = (await runCli(daemon, ['fleet', 'signer'])).stdout.trim();
  });

  const countLogs = (agent: DaemonHandle, pred: (l: LogLine) => boolean, n: number, what: string) =>
    agent.waitForLog(() => agent.logs.filter(pred).length >= n, what, 30_000);

  test('messages queued while the agent is offline all run once, in order, when it starts', async () => {
    const file = path.join(tempDir('queue'), 'order.txt');
    const messages = Array.from({ length: 20 }, (_, i) => ({
      toNode: 'ship-1', method: 'cliCommand', methodArgs: ['sh', '-c', `echo ${i} >> ${file}`], replyMethod: 'console',
    }));
    const { status, body: submitted } = await api(daemon, 'POST', '/api/v1/fleet/messages', messages);
    assert.equal(status, 202);
    assert.deepEqual(submitted.map((s: { index: number }) => s.index), [...Array(20).keys()]);
    const { body: queued } = await api(daemon, 'GET', '/api/v1/fleet/messages?node=ship-1&state=queued');
    assert.equal(queued.messages.length, 20);
    assert.equal(existsSync(file), false);

    const agent = await startAgent({ node: 'ship-1', prefix, allowSigner: key });
    await countLogs(agent, (l) => l.msg === 'fleet message done', 20, '20 messages done');
    assert.deepEqual(readFileSync(file, 'utf8').trim().split('\n'), [...Array(20).keys()].map(String));
    const last = await api(daemon, 'GET', `/api/v1/fleet/messages/${submitted[19].id}?wait=10`);
    assert.equal(last.body.state, 'replied');
    const { body: replied } = await api(daemon, 'GET', '/api/v1/fleet/messages?node=ship-1&state=replied');
    assert.equal(replied.messages.length, 20);
    await agent.stop();
  });

  test('unsigned, foreign-signed, for-another-node, replayed and expired envelopes are refused, logged, never run', async () => {
    const agent = await startAgent({ node: 'edge-1', prefix, allowSigner: key });
    const marker = path.join(tempDir('refused'), 'ran');
    const [message] = fanOut(parseMessages([{ toNode: 'edge-1', method: 'cliCommand', methodArgs: ['touch', marker], replyMethod: 'console' }]).messages);
    const payload = (id: string): CommandPayload => ({ messages: [{ ...message, id }] });
    const ours = await loadOrCreateSigner(daemon.dataDir);
    const nc = await natsConnection();
    const js = nc.jetstream();
    const subject = `${prefix}.cmd.edge-1.cli`;
    const publish = (envelope: unknown) => js.publish(subject, Buffer.from(JSON.stringify(envelope)));

    const { sig: _sig, ...unsigned } = sign(payload('unsigned-1'), ours, { node: 'edge-1', id: 'unsigned-1' });
    await publish(unsigned);
    await publish(sign(payload('foreign-1'), generateSigner(), { node: 'edge-1', id: 'foreign-1' }));
    await publish(sign(payload('other-node-1'), ours, { node: 'edge-2', id: 'other-node-1' }));
    const tampered = sign(payload('tampered-1'), ours, { node: 'edge-1', id: 'tampered-1' });
    const tamperedPayload = JSON.parse(tampered.payload) as CommandPayload;
    await publish({ ...tampered, payload: JSON.stringify({ messages: [{ ...tamperedPayload.messages[0], args: ['touch', `${marker}-2`] }] }) });
    // Past the time its sender gave up on it (the daemon's fleetMaxAge), however recent its iat.
    await publish(sign({ ...payload('expired-1'), expires: Date.now() - 1000 }, ours, { node: 'edge-1', id: 'expired-1' }));
    // A genuine one, twice: the second copy is a replay.
    const genuine = sign({ messages: [{ ...message, id: 'genuine-1', args: ['echo', 'once'] }], expires: Date.now() + 60_000 }, ours, { node: 'edge-1', id: 'genuine-1' });
    await publish(genuine);
    await publish(genuine);

    await nc.close();
    await countLogs(agent, (l) => l.msg === 'fleet message refused', 6, '6 refusals');
    const refused = agent.logs.filter((l) => l.msg === 'fleet message refused').map((l) => [l.id, l.reason]);
    assert.deepEqual(refused, [
      ['unsigned-1', 'UNSIGNED'],
      ['foreign-1', 'UNKNOWN_SIGNER'],
      ['other-node-1', 'WRONG_NODE'],
      ['tampered-1', 'BAD_SIGNATURE'],
      ['expired-1', 'EXPIRED'],
      ['genuine-1', 'REPLAYED'],
    ]);
    // Both times, so a clock far off on either side shows in the reason.
    const expired = agent.logs.find((l) => l.msg === 'fleet message refused' && l.id === 'expired-1');
    assert.match(String(expired?.detail), /^past \S+Z, when its sender gave up on it \(fleetMaxAge\); this agent's clock says \S+Z$/);
    const ran = agent.logs.filter((l) => l.msg === 'fleet message done').map((l) => l.id);
    assert.deepEqual(ran, ['genuine-1']);
    assert.equal(existsSync(marker), false);
    assert.equal(existsSync(`${marker}-2`), false);
    await agent.stop();
  });

  test('an envelope the agent refuses fails every message in it, each with the reason', async () => {
    // The agent trusts another key only: the daemon's envelope of three messages is not for it to run.
    const agent = await startAgent({ node: 'edge-2', prefix, allowSigner: formatPublicKey(generateSigner().publicKey) });
    const marker = path.join(tempDir('foreign'), 'ran');
    const { body: submitted } = await api(daemon, 'POST', '/api/v1/fleet/messages', ['a', 'b', 'c'].map((x) => (
      { toNode: 'edge-2', method: 'cliCommand', methodArgs: ['touch', `${marker}-${x}`], replyMethod: 'console' })));
    for (const { id } of submitted as { id: string }[]) {
      const { body } = await api(daemon, 'GET', `/api/v1/fleet/messages/${id}?wait=20`);
      assert.equal(body.state, 'failed', id);
      assert.equal(body.reply.errorCode, 'REFUSED_UNKNOWN_SIGNER', id);
    }
    assert.equal(existsSync(`${marker}-a`), false);
    await agent.stop();
  });

  test('an agent killed mid-command ends the command it left running when it comes back, gets the message again and does not run it twice', async () => {
    const dataDir = tempDir('killed');
    const file = path.join(dataDir, 'runs.txt');
    const pidFile = path.join(dataDir, 'pid');
    const agent = await startAgent({ node: 'sat-1', prefix, allowSigner: key, dataDir, args: ['--ack-wait', '1'] });
    const { body: [{ id }] } = await api(daemon, 'POST', '/api/v1/fleet/messages', [
      { toNode: 'sat-1', method: 'cliCommand', methodArgs: ['sh', '-c', `echo $$ > ${pidFile}; echo run >> ${file}; sleep 100`], replyMethod: 'console' },
    ]);
    await daemon.waitForLog((l) => l.msg === 'fleet message state' && l.id === id && l.state === 'running', 'running recorded');
    await waitForFile(pidFile); // the command has started
    agent.proc.kill('SIGKILL');
    await agent.exited();
    // The command's process group outlives the killed agent (its methodTimeout died with it) ...
    const group = Number(readFileSync(pidFile, 'utf8'));
    assert.notDeepEqual(groupMembers(group), [], 'the command still runs without its agent');

    const again = await startAgent({ node: 'sat-1', prefix, allowSigner: key, dataDir, args: ['--ack-wait', '1'] });
    // ... until the agent comes back and ends what it left running.
    const killed = again.logs.find((l) => l.msg === 'fleet agent: killed a command group left running by an earlier run of this agent');
    assert.deepEqual([killed?.pgid, killed?.id], [group, id]);
    // A process that is not our child gives no event when it dies: look again every 20 ms.
    await waitUntil(() => groupMembers(group).length === 0, {
      what: 'the left-over group gone', timeoutMs: 5000, subscribe: (wake) => {
        const timer = setInterval(wake, 20);
        return () => clearInterval(timer);
      },
    });
    const refusal = await again.waitForLog((l) => l.msg === 'fleet message refused' && l.id === id, 'the redelivery refused');
    assert.equal(refusal.reason, 'REPLAYED');
    const { body } = await api(daemon, 'GET', `/api/v1/fleet/messages/${id}?wait=10`);
    assert.equal(body.state, 'failed');
    assert.match(body.error, /^INTERRUPTED: the agent stopped while this message ran.*not run again/);
    assert.equal(readFileSync(file, 'utf8'), 'run\n', 'run once');
    await again.stop();
  });

  test('messages sent together travel as one envelope; an agent killed in the middle of it runs none twice, and the rest once it is back', async () => {
    const dataDir = tempDir('envelope');
    const file = path.join(dataDir, 'runs.txt');
    const pidFile = path.join(dataDir, 'pid');
    const cmd = (script: string) => ({ toNode: 'sat-2', method: 'cliCommand', methodArgs: ['sh', '-c', script], replyMethod: 'console' });
    const { body: sent } = await api(daemon, 'POST', '/api/v1/fleet/messages', [
      cmd(`echo a >> ${file}`), cmd(`echo $$ > ${pidFile}; echo b >> ${file}; sleep 100`), cmd(`echo c >> ${file}`),
    ]);
    const [first, second, third] = sent.map((m: { id: string }) => m.id);
    // Queued for an agent not started yet: three messages, one JetStream message.
    const nc = await natsConnection();
    const info = await (await nc.jetstreamManager()).streams.info(`fleet-${prefix}-cmd`, { subjects_filter: `${prefix}.cmd.sat-2.>` });
    await nc.close();
    assert.deepEqual(info.state.subjects, { [`${prefix}.cmd.sat-2.cli`]: 1 });

    const agent = await startAgent({ node: 'sat-2', prefix, allowSigner: key, dataDir, args: ['--ack-wait', '1'] });
    await waitForFile(pidFile); // the first is done, the second runs
    agent.proc.kill('SIGKILL');
    await agent.exited();
    assert.equal(readFileSync(file, 'utf8'), 'a\nb\n');

    const again = await startAgent({ node: 'sat-2', prefix, allowSigner: key, dataDir, args: ['--ack-wait', '1'] });
    const final = async (id: string) => (await api(daemon, 'GET', `/api/v1/fleet/messages/${id}?wait=20`)).body;
    const [a, b, c] = [await final(first), await final(second), await final(third)];
    assert.equal(a.state, 'replied');
    assert.deepEqual([b.state, b.error.split(':')[0]], ['failed', 'INTERRUPTED']);
    assert.equal(c.state, 'replied');
    assert.equal(readFileSync(file, 'utf8'), 'a\nb\nc\n', 'each run once, in order');
    await again.stop();
  });

  test("the agent's log: a command when it starts and when it ends; an envelope of instant messages (hello, op) once, when all are done, with their ids by method and those that failed", async () => {
    const agent = await startAgent({ node: 'log-1', prefix, allowSigner: key, args: ['--hello-interval', '3600'] });
    try {
      const { body: sent } = await api(daemon, 'POST', '/api/v1/fleet/messages', [
        { toNode: 'log-1', method: 'hello' },
        { toNode: 'log-1', method: 'cliCommand', methodArgs: ['true'], replyMethod: 'console' },
        { toNode: 'log-1', method: 'opProcessStop', methodArgs: ['hello'], replyMethod: 'console' },
        { toNode: 'log-1', method: 'hello' },
      ]);
      assert.ok(Array.isArray(sent), JSON.stringify(sent));
      const [hello, cli, op, hello2] = sent.map((m: { id: string }) => m.id);
      await countLogs(agent, (l) => l.msg === 'fleet message done' && l.id === cli, 1, 'the command done');
      await countLogs(agent, (l) => l.msg === 'fleet messages done', 1, 'the instant ones done');
      const about = (id: string) => agent.logs.filter((l) => l.id === id && l.msg.startsWith('fleet message ')).map((l) => [l.msg, l.method, l.exitCode]);
      assert.deepEqual(about(cli), [['fleet message running', 'cliCommand', undefined], ['fleet message done', 'cliCommand', 0]]);
      assert.deepEqual(about(hello), [], 'no line of its own');
      const [line] = agent.logs.filter((l) => l.msg === 'fleet messages done');
      assert.deepEqual([line.messages, line.ids], [3, { hello: [hello, hello2], op: [op] }]);
      assert.deepEqual(line.failed, [{ id: hello2, state: 'failed', errorCode: 'METHOD_DISABLED' }], 'the hello after its method was stopped');
    } finally {
      await agent.stop();
    }
  });
});
