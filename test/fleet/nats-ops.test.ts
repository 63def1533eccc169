// opCommand (ps, startProc, stopProc), the agent's method policy (--methods, --allowed-nodes) and
// the central error log, end to end: a daemon with --nats, real agent processes, a real nats-server,
// and a local HTTP server for httpGet (there is no internet here).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateSigner } from '../../src/fleet/signer-keys.js';
import { sign } from '../../src/fleet/signing.js';
import { fanOut, parseMessages } from '../../src/fleet/message.js';
import type { CommandPayload } from '../../src/fleet/wire.js';
import { runCli } from '../support/cli.js';
import { api, startDaemon, type DaemonHandle } from '../support/daemon.js';
import { readFixture } from '../support/fleet-fixtures.js';
import { startHttpServer } from '../support/http-server.js';
import { fleetPrefix, natsConnection, natsUrl, startAgent } from '../support/nats.js';

const NODE = 'ship2';

describe('fleet over NATS: op commands, method policy, error log', () => {
  const prefix = fleetPrefix('ops');
  let daemon: DaemonHandle;
  let agent: DaemonHandle;
  let key: string;
  let web: { server: Server; base: string };

  before(async () => {
    web = await startHttpServer((_req, res) => res.end('engine room\n'));
    daemon = await startDaemon({ env: { SWITCHBOARD_NATS_URL: await natsUrl(), SWITCHBOARD_FLEET_PREFIX: prefix } });
    key = (await runCli(daemon, ['fleet', 'signer'])).stdout.trim();
    agent = await startAgent({ node: NODE, prefix, allowSigner: key, args: ['--hello-interval', '3600'] });
  });

  after(() => {
    web.server.closeAllConnections();
    web.server.close();
  });

  /** Submits messages and returns their records once final. */
  async function run(messages: unknown[]) {
    const { status, body } = await api(daemon, 'POST', '/api/v1/fleet/messages', messages);
    assert.equal(status, 202, JSON.stringify(body));
    const records = [];
    for (const { id } of body as { id: string }[]) records.push((await api(daemon, 'GET', `/api/v1/fleet/messages/${id}?wait=30`)).body);
    return records;
  }

  /** A steward or ctrl example file, sent to this test's agent instead of ship1/ship2/central. */
  async function runFixture(name: string, node = NODE) {
    const messages = (await readFixture(name)) as Record<string, unknown>[];
    const [record] = await run(messages.map((m) => ({ ...m, toNode: node })));
    return record;
  }

  const httpGet = (node = NODE) => run([{ toNode: node, method: 'httpGet', methodArgs: [`${web.base}/`], replyMethod: 'console' }]).then(([r]) => r);
  const echo = (node = NODE) => run([{ toNode: node, method: 'cliCommand', methodArgs: ['echo', 'still here'], replyMethod: 'console' }]).then(([r]) => r);

  async function ps(node = NODE) {
    const record = await runFixture('steward/op-ps.json', node);
    assert.equal(record.state, 'replied', JSON.stringify(record));
    return { record, state: JSON.parse(record.reply.stdout) as { node: string; running: { id: string; method: string; startedAt: string; pid?: number }[]; methods: { method: string; enabled: boolean; allowedNodes: string[] }[] } };
  }

  const methodState = (state: Awaited<ReturnType<typeof ps>>['state'], method: string) => state.methods.find((m) => m.method === method);

  /** The daemon heard the agent's error event for `id`; then the error log lists it. */
  async function loggedError(pred: (e: Record<string, unknown>) => boolean, what: string) {
    await daemon.waitForLog((l) => l.msg === 'fleet agent error' && pred(l), what);
    const { status, body } = await api(daemon, 'GET', `/api/v1/fleet/errors?node=${NODE}`);
    assert.equal(status, 200);
    const entry = body.errors.find(pred);
    assert.ok(entry, `${what} in ${JSON.stringify(body.errors)}`);
    return entry;
  }

  test("steward's op-ps: the agent's running methods (itself) and its methods with their senders, also in the reply file", async () => {
    const { record, state } = await ps();
    assert.equal(state.node, NODE);
    assert.deepEqual(state.running.map((r) => [r.id, r.method]), [[record.id, 'op']]);
    assert.ok(Math.abs(Date.parse(state.running[0].startedAt) - Date.now()) < 60_000);
    assert.deepEqual(methodState(state, 'httpGet'), { method: 'httpGet', enabled: true, allowedNodes: ['*'] });
    assert.ok(state.methods.every((m) => m.enabled), 'all methods run by default');
    assert.equal(readFileSync(path.join(daemon.dataDir, 'fleet', NODE, 'opcommand_logs', 'some.log'), 'utf8'), record.reply.stdout);
  });

  test('ps lists a running command with its id and pid while it runs', async () => {
    const { body: [{ id }] } = await api(daemon, 'POST', '/api/v1/fleet/messages', [{ toNode: NODE, method: 'nCliCommand', methodArgs: ['sleep', '3'], replyMethod: 'console' }]);
    await agent.waitForLog((l) => l.msg === 'fleet message running' && l.id === id, 'sleep running');
    const { state } = await ps();
    const sleeping = state.running.find((r) => r.id === id);
    assert.equal(sleeping?.method, 'nCliCommand');
    assert.equal(typeof sleeping?.pid, 'number');
    await api(daemon, 'GET', `/api/v1/fleet/messages/${id}?wait=30`);
  });

  test("steward's op-start-proc: a method started with allowedNodes takes them", async () => {
    const record = await runFixture('steward/op-start-proc.json');
    assert.equal(record.state, 'replied', JSON.stringify(record));
    assert.equal(record.reply.stdout, `started nCliCommandCont on ${NODE} (allowedNodes: central)\n`);
    const { state } = await ps();
    assert.deepEqual(methodState(state, 'nCliCommandCont'), { method: 'nCliCommandCont', enabled: true, allowedNodes: ['central'] });
  });

  test("steward's op-stop-proc stops httpGet: it is refused METHOD_DISABLED (and logged centrally), cliCommand still runs", async () => {
    assert.equal((await httpGet()).state, 'replied', 'httpGet runs before');
    const stopped = await runFixture('steward/op-stop-proc.json');
    assert.equal(stopped.state, 'replied', JSON.stringify(stopped));
    assert.equal(stopped.reply.stdout, `stopped httpGet on ${NODE} (allowedNodes: *)\n`);

    const refused = await httpGet();
    assert.equal(refused.state, 'failed');
    assert.equal(refused.reply.errorCode, 'METHOD_DISABLED');
    assert.equal(refused.error, 'METHOD_DISABLED: method httpGet is disabled on this agent (message from central)');
    assert.equal(refused.reply.stdout, undefined, 'nothing was fetched');
    await agent.waitForLog((l) => l.msg === 'fleet message refused by the method policy' && l.id === refused.id, 'refusal in the agent log');
    const entry = await loggedError((e) => e.id === refused.id, 'the refusal in the error log');
    assert.equal(entry.code, 'METHOD_DISABLED');

    const still = await echo();
    assert.equal(still.state, 'replied');
    assert.equal(still.reply.stdout, 'still here\n');
    assert.equal(methodState((await ps()).state, 'httpGet')?.enabled, false);
  });

  test("ctrl's operation-stop-proc names receivingNode central, not this agent: refused, nothing stopped", async () => {
    const record = await runFixture('ctrl/operation-stop-proc.json');
    assert.equal(record.state, 'failed');
    assert.equal(record.reply.errorCode, 'OP_FAILED');
    assert.equal(record.reply.error, `stopProc httpGet: receivingNode central is not this agent (${NODE}); nothing was stopped`);
  });

  test('a stopped method stays stopped across an agent restart; ctrl\'s operation-start-proc starts it again, and that lasts too', async () => {
    await agent.stop();
    agent = await startAgent({ node: NODE, prefix, allowSigner: key, dataDir: agent.dataDir, args: ['--hello-interval', '3600'] });
    assert.equal((await httpGet()).reply.errorCode, 'METHOD_DISABLED');
    assert.deepEqual(methodState((await ps()).state, 'nCliCommandCont')?.allowedNodes, ['central'], 'startProc allowedNodes kept too');

    const started = await runFixture('ctrl/operation-start-proc.json');
    assert.equal(started.state, 'replied', JSON.stringify(started));
    const fetched = await httpGet();
    assert.equal(fetched.state, 'replied', JSON.stringify(fetched));
    assert.equal(fetched.reply.stdout, 'engine room\n');

    await agent.stop();
    agent = await startAgent({ node: NODE, prefix, allowSigner: key, dataDir: agent.dataDir, args: ['--hello-interval', '3600'] });
    assert.equal((await httpGet()).state, 'replied');
  });

  test("an errorLog message's text goes to the central error log: GET /fleet/errors and `fleet errors`", async () => {
    const [record] = await run([{ toNode: NODE, method: 'REQErrorLog', data: ['backup of /srv failed: disk full'] }]);
    assert.equal(record.state, 'replied');
    const entry = await loggedError((e) => e.id === record.id, 'the errorLog entry');
    assert.equal(entry.code, 'ERROR_LOG');
    assert.equal(entry.message, 'backup of /srv failed: disk full');
    assert.equal(entry.node, NODE);
    assert.equal(entry.method, 'errorLog');

    const table = await runCli(daemon, ['fleet', 'errors', '--node', NODE]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /AT.*NODE.*CODE.*MESSAGE ID.*ERROR/);
    assert.match(table.stdout, new RegExp(`${NODE} .*ERROR_LOG.*${record.id}.*backup of /srv failed: disk full`));
    const json = await runCli(daemon, ['-o', 'json', 'fleet', 'errors']);
    assert.deepEqual(JSON.parse(json.stdout)[0], entry, 'newest first');
    const other = await api(daemon, 'GET', '/api/v1/fleet/errors?node=ship9');
    assert.deepEqual(other.body, { errors: [] });
    const bad = await api(daemon, 'GET', '/api/v1/fleet/errors?limit=0');
    assert.equal(bad.status, 400);
  });

  test("an error event on another node's subject is not logged", async () => {
    const nc = await natsConnection();
    nc.publish(`${prefix}.errlog.ship9`, JSON.stringify({ node: NODE, at: Date.now(), code: 'ERROR_LOG', message: 'forged for ship2' }));
    await nc.flush();
    await nc.close();
    await daemon.waitForLog((l) => l.msg === 'fleet error event ignored: not an error event for its subject' && l.subject === `${prefix}.errlog.ship9`, 'forged event ignored');
    const { body } = await api(daemon, 'GET', '/api/v1/fleet/errors');
    assert.ok(!body.errors.some((e: { message: string }) => e.message === 'forged for ship2'));
  });

  test('an envelope signed by a foreign key is refused by the agent and shows in the central error log', async () => {
    const [message] = fanOut(parseMessages([{ toNode: NODE, method: 'cliCommand', methodArgs: ['touch', '/tmp/never'], replyMethod: 'console' }]).messages);
    const forged = sign({ messages: [message], from: 'central' } satisfies CommandPayload, generateSigner(), { node: NODE, id: message.id });
    const nc = await natsConnection();
    await nc.jetstream().publish(`${prefix}.cmd.${NODE}.cli`, JSON.stringify(forged));
    await nc.close();
    const entry = await loggedError((e) => e.id === message.id, 'the refused envelope in the error log');
    assert.equal(entry.code, 'REFUSED_UNKNOWN_SIGNER');
    assert.match(entry.message as string, /refused: UNKNOWN_SIGNER/);
  });

  test('an agent started with --allowed-nodes someone-else refuses central (op too); a daemon named someone-else is obeyed', async () => {
    const strict = await startAgent({ node: 'ship3', prefix, allowSigner: key, args: ['--hello-interval', '3600', '--allowed-nodes', 'someone-else'] });
    const refused = await echo('ship3');
    assert.equal(refused.state, 'failed');
    assert.equal(refused.reply.errorCode, 'SENDER_NOT_ALLOWED');
    assert.equal(refused.reply.error, 'sender central may not use method cliCommand on this agent (allowedNodes: someone-else)');
    const op = await runFixture('steward/op-ps.json', 'ship3');
    assert.equal(op.reply.errorCode, 'SENDER_NOT_ALLOWED');

    await daemon.stop();
    daemon = await startDaemon({ dataDir: daemon.dataDir, args: ['--fleet-name', 'someone-else'], env: { SWITCHBOARD_NATS_URL: await natsUrl(), SWITCHBOARD_FLEET_PREFIX: prefix } });
    const obeyed = await echo('ship3');
    assert.equal(obeyed.state, 'replied', JSON.stringify(obeyed));
    assert.equal(obeyed.reply.stdout, 'still here\n');
    await strict.stop();
  });
});
