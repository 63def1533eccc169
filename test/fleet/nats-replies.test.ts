// Reply methods file / fileAppend and the audit log, end to end: daemon with NATS, a real agent.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../support/cli.js';
import { api, startDaemon, tempDir, type DaemonHandle } from '../support/daemon.js';
import { coalescingProxy, type CoalescingProxy } from '../support/coalescing-proxy.js';
import { fleetPrefix, natsUrl, startAgent } from '../support/nats.js';

describe('fleet over NATS: reply files and the audit log', () => {
  const prefix = fleetPrefix('replies');
  const dataDir = tempDir('fleet-replies');
  const nodeDir = path.join(dataDir, 'fleet', 'web-1');
  let daemon: DaemonHandle;

  before(async () => {
    daemon = await startDaemon({ dataDir, env: { SWITCHBOARD_NATS_URL: await natsUrl(), SWITCHBOARD_FLEET_PREFIX: prefix } });
    const signer = await runCli(daemon, ['fleet', 'signer']);
    assert.equal(signer.code, 0, signer.stderr);
    await startAgent({ node: 'web-1', prefix, allowSigner: signer.stdout.trim() });
  });

  /** Submits the messages and waits for each one's final state, in order. */
  async function submitAndWait(messages: unknown[]): Promise<any[]> {
    const sent = await api(daemon, 'POST', '/api/v1/fleet/messages', messages);
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    const done = [];
    for (const { id } of sent.body) {
      const { body } = await api(daemon, 'GET', `/api/v1/fleet/messages/${id}?wait=20`);
      done.push(body);
    }
    return done;
  }

  test('REQToFile writes stdout then stderr to <data>/fleet/<node>/<directory>/<fileName>, and the state says where', async () => {
    const [m] = await submitAndWait([{
      toNodes: ['web-1'], method: 'REQCliCommand', data: ['sh', '-c', 'echo out; echo err >&2'],
      replyMethod: 'REQToFile', directory: './my/log/files/', fileName: 'some.log',
    }]);
    const file = path.join(nodeDir, 'my', 'log', 'files', 'some.log');
    assert.equal(m.state, 'replied');
    assert.deepEqual([m.replyMethod, m.replyDirectory, m.replyFileName, m.replyFile, m.replyFileError], ['file', './my/log/files/', 'some.log', file, null]);
    assert.equal(await readFile(file, 'utf8'), 'out\nerr\n');
    assert.equal((await stat(file)).mode & 0o777, 0o640);
    assert.equal((await stat(path.dirname(file))).mode & 0o777, 0o750);

    // file overwrites.
    const [again] = await submitAndWait([{ toNode: 'web-1', method: 'cliCommand', methodArgs: ['echo', 'second'], replyMethod: 'file', directory: 'my/log/files', fileName: 'some.log' }]);
    assert.equal(again.replyFile, file);
    assert.equal(await readFile(file, 'utf8'), 'second\n');
  });

  test('fileAppend twice appends, in the order sent', async () => {
    const msg = (word: string) => ({ toNode: 'web-1', method: 'cliCommand', methodArgs: ['echo', word], replyMethod: 'fileAppend', fileName: 'append.log' });
    const done = await submitAndWait([msg('one'), msg('two')]);
    const file = path.join(nodeDir, 'append.log');
    assert.deepEqual(done.map((m) => [m.state, m.replyFile]), [['replied', file], ['replied', file]]);
    assert.equal(await readFile(file, 'utf8'), 'one\ntwo\n');
  });

  test('a directory or fileName that climbs out is refused at submit, naming the field, and nothing is written', async () => {
    const before = await api(daemon, 'GET', '/api/v1/fleet/messages?limit=10000');
    for (const [field, where] of [['directory', { directory: '../../escape', fileName: 'x.log' }], ['fileName', { fileName: '../../escape.log' }], ['directory', { directory: '/tmp', fileName: 'x.log' }]] as const) {
      const r = await api(daemon, 'POST', '/api/v1/fleet/messages', [{ toNode: 'web-1', method: 'cliCommand', methodArgs: ['echo', 'out'], replyMethod: 'file', ...where }]);
      assert.equal(r.status, 400, JSON.stringify(where));
      assert.equal(r.body.error, 'FLEET_MESSAGE');
      assert.match(r.body.message, new RegExp(`message 0.*${field}`), r.body.message);
    }
    const after = await api(daemon, 'GET', '/api/v1/fleet/messages?limit=10000');
    assert.equal(after.body.messages.length, before.body.messages.length, 'nothing was queued');
    for (const dir of [dataDir, path.join(dataDir, 'fleet'), path.dirname(dataDir)]) {
      assert.ok(!readdirSync(dir).some((f) => f.startsWith('escape')), `nothing escaped into ${dir}`);
    }
    assert.ok(!existsSync('/tmp/x.log'));
  });

  test('the audit log has submitted → published → running → replied, and no argv or output in it', async () => {
    const marker = `MARKER-${randomBytes(6).toString('hex')}`;
    const [m] = await submitAndWait([{ toNode: 'web-1', method: 'cliCommand', methodArgs: ['sh', '-c', `echo ${marker}; echo ${marker} >&2; exit 2`], replyMethod: 'console' }]);
    assert.equal(m.state, 'replied');
    assert.equal(m.reply.stdout, `${marker}\n`);
    const auditFile = path.join(dataDir, 'fleet', 'audit.jsonl');
    const text = await readFile(auditFile, 'utf8');
    assert.equal((await stat(auditFile)).mode & 0o777, 0o640);
    assert.ok(!text.includes(marker), 'neither argv nor output is in the audit log');
    const lines = text.trim().split('\n').map((l) => JSON.parse(l));
    // `delivered` shows only when someone looked while JetStream had handed it over and the agent had not spoken yet.
    const of = (id: string) => lines.filter((l) => l.id === id && l.event !== 'delivered');
    const events = (id: string) => of(id).map((l) => l.event);
    const mine = of(m.id);
    assert.deepEqual(events(m.id), ['submitted', 'published', 'running', 'replied']);
    for (const l of mine) {
      assert.deepEqual([l.node, l.method], ['web-1', 'cliCommand']);
      assert.ok(!Number.isNaN(Date.parse(l.ts)));
    }
    assert.equal(mine[0].by, 'admin');
    assert.deepEqual([mine[3].state, mine[3].exitCode, mine[3].bytes], ['replied', 2, 2 * (marker.length + 1)]);
    // The file replies of the tests before are there too, after their replied line, with their sizes.
    const fileReply = lines.filter((l) => l.event === 'reply-file')[0];
    assert.equal(fileReply.bytes, 'out\nerr\n'.length);
    assert.deepEqual(events(fileReply.id), ['submitted', 'published', 'running', 'replied', 'reply-file']);
  });
});

describe('fleet over NATS: the audit log when a reply reaches the daemon with its publish\'s ack', () => {
  const prefix = fleetPrefix('ackread');
  const dataDir = tempDir('fleet-ackread');
  let link: CoalescingProxy;
  let daemon: DaemonHandle;

  before(async () => {
    // The daemon's link to NATS passes on what the server sends every 25 ms, so a fast agent's
    // `running` arrives in the same read as the ack of the publish that carried its message.
    const { hostname, port } = new URL(await natsUrl());
    link = await coalescingProxy({ host: hostname, port: Number(port) }, 25);
    daemon = await startDaemon({ dataDir, env: { SWITCHBOARD_NATS_URL: `nats://${link.host}:${link.port}`, SWITCHBOARD_FLEET_PREFIX: prefix } });
    const signer = await runCli(daemon, ['fleet', 'signer']);
    await startAgent({ node: 'ack-1', prefix, allowSigner: signer.stdout.trim() });
  });
  after(async () => {
    await daemon?.stop();
    link?.close();
  });

  test('`published` comes before `running` and `replied` also when the agent\'s reply and JetStream\'s ack arrive in one read', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const sent = await api(daemon, 'POST', '/api/v1/fleet/messages', [{ toNode: 'ack-1', method: 'cliCommand', methodArgs: ['true'], replyMethod: 'console' }]);
      assert.equal(sent.status, 202, JSON.stringify(sent.body));
      const { body } = await api(daemon, 'GET', `/api/v1/fleet/messages/${sent.body[0].id}?wait=20`);
      assert.equal(body.state, 'replied');
      ids.push(body.id);
    }
    const lines = (await readFile(path.join(dataDir, 'fleet', 'audit.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    for (const id of ids) {
      assert.deepEqual(lines.filter((l) => l.id === id && l.event !== 'delivered').map((l) => l.event), ['submitted', 'published', 'running', 'replied'], id);
    }
  });
});
