// A fleet of real agent processes against a real nats-server: one message fanned out to 20 agents,
// steward's and ctrl's example files submitted through the API and run, and 100 messages queued
// for an offline agent drained once, in order.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fanOut, parseMessages } from '../../src/fleet/message.js';
import { runCli } from '../support/cli.js';
import { api, startDaemon, tempDir, type DaemonHandle } from '../support/daemon.js';
import { FIXTURE_OUTCOMES, fixtureNames, readFixture } from '../support/fleet-fixtures.js';
import { startHttpServer } from '../support/http-server.js';
import { fleetPrefix, natsConnection, natsUrl, startAgent } from '../support/nats.js';

const PAGE = '<h1>bridge</h1>\n';

type Json = Record<string, unknown>;

/**
 * A fixture made runnable here, field values only: node names to this test's agents, URLs to the
 * local web server, the file to tail to a temp file. Field names (any case) are left as written.
 */
function localise(input: unknown, node: (name: string) => string, base: string, tailed: string): unknown {
  const field = (m: Json, name: string) => Object.keys(m).find((k) => k.toLowerCase() === name);
  return (input as Json[]).map((original) => {
    const m = { ...original };
    const method = String(m[field(m, 'method') ?? ''] ?? '').toLowerCase();
    for (const key of Object.keys(m)) {
      const v = m[key];
      switch (key.toLowerCase()) {
        case 'tonode':
          if (typeof v === 'string' && v) m[key] = node(v);
          break;
        case 'tonodes':
          m[key] = (v as string[]).map(node);
          break;
        case 'methodtimeout':
          // A tail runs until its methodTimeout (200 s in steward's file): shortened here, not in the parser's tests.
          if (method.includes('tail')) m[key] = 2;
          break;
        case 'data':
        case 'methodargs':
          m[key] = method.includes('tail')
            ? [tailed, ...(v as string[]).slice(1)]
            : (v as string[]).map((s) => s.replace(/https?:\/\/[^\s'"]+/g, `${base}/page`));
          break;
      }
    }
    return m;
  });
}

describe('fleet over NATS: many agents', () => {
  const prefix = fleetPrefix('fleet');
  const nodes = Array.from({ length: 20 }, (_, i) => `fan-${String(i + 1).padStart(2, '0')}`);
  const agents = new Map<string, DaemonHandle>();
  let daemon: DaemonHandle;
  let key: string;
  let web: { server: Server; base: string };

  before(async () => {
    web = await startHttpServer((_req, res) => res.end(PAGE));
    daemon = await startDaemon({ env: { SWITCHBOARD_NATS_URL: await natsUrl(), SWITCHBOARD_FLEET_PREFIX: prefix } });
    key = (await runCli(daemon, ['fleet', 'signer'])).stdout.trim();
    // In parallel; each process is registered for stopping (by PID) the moment it is spawned,
    // so one that fails to get ready does not leave the others running. Twenty Node.js processes
    // starting at once need more than one's time on a two-core machine.
    const started = await Promise.all(nodes.map((node) => startAgent({ node, prefix, allowSigner: key, args: ['--hello-interval', '3600'], readyTimeoutMs: 60_000 })));
    for (const [i, agent] of started.entries()) agents.set(nodes[i], agent);
  });

  after(() => {
    web.server.closeAllConnections();
    web.server.close();
  });

  /** The records of submitted messages once each is final (a file reply written). */
  const finals = (ids: string[]) => Promise.all(ids.map(async (id) => (await api(daemon, 'GET', `/api/v1/fleet/messages/${id}?wait=30`)).body));

  test('toNodes fan-out: one message to 20 agents, each node answered by its own agent', async () => {
    // $PPID of the shell is the agent that spawned it: the reply says which process ran it.
    const { status, body: submitted } = await api(daemon, 'POST', '/api/v1/fleet/messages', [
      { toNodes: nodes, method: 'cliCommand', methodArgs: ['sh', '-c', 'echo $PPID'], replyMethod: 'console' },
    ]);
    assert.equal(status, 202);
    assert.equal(submitted.length, 20);
    assert.deepEqual(submitted.map((s: { node: string }) => s.node).sort(), nodes);
    assert.ok(submitted.every((s: { index: number }) => s.index === 0));
    assert.equal(new Set(submitted.map((s: { id: string }) => s.id)).size, 20, 'an id per node');

    const records = await finals(submitted.map((s: { id: string }) => s.id));
    for (const [i, r] of records.entries()) {
      const { id, node } = submitted[i];
      const agent = agents.get(node)!;
      assert.equal(r.state, 'replied', JSON.stringify(r));
      assert.equal(r.node, node);
      assert.equal(r.reply.node, node);
      assert.equal(r.reply.stdout, `${agent.pid}\n`, `${node} ran on its own agent`);
      // The agent logs it after the reply is stored: the line may still be on its way down the pipe.
      await agent.waitForLog((l) => l.msg === 'fleet message done' && l.id === id, `${node}'s agent logged ${id}`);
      for (const [other, a] of agents) {
        if (other !== node) assert.ok(!a.logs.some((l) => l.id === id), `${id} for ${node} never reached ${other}`);
      }
    }
  });

  test("every fixture file through POST /api/v1/fleet/messages: 202 and run, or 400 naming the field", async () => {
    assert.deepEqual(await fixtureNames(), Object.keys(FIXTURE_OUTCOMES).sort());
    const tailed = path.join(tempDir('tail'), 'test.log');
    writeFileSync(tailed, 'a line\n');
    // Each (file, node name) pair gets an agent of its own, so the fixtures' `sleep N &` run side by side.
    let next = 0;
    const runs: Array<{ name: string; ids: string[] }> = [];
    for (const [name, outcome] of Object.entries(FIXTURE_OUTCOMES)) {
      const mapped = new Map<string, string>();
      const node = (n: string) => mapped.get(n) ?? mapped.set(n, nodes[next++ % nodes.length]).get(n)!;
      const input = localise(await readFixture(name), node, web.base, tailed);
      const r = await api(daemon, 'POST', '/api/v1/fleet/messages', input);
      if (outcome !== 'accepted') {
        assert.equal(r.status, 400, `${name}: ${r.text}`);
        assert.equal(r.body.error, 'FLEET_MESSAGE', name);
        assert.match(r.body.message, outcome, name);
        continue;
      }
      assert.equal(r.status, 202, `${name}: ${r.text}`);
      const expected = fanOut(parseMessages(input).messages).map((m) => [m.index, m.toNode]);
      assert.deepEqual(r.body.map((s: { index: number; node: string }) => [s.index, s.node]), expected, name);
      assert.ok(r.body.every((s: { node: string }) => nodes.includes(s.node)), `${name}: only this test's agents addressed`);
      runs.push({ name, ids: r.body.map((s: { id: string }) => s.id) });
    }

    // Every method runs. The stopProc files name a receivingNode (ship2, central) that is not the agent they go to here.
    for (const { name, ids } of runs) {
      for (const r of await finals(ids)) {
        const what = `${name} ${r.method}: ${JSON.stringify(r)}`;
        if (r.method === 'op' && name.includes('stop-proc')) assert.equal(r.reply.errorCode, 'OP_FAILED', what);
        else if (['cliCommand', 'cliCommandCont', 'tailFile', 'httpGet', 'hello', 'op'].includes(r.method)) assert.equal(r.state, 'replied', what);
        else {
          assert.equal(r.state, 'failed', what);
          assert.equal(r.reply.errorCode, 'NOT_SUPPORTED', what);
        }
        if (r.method === 'httpGet') assert.equal(r.reply.stdout, PAGE, what);
        if (r.replyMethod === 'file' || r.replyMethod === 'fileAppend') {
          assert.equal(r.replyFileError, null, what);
          assert.ok(r.replyFile?.startsWith(path.join(daemon.dataDir, 'fleet', r.node) + path.sep), what);
        }
      }
    }
  });

  test('100 messages queued for an offline agent all run exactly once, in order, when it starts', async () => {
    const node = 'offline-1';
    const file = path.join(tempDir('offline'), 'order.txt');
    const messages = Array.from({ length: 100 }, (_, i) => ({
      toNode: node, method: 'cliCommand', methodArgs: ['sh', '-c', `echo ${i} >> ${file}`], replyMethod: 'console',
    }));
    const { status, body: submitted } = await api(daemon, 'POST', '/api/v1/fleet/messages', messages);
    assert.equal(status, 202);
    const ids: string[] = submitted.map((s: { id: string }) => s.id);
    assert.deepEqual(submitted.map((s: { index: number }) => s.index), [...Array(100).keys()]);
    const { body: queued } = await api(daemon, 'GET', `/api/v1/fleet/messages?node=${node}&state=queued&limit=200`);
    assert.equal(queued.messages.length, 100);

    const agent = await startAgent({ node, prefix, allowSigner: key, args: ['--hello-interval', '3600'] });
    const done = () => agent.logs.filter((l) => l.msg === 'fleet message done');
    await agent.waitForLog(() => done().length >= 100, '100 messages done', 60_000);
    assert.deepEqual(readFileSync(file, 'utf8').trim().split('\n'), [...Array(100).keys()].map(String));
    assert.deepEqual(done().map((l) => l.id), ids, 'run in the order submitted');
    assert.equal(agent.logs.filter((l) => l.msg === 'fleet message refused').length, 0);

    const records = await finals(ids);
    assert.deepEqual(records.map((r) => r.state), Array(100).fill('replied'));
    // Nothing left for JetStream to hand out again: none pending, none awaiting an ack, none redelivered.
    const nc = await natsConnection();
    try {
      const info = await (await nc.jetstreamManager()).consumers.info(`fleet-${prefix}-cmd`, `agent-${node}-cli`);
      assert.deepEqual([info.num_pending, info.num_ack_pending, info.num_redelivered], [0, 0, 0]);
    } finally {
      await nc.close();
    }
    await agent.stop();
    assert.equal(readFileSync(file, 'utf8').trim().split('\n').length, 100, 'still run once after the agent stopped');
  });
});
