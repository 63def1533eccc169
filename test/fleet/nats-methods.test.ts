// httpGet and hello end to end: a daemon with --nats, a real agent process, a real nats-server,
// and a local HTTP server for the agent to fetch from (there is no internet here).
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { BODY_CAP_BYTES } from '../../src/fleet/methods/http-get.js';
import { runCli } from '../support/cli.js';
import { api, catNode, startDaemon, type DaemonHandle } from '../support/daemon.js';
import { startHttpServer } from '../support/http-server.js';
import { fleetPrefix, natsConnection, natsUrl, startAgent } from '../support/nats.js';

/** /page, /missing (404), /big (past the cap), /hang (headers never come). */
function startWebServer(): Promise<{ server: Server; base: string }> {
  return startHttpServer((req, res) => {
    if (req.url === '/page') return void res.end('<h1>engine room</h1>\n');
    if (req.url === '/missing') {
      res.statusCode = 404;
      return void res.end('no such page\n');
    }
    if (req.url === '/big') return void res.end('x'.repeat(BODY_CAP_BYTES + 100_000));
    if (req.url === '/hang') return; // never answered
    res.statusCode = 500;
    res.end();
  });
}

describe('fleet over NATS: httpGet and hello', () => {
  const prefix = fleetPrefix('methods');
  let daemon: DaemonHandle;
  let agent: DaemonHandle;
  let web: { server: Server; base: string };

  before(async () => {
    web = await startWebServer();
    daemon = await startDaemon({ env: { SWITCHBOARD_NATS_URL: await natsUrl(), SWITCHBOARD_FLEET_PREFIX: prefix } });
    const key = (await runCli(daemon, ['fleet', 'signer'])).stdout.trim();
    agent = await startAgent({ node: 'deck-1', prefix, allowSigner: key, args: ['--hello-interval', '3600'] });
  });

  after(() => {
    web.server.closeAllConnections();
    web.server.close();
  });

  /** Submits one httpGet for deck-1 and returns its record once final. */
  async function fetchOnAgent(url: string, extra: Record<string, unknown> = {}) {
    const { status, body: [{ id }] } = await api(daemon, 'POST', '/api/v1/fleet/messages', [{ toNode: 'deck-1', method: 'httpGet', methodArgs: [url], replyMethod: 'console', ...extra }]);
    assert.equal(status, 202);
    const { body } = await api(daemon, 'GET', `/api/v1/fleet/messages/${id}?wait=20`);
    return body;
  }

  test('httpGet: the body of a page is in the reply', async () => {
    const m = await fetchOnAgent(`${web.base}/page`);
    assert.equal(m.state, 'replied', JSON.stringify(m));
    assert.equal(m.method, 'httpGet');
    assert.equal(m.reply.stdout, '<h1>engine room</h1>\n');
    assert.equal(m.reply.httpStatus, 200);
    assert.equal(m.reply.exitCode, 0);
    assert.equal(m.reply.truncated, undefined);
  });

  test('httpGet: a 404 is reported as failed with the status and its body', async () => {
    const m = await fetchOnAgent(`${web.base}/missing`);
    assert.equal(m.state, 'failed');
    assert.equal(m.reply.errorCode, 'HTTP_STATUS');
    assert.equal(m.reply.httpStatus, 404);
    assert.equal(m.reply.exitCode, 1);
    assert.equal(m.reply.stdout, 'no such page\n');
    assert.match(m.error, /^HTTP_STATUS: GET http:\/\/127\.0\.0\.1:\d+\/missing: 404 Not Found$/);
  });

  test('httpGet: a body past the cap is cut, and the reply says so', async () => {
    const m = await fetchOnAgent(`${web.base}/big`);
    assert.equal(m.state, 'replied');
    assert.equal(m.reply.stdout.length, BODY_CAP_BYTES);
    assert.equal(m.reply.truncated, true);
    assert.equal(m.reply.stderr, `the body was cut at ${BODY_CAP_BYTES} bytes\n`);
  });

  test('httpGet: a server that never answers is aborted at methodTimeout', async () => {
    const started = Date.now();
    const m = await fetchOnAgent(`${web.base}/hang`, { methodTimeout: 1 });
    assert.equal(m.state, 'failed');
    assert.equal(m.reply.errorCode, 'TIMEOUT');
    assert.match(m.reply.error, /methodTimeout: GET .*\/hang aborted after 1s/);
    assert.ok(Date.now() - started < 10_000, 'aborted, not left to the socket timeout');
  });

  test('httpGet: a refused connection is reported as HTTP_FAILED', async () => {
    const closed = await startWebServer();
    await new Promise((resolve) => closed.server.close(resolve));
    const m = await fetchOnAgent(`${closed.base}/page`);
    assert.equal(m.state, 'failed');
    assert.equal(m.reply.errorCode, 'HTTP_FAILED');
    assert.equal(m.reply.exitCode, 1);
    assert.match(m.reply.error, /ECONNREFUSED/);
  });

  test("hello: the agent's announcement shows in /fleet/agents, the node's view and `fleet agents`", async () => {
    const created = await api(daemon, 'POST', '/api/v1/nodes', catNode('deck-1', { ondemand: true }));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await daemon.waitForLog((l) => l.msg === 'fleet agent hello' && l.node === 'deck-1', 'hello from deck-1');

    const { body } = await api(daemon, 'GET', '/api/v1/fleet/agents');
    assert.equal(body.agents.length, 1);
    const [seen] = body.agents;
    assert.equal(seen.node, 'deck-1');
    assert.equal(seen.pid, agent.pid);
    assert.match(seen.version, /^\d+\.\d+\.\d+/);
    assert.ok(seen.host.length > 0);
    assert.ok(Math.abs(Date.now() - Date.parse(seen.lastSeen)) < 60_000);

    const { body: view } = await api(daemon, 'GET', '/api/v1/nodes/deck-1');
    assert.deepEqual(view.agent, { lastSeen: seen.lastSeen, version: seen.version });
    const other = await api(daemon, 'POST', '/api/v1/nodes', catNode('deck-2', { ondemand: true }));
    assert.equal(other.body.agent, null, 'a node without an agent has none');
    const shown = await runCli(daemon, ['node', 'show', 'deck-1']);
    assert.match(shown.stdout, new RegExp(`^agent +seen \\d+s ago, version ${seen.version.replaceAll('.', '\\.')}$`, 'm'));
    assert.match((await runCli(daemon, ['node', 'show', 'deck-2'])).stdout, /^agent +-$/m);

    const table = await runCli(daemon, ['fleet', 'agents']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /NODE.*LAST SEEN.*VERSION.*HOST.*PID/);
    assert.match(table.stdout, new RegExp(`deck-1 .*ago.*${seen.version.replaceAll('.', '\\.')}.*${agent.pid}`));
    const json = await runCli(daemon, ['-o', 'json', 'fleet', 'agents']);
    assert.deepEqual(JSON.parse(json.stdout), body.agents);
  });

  test('hello: a hello message makes the agent announce itself at once, on <prefix>.hello.<node>', async () => {
    const nc = await natsConnection();
    const hellos = nc.subscribe(`${prefix}.hello.deck-1`, { max: 1 });
    await nc.flush();
    const { body: [{ id }] } = await api(daemon, 'POST', '/api/v1/fleet/messages', [{ toNode: 'deck-1', method: 'REQHello' }]);
    for await (const m of hellos) {
      const hello = m.json<Record<string, unknown>>();
      assert.equal(hello.node, 'deck-1');
      assert.equal(hello.pid, agent.pid);
    }
    const { body } = await api(daemon, 'GET', `/api/v1/fleet/messages/${id}?wait=20`);
    assert.equal(body.state, 'replied');
    await nc.close();
  });

  test('hello: one naming another node than its subject is ignored', async () => {
    const nc = await natsConnection();
    nc.publish(`${prefix}.hello.deck-9`, JSON.stringify({ node: 'deck-1', version: '9.9.9', host: 'forged', uptime: 1, pid: 1, at: Date.now() }));
    await nc.flush();
    await daemon.waitForLog((l) => l.msg === 'fleet hello ignored: not a hello for its subject' && l.subject === `${prefix}.hello.deck-9`, 'forged hello ignored');
    await nc.close();
    const { body } = await api(daemon, 'GET', '/api/v1/fleet/agents');
    assert.deepEqual(body.agents.map((a: { node: string; host: string }) => [a.node, a.host === 'forged']), [['deck-1', false]]);
  });

  test('hello: the last one is kept across a daemon restart', async () => {
    const { body: before } = await api(daemon, 'GET', '/api/v1/fleet/agents');
    await daemon.stop();
    daemon = await startDaemon({ dataDir: daemon.dataDir, env: { SWITCHBOARD_NATS_URL: await natsUrl(), SWITCHBOARD_FLEET_PREFIX: prefix } });
    // The agent's next hello is an hour away: what is listed now comes from the file.
    const { body: after } = await api(daemon, 'GET', '/api/v1/fleet/agents');
    assert.deepEqual(after, before);
    const { body: view } = await api(daemon, 'GET', '/api/v1/nodes/deck-1');
    assert.equal(view.agent.lastSeen, before.agents[0].lastSeen);
  });
});
