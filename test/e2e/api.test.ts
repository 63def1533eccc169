// Node CRUD over REST against the real daemon, and every bad-input case the issue names.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { api, catNode, startDaemon, type DaemonHandle } from '../support/daemon.js';

let d: DaemonHandle;
before(async () => {
  d = await startDaemon();
});

describe('auth', () => {
  test('/healthz needs no token; the API refuses missing and wrong tokens with 401', async () => {
    const health = await api(d, 'GET', '/healthz', undefined, { authorization: '' });
    assert.equal(health.status, 200);
    assert.equal(health.body.status, 'ok');
    assert.equal(health.body.fleet, 'off', 'no --nats: no fleet side');
    const none = await fetch(`${d.url}/api/v1/nodes`);
    assert.equal(none.status, 401);
    assert.deepEqual(await none.json(), { error: 'UNAUTHORIZED', message: 'missing or invalid token' });
    assert.equal((await api(d, 'GET', '/api/v1/nodes', undefined, { authorization: 'Bearer wrong' })).status, 401);
    assert.equal((await api(d, 'GET', '/api/v1/nodes', undefined, { authorization: `Bearer ${d.token}x` })).status, 401);
  });

  test('HTTP Basic with user admin works as OBMd clients send it; other users do not', async () => {
    const basic = (user: string) => `Basic ${Buffer.from(`${user}:${d.token}`).toString('base64')}`;
    assert.equal((await api(d, 'GET', '/api/v1/nodes', undefined, { authorization: basic('admin') })).status, 200);
    assert.equal((await api(d, 'GET', '/api/v1/nodes', undefined, { authorization: basic('root') })).status, 401);
  });

  test('the OpenAPI document lists the node routes', async () => {
    const doc = await api(d, 'GET', '/api/v1/openapi.json', undefined, { authorization: '' });
    assert.equal(doc.status, 200);
    assert.ok(doc.body.paths['/api/v1/nodes/{name}']);
    assert.ok(doc.body.paths['/api/v1/bulk/nodes']);
  });

  test('a token in the query string is only accepted on the console route, and never logged', async () => {
    assert.equal((await api(d, 'GET', `/api/v1/nodes?token=${d.token}`, undefined, { authorization: '' })).status, 401);
    await d.waitForLog((l) => l.msg === 'request' && String(l.url).includes('token=[redacted]'), 'redacted request line');
    assert.ok(!d.rawOutput.some((l) => l.includes(d.token!)), 'the admin token appears in the daemon output');
  });
});

describe('nodes CRUD', () => {
  test('create, show, list by label, replace, patch and delete', async () => {
    const created = await api(d, 'POST', '/api/v1/nodes', catNode('crud1', { labels: { rack: 'r1', role: 'db' } }));
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.name, 'crud1');
    assert.equal(created.body.ondemand, false);
    assert.equal(created.body.consoleEnabled, true);
    assert.ok(['connecting', 'connected'].includes(created.body.session.state));

    await api(d, 'POST', '/api/v1/nodes', catNode('crud2', { labels: { rack: 'r2' } }));
    const r1 = await api(d, 'GET', '/api/v1/nodes?label=rack=r1');
    assert.deepEqual(r1.body.nodes.map((n: { name: string }) => n.name), ['crud1']);
    const both = await api(d, 'GET', '/api/v1/nodes?label=rack');
    assert.deepEqual(both.body.nodes.map((n: { name: string }) => n.name).filter((n: string) => n.startsWith('crud')), ['crud1', 'crud2']);
    assert.equal((await api(d, 'GET', '/api/v1/nodes?label=rack=r1&label=role=web')).body.nodes.length, 0);

    const shown = await api(d, 'GET', '/api/v1/nodes/crud1');
    assert.equal(shown.status, 200);
    assert.deepEqual(shown.body.params, { cmd: '/bin/cat' });
    assert.equal(typeof shown.body.session.since, 'string');

    const replaced = await api(d, 'PUT', '/api/v1/nodes/crud1', { driver: 'cmd', params: { cmd: ['/bin/cat', '-u'] }, ondemand: true });
    assert.equal(replaced.status, 200, replaced.text);
    assert.deepEqual(replaced.body.params, { cmd: ['/bin/cat', '-u'] });
    assert.deepEqual(replaced.body.labels, {}, 'PUT replaces the whole spec');
    assert.equal(replaced.body.ondemand, true);

    const patched = await api(d, 'PATCH', '/api/v1/nodes/crud1', JSON.stringify({ labels: { rack: 'r9' }, ondemand: false }), { 'content-type': 'application/merge-patch+json' });
    assert.equal(patched.status, 200, patched.text);
    assert.deepEqual(patched.body.labels, { rack: 'r9' });
    const unlabel = await api(d, 'PATCH', '/api/v1/nodes/crud1', { labels: { rack: null } });
    assert.deepEqual(unlabel.body.labels, {});
    assert.deepEqual(unlabel.body.params, { cmd: ['/bin/cat', '-u'] }, 'PATCH keeps what it does not name');

    assert.equal((await api(d, 'DELETE', '/api/v1/nodes/crud1')).status, 204);
    assert.equal((await api(d, 'GET', '/api/v1/nodes/crud1')).status, 404);
    assert.equal((await api(d, 'DELETE', '/api/v1/nodes/crud2?purgeLogs=true')).status, 204);
  });

  test('deleting a node keeps its log unless purgeLogs is asked for', async () => {
    const log = (n: string) => path.join(d.dataDir, 'logs', `${n}.log`);
    for (const n of ['keeplog', 'purgelog']) {
      await api(d, 'POST', '/api/v1/nodes', { name: n, driver: 'cmd', params: { cmd: ['/bin/echo', `hello from ${n}`] } });
    }
    await d.waitForLog((l) => l.node === 'purgelog' && l.msg === 'console down', 'purgelog console ran');
    assert.ok(existsSync(log('keeplog')) && existsSync(log('purgelog')));
    await api(d, 'DELETE', '/api/v1/nodes/keeplog');
    await api(d, 'DELETE', '/api/v1/nodes/purgelog?purgeLogs=true');
    assert.ok(existsSync(log('keeplog')));
    assert.ok(!existsSync(log('purgelog')));
  });
});

describe('bad input gets a clear error and changes nothing', () => {
  const post = (body: unknown, headers: Record<string, string> = {}) => api(d, 'POST', '/api/v1/nodes', body, headers);

  test('bad names: ../, NUL, 10 KB, empty, leading dot', async () => {
    for (const name of ['../etc', 'a/b', 'nul\u0000', 'x'.repeat(10_240), '', '.hidden', '-x']) {
      const res = await post(catNode(name));
      assert.equal(res.status, 400, `${JSON.stringify(name.slice(0, 20))}: ${res.text.slice(0, 200)}`);
      assert.equal(res.body.error, 'BAD_NODE_NAME');
      assert.ok(res.text.length < 1000, 'a long name is not echoed back whole');
    }
    for (const name of ['..%2Fetc', 'x'.repeat(10_240), '%00']) {
      const res = await api(d, 'GET', `/api/v1/nodes/${name}`);
      assert.equal(res.status, 400, res.text.slice(0, 200));
      assert.equal(res.body.error, 'BAD_NODE_NAME');
    }
    assert.ok(!existsSync(path.join(d.dataDir, 'etc.log')));
  });

  test('unknown fields, wrong types and missing fields name the field', async () => {
    const extra = await post({ ...catNode('v1'), colour: 'blue' });
    assert.equal(extra.status, 400);
    assert.equal(extra.body.error, 'VALIDATION');
    assert.match(extra.body.message, /colour/);
    const wrongType = await post({ ...catNode('v1'), ondemand: 'sometimes' });
    assert.equal(wrongType.status, 400);
    assert.match(wrongType.body.field, /ondemand/);
    const missing = await post({ name: 'v1', params: {} });
    assert.equal(missing.status, 400);
    assert.match(missing.body.message, /driver/);
    assert.equal((await api(d, 'GET', '/api/v1/nodes/v1')).status, 404, 'nothing was created');
  });

  test('unknown driver and bad driver params', async () => {
    const unknown = await post({ name: 'v2', driver: 'telepathy', params: {} });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.error, 'UNKNOWN_DRIVER');
    assert.match(unknown.body.message, /known: cmd/);
    const noCmd = await post({ name: 'v2', driver: 'cmd', params: {} });
    assert.equal(noCmd.status, 400);
    assert.equal(noCmd.body.error, 'BAD_PARAMS');
    assert.match(noCmd.body.message, /cmd/);
    const pipe = await post({ name: 'v2', driver: 'cmd', params: { cmd: 'yes | head' } });
    assert.equal(pipe.status, 400);
    assert.match(pipe.body.message, /sh -c/);
  });

  test('malformed JSON, empty body, wrong content type', async () => {
    const bad = await post('{"name": "x",', { 'content-type': 'application/json' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error, 'BAD_JSON');
    const empty = await post('', { 'content-type': 'application/json' });
    assert.equal(empty.status, 400);
    const xml = await post('<node/>', { 'content-type': 'application/xml' });
    assert.equal(xml.status, 415);
    const text = await post('name=x', { 'content-type': 'text/plain' });
    assert.equal(text.status, 400);
    assert.equal(text.body.error, 'VALIDATION');
  });

  test('an oversized body is refused with 413 before it is read', async () => {
    // Announce 9 MiB and send only the start: the daemon answers from the length alone, and no
    // upload races the answer (a client still writing would see EPIPE instead of the 413).
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${d.url}/api/v1/nodes`, {
        method: 'POST',
        headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json', 'content-length': String(9 * 1024 * 1024) },
      });
      req.on('response', (r) => {
        let body = '';
        r.on('data', (c: Buffer) => (body += c));
        r.on('end', () => {
          req.destroy();
          resolve({ status: r.statusCode!, body });
        });
      });
      req.on('error', reject);
      req.write(`{"name":"big","driver":"cmd","params":{"cmd":"/bin/cat"},"labels":{"pad":"${'x'.repeat(1024)}`);
    });
    assert.equal(res.status, 413);
    assert.equal(JSON.parse(res.body).error, 'BODY_TOO_LARGE');
    assert.equal((await api(d, 'GET', '/api/v1/nodes/big')).status, 404);
  });

  test('duplicates are 409, unknown nodes 404, a PUT naming another node 400', async () => {
    assert.equal((await post(catNode('dup'))).status, 201);
    const again = await post(catNode('dup'));
    assert.equal(again.status, 409);
    assert.equal(again.body.error, 'NODE_EXISTS');
    for (const [method, body] of [['GET'], ['DELETE'], ['PUT', { driver: 'cmd', params: { cmd: 'cat' } }], ['PATCH', { ondemand: true }]] as const) {
      const res = await api(d, method, '/api/v1/nodes/ghost', body);
      assert.equal(res.status, 404, `${method}: ${res.text}`);
      assert.equal(res.body.error, 'NODE_NOT_FOUND');
    }
    const mismatch = await api(d, 'PUT', '/api/v1/nodes/dup', catNode('other'));
    assert.equal(mismatch.status, 400);
    assert.equal(mismatch.body.error, 'NAME_MISMATCH');
  });

  test('a command that does not exist puts the session in error with the reason', async () => {
    await post({ name: 'nocmd', driver: 'cmd', params: { cmd: '/nonexistent/console-program --x' } });
    const line = await d.waitForLog((l) => l.node === 'nocmd' && l.msg === 'console failed', 'nocmd failure');
    assert.match(String(line.reason), /command not found: \/nonexistent\/console-program/);
    const view = await api(d, 'GET', '/api/v1/nodes/nocmd');
    assert.ok(['error', 'connecting'].includes(view.body.session.state));
    assert.match(view.body.session.lastError, /command not found/);
  });

  test('after all of that the daemon is still healthy', async () => {
    assert.equal((await api(d, 'GET', '/healthz')).status, 200);
    assert.equal(d.proc.exitCode, null);
  });
});
