// The audit log against the real daemon: who attached to which console and how, who forced
// write, who powered what, which tokens were made and revoked; never a secret in the file.
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { AuditEntry as Entry } from '../../src/audit/index.js';
import { BMC_PASSWORD, BMC_USER, startBmcSim, waitChassis, type BmcSim } from '../support/bmc-sim.js';
import { runCli } from '../support/cli.js';
import { WsConsole } from '../support/console-clients.js';
import { api, catNode, startDaemon, type DaemonHandle } from '../support/daemon.js';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function audit(d: DaemonHandle, query = ''): Promise<Entry[]> {
  const res = await api<{ entries: Entry[] }>(d, 'GET', `/api/v1/audit${query}`);
  assert.equal(res.status, 200, res.text);
  return res.body.entries;
}

/** Every byte the daemon wrote to its audit files, rotated ones included. */
function auditFiles(d: DaemonHandle): string {
  let text = '';
  for (const name of ['audit.jsonl', 'audit.jsonl.1', 'audit.jsonl.2', 'audit.jsonl.3', 'audit.jsonl.4', 'audit.jsonl.5']) {
    try {
      text += readFileSync(path.join(d.dataDir, name), 'utf8');
    } catch { /* not rotated that far */ }
  }
  return text;
}

async function issue(d: DaemonHandle, body: Record<string, unknown>): Promise<{ id: string; token: string }> {
  const res = await api(d, 'POST', '/api/v1/tokens', body);
  assert.equal(res.status, 201, res.text);
  return res.body;
}

describe('audit log', () => {
  let d: DaemonHandle;
  let bmc: BmcSim;
  before(async () => {
    [d, bmc] = await Promise.all([startDaemon(), startBmcSim()]);
    assert.equal((await api(d, 'POST', '/api/v1/nodes', catNode('a1'))).status, 201);
    const power = { driver: 'ipmi', params: { host: bmc.host, port: bmc.port, user: BMC_USER, password: BMC_PASSWORD, timeoutMs: 500 } };
    assert.equal((await api(d, 'POST', '/api/v1/nodes', catNode('pw1', { power }))).status, 201);
  });
  after(async () => {
    await Promise.all([d?.stop(), bmc?.stop()]);
  });

  test('the audit log records an attach by a scoped token with its token id and no token value', async () => {
    const { id, token } = await issue(d, { node: 'a1', rights: ['console:ro'], ttl: '1h' });
    const ws = await WsConsole.open(d, 'a1', { mode: 'rw' }, token);
    await ws.waitForNotice(/attached read-only/);
    const [attach] = await audit(d, `?action=console.attach&identity=token:${id}`);
    assert.ok(attach, 'an attach entry for the token');
    assert.equal(attach.node, 'a1');
    assert.equal(attach.mode, 'ro', 'a console:ro token gets a spy, whatever it asked for');
    assert.equal(attach.details?.via, 'ws');
    assert.equal(attach.from, '127.0.0.1');
    ws.close();
    await d.waitForLog((l) => l.msg === 'client detached' && l.identity === `token:${id}`, 'the token client detached');
    const [detach] = await audit(d, `?action=console.detach&identity=token:${id}`);
    assert.equal(detach.node, 'a1');
    assert.equal(typeof detach.durationMs, 'number');
    assert.ok(detach.durationMs! >= 0);
    const text = auditFiles(d);
    assert.ok(text.includes(`token:${id}`));
    assert.ok(!text.includes(token), 'the token secret is in the audit file');
  });

  test('an admin attach, a forced write and the detach with its duration', async () => {
    const ws = await WsConsole.open(d, 'a1', { mode: 'ro' });
    await ws.waitForNotice(/attached read-only/);
    ws.type('\x05cf');
    await ws.waitForNotice(/exclusive write access/);
    ws.close();
    await d.waitForLog((l) => l.msg === 'client detached' && l.identity === 'admin', 'the admin client detached');
    const entries = await audit(d, '?node=a1&identity=admin&action=console.');
    assert.deepEqual(entries.map((e) => [e.action, e.mode]), [['console.detach', 'rw'], ['console.force', 'rw'], ['console.attach', 'ro']], 'newest first');
    assert.ok(entries[0].durationMs! >= 0);
    assert.equal(entries[0].details?.client, entries[2].details?.client, 'the same client');
  });

  test('a client dropped because its node was deleted is recorded as detached', async () => {
    assert.equal((await api(d, 'POST', '/api/v1/nodes', catNode('doomed'))).status, 201);
    const ws = await WsConsole.open(d, 'doomed');
    await ws.waitForNotice(/attached read-write/);
    assert.equal((await api(d, 'DELETE', '/api/v1/nodes/doomed')).status, 204);
    await ws.waitClosed();
    const entries = await audit(d, '?node=doomed');
    assert.deepEqual(entries.map((e) => e.action), ['node.delete', 'console.detach', 'console.attach', 'node.create']);
    assert.equal(entries[1].identity, 'admin');
    assert.equal(entries[1].details?.reason, 'node deleted');
  });

  test('a power action by a scoped token and a boot device by the admin', async () => {
    const { id, token } = await issue(d, { node: 'pw1', rights: ['power'], ttl: '1h' });
    const res = await api(d, 'POST', '/api/v1/nodes/pw1/power', { action: 'on' }, bearer(token));
    assert.equal(res.status, 200, res.text);
    await waitChassis(bmc, 'pw1 on', () => bmc.power() === '1');
    const boot = await api(d, 'PUT', '/api/v1/nodes/pw1/boot-device', { device: 'pxe' });
    assert.equal(boot.status, 200, boot.text);
    const [bootEntry, power] = await audit(d, '?node=pw1&limit=2');
    assert.deepEqual({ ...power, ts: undefined }, {
      ts: undefined, action: 'power', identity: `token:${id}`, from: '127.0.0.1', node: 'pw1', method: 'POST', route: '/api/v1/nodes/:name/power', status: 200,
      details: { action: 'on', fields: ['action'] },
    });
    assert.equal(bootEntry.action, 'boot-device');
    assert.equal(bootEntry.identity, 'admin');
    assert.equal(bootEntry.details?.device, 'pxe');
    assert.ok(!auditFiles(d).includes(token));
  });

  test('token creation and revocation name the token, never its secret', async () => {
    const { id, token } = await issue(d, { node: 'a1', rights: ['console:rw'], ttl: '1h', note: 'for the audit' });
    assert.equal((await api(d, 'DELETE', `/api/v1/tokens/${id}`)).status, 204);
    const [revoke, create] = await audit(d, '?action=token.&limit=2');
    assert.equal(create.action, 'token.create');
    assert.equal(create.details?.tokenId, id);
    assert.equal(create.node, 'a1');
    assert.deepEqual(create.details?.rights, ['console:rw']);
    assert.equal(revoke.action, 'token.revoke');
    assert.equal(revoke.details?.tokenId, id);
    assert.equal(revoke.status, 204);
    const text = auditFiles(d);
    assert.ok(!text.includes(token));
    assert.ok(!text.includes('for the audit'), 'a free-text note is named, not copied');
  });

  test('a node made with a BMC password: the fields are named, the password is nowhere', async () => {
    const secret = 'bmcPa55-in-request'; // ipmi passwords: at most 20 characters
    const vnc = 'vnc-Pa55-only-in-the-request';
    const body = catNode('secretive', { power: { driver: 'ipmi', params: { host: '127.0.0.1', user: 'root', password: secret } }, vnc: { host: '127.0.0.1', port: 5900, password: vnc } });
    const created = await api(d, 'POST', '/api/v1/nodes', body);
    assert.equal(created.status, 201, created.text);
    const patched = await api(d, 'PATCH', '/api/v1/nodes/secretive', { power: { params: { password: `${secret}-2`.slice(-20) } } });
    assert.equal(patched.status, 200, patched.text);
    const [patch, create] = await audit(d, '?node=secretive');
    assert.equal(create.action, 'node.create');
    assert.deepEqual(create.details?.fields, ['name', 'driver', 'params.cmd', 'power.driver', 'power.params.host', 'power.params.user', 'power.params.password', 'vnc.host', 'vnc.port', 'vnc.password']);
    assert.equal(patch.action, 'node.update');
    assert.deepEqual(patch.details?.fields, ['power.params.password'], 'which field changed');
    const text = auditFiles(d);
    assert.ok(text.includes('secretive'));
    assert.ok(!text.includes(secret) && !text.includes(vnc), 'a password is in the audit file');
  });

  test('filters: since, until, identity, limit; a scoped token is refused; a bad time is a 400', async () => {
    const all = await audit(d, '?limit=1000');
    assert.ok(all.length >= 10);
    for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].ts >= all[i].ts, 'newest first');
    assert.equal((await audit(d, '?limit=3')).length, 3);
    assert.deepEqual(await audit(d, `?until=${encodeURIComponent(new Date(Date.parse(all.at(-1)!.ts) - 1).toISOString())}`), []);
    assert.equal((await audit(d, '?since=1h&limit=1000')).length, all.length);
    assert.ok((await audit(d, '?identity=admin&limit=1000')).every((e) => e.identity === 'admin'));
    assert.deepEqual(await audit(d, '?node=nonesuch'), []);
    assert.equal((await api(d, 'GET', '/api/v1/audit?since=yesterday')).status, 400);

    const { token } = await issue(d, { node: 'a1', rights: ['console:rw', 'power'], ttl: '1h' });
    const refused = await api(d, 'GET', '/api/v1/audit', undefined, bearer(token));
    assert.equal(refused.status, 403, refused.text);
  });

  test('switchboard audit: a table for people, JSON for scripts, filtered by node, time and action', async () => {
    const table = await runCli(d, ['audit', '--node', 'pw1', '--since', '1h', '--action', 'power']);
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trim().split('\n');
    assert.match(lines[0], /^TIME\s+ACTION\s+IDENTITY\s+FROM\s+NODE\s+WHAT$/);
    assert.equal(lines.length, 2, table.stdout);
    assert.match(lines[1], /power\s+token:\S+\s+127\.0\.0\.1\s+pw1\s+200 action=on/);
    const json = await runCli(d, ['-o', 'json', 'audit', '--action', 'console.', '--limit', '2']);
    assert.equal(json.code, 0, json.stderr);
    const entries = JSON.parse(json.stdout) as Entry[];
    assert.equal(entries.length, 2);
    assert.ok(entries.every((e) => e.action.startsWith('console.')));
  });

  test('the file is 0640', () => {
    assert.equal(statSync(path.join(d.dataDir, 'audit.jsonl')).mode & 0o777, 0o640);
  });
});

test('rotation keeps old entries searchable', async () => {
  const d = await startDaemon({ env: { SWITCHBOARD_AUDIT_MAX_BYTES: '1024', SWITCHBOARD_AUDIT_KEEP: '4' } });
  try {
    assert.equal((await api(d, 'POST', '/api/v1/nodes', catNode('r1'))).status, 201);
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await issue(d, { node: 'r1', rights: ['power'], ttl: '1h' })).id);
    const created = await audit(d, '?action=token.create&limit=100');
    assert.deepEqual(created.map((e) => e.details?.tokenId), ids.reverse(), 'every token, newest first, across the files');
    assert.ok(statSync(path.join(d.dataDir, 'audit.jsonl.1')).size > 0, 'the log has rotated');
    assert.ok(statSync(path.join(d.dataDir, 'audit.jsonl')).size <= 1024);
    const [first] = await audit(d, '?action=node.create');
    assert.equal(first.node, 'r1', 'the oldest entry is still found');
  } finally {
    await d.stop();
  }
});
