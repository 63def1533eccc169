// Scoped tokens and console links against the real daemon: what a token may do, and how expiry,
// renewal and revocation reach connections that are already attached.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { cliEnv, runCli } from '../support/cli.js';
import { spawnTracked, stopProcess } from '../support/processes.js';
import { waitUntil } from '../support/wait.js';
import { TcpConsole, WsConsole } from '../support/console-clients.js';
import { api, BIN, catNode, startDaemon, type DaemonHandle } from '../support/daemon.js';

let d: DaemonHandle;
before(async () => {
  d = await startDaemon();
  for (const n of ['t1', 't2']) assert.equal((await api(d, 'POST', '/api/v1/nodes', catNode(n))).status, 201);
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function issue(body: Record<string, unknown>): Promise<{ id: string; token: string; expiresAt: string }> {
  const res = await api(d, 'POST', '/api/v1/tokens', body);
  assert.equal(res.status, 201, res.text);
  return res.body;
}

describe('scoped tokens', () => {
  test('a token works only for its node and its rights; the admin routes stay admin-only', async () => {
    const { id, token } = await issue({ node: 't1', rights: ['power'], ttl: '2h', note: 'provisioning' });
    assert.match(token, /^sbt_/);
    // Power on t1 is allowed: t1 has no power driver, so the answer is 409, not 403.
    const own = await api(d, 'GET', '/api/v1/nodes/t1/power', undefined, bearer(token));
    assert.equal(own.status, 409, own.text);
    assert.equal(own.body.error, 'POWER_NOT_CONFIGURED');
    const foreign = await api(d, 'GET', '/api/v1/nodes/t2/power', undefined, bearer(token));
    assert.equal(foreign.status, 403);
    assert.match(foreign.body.message, /another node/);
    await assert.rejects(WsConsole.open(d, 't1', {}, token), (e: { status: number; body: { message: string } }) => e.status === 403 && /does not grant console/.test(e.body.message));
    for (const [method, route] of [['GET', '/api/v1/nodes'], ['GET', '/api/v1/tokens'], ['DELETE', '/api/v1/nodes/t1'], ['POST', '/api/v1/bulk/power']] as const) {
      const res = await api(d, method, route, method === 'POST' ? { names: ['t1'], action: 'status' } : undefined, bearer(token));
      assert.equal(res.status, 403, `${method} ${route}: ${res.text}`);
    }
    const listed = await api(d, 'GET', '/api/v1/tokens?node=t1');
    const mine = listed.body.find((t: { id: string }) => t.id === id);
    assert.deepEqual({ ...mine, createdAt: undefined, expiresAt: undefined }, {
      id, node: 't1', rights: ['power'], kind: 'api', note: 'provisioning', createdAt: undefined, expiresAt: undefined, maxExpiresAt: null, expired: false, connections: 0,
    });
    assert.ok(!listed.text.includes(token), 'a listing never shows a secret');
  });

  test('only a hash is stored; no token reaches the daemon output', async () => {
    const { token } = await issue({ node: 't1', rights: ['console:ro'] });
    const ws = await WsConsole.open(d, 't1', {}, token);
    ws.close();
    await api(d, 'GET', `/api/v1/nodes/t1/console?token=${token}`, undefined, { authorization: '' });
    const db = readFileSync(path.join(d.dataDir, 'switchboard.db')).toString('latin1') + readFileSync(path.join(d.dataDir, 'switchboard.db-wal')).toString('latin1');
    assert.ok(db.includes('console:ro'), 'the token row is in the file');
    assert.ok(!db.includes(token), 'the secret is in the database');
    await d.waitForLog((l) => l.msg === 'token created', 'token log line');
    assert.ok(!d.rawOutput.some((l) => l.includes(token)), 'the secret appears in the daemon output');
  });

  test('bad requests: unknown node, unknown right, bad ttl, no rights', async () => {
    assert.equal((await api(d, 'POST', '/api/v1/tokens', { node: 'ghost', rights: ['power'] })).status, 404);
    for (const body of [{ node: 't1', rights: ['root'] }, { node: 't1', rights: ['power'], ttl: 'forever' }, { node: 't1', rights: [] }, { node: 't1', rights: ['power'], ttl: '400d' }]) {
      const res = await api(d, 'POST', '/api/v1/tokens', body);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
    }
  });

  test('token ids are looked up, never walked: traversal and junk are 404, wrong content types 415 (oversized bodies: api.test.ts)', async () => {
    for (const id of ['..%2F..%2Fetc%2Fpasswd', '%00', 'x'.repeat(60)]) {
      const res = await api(d, 'GET', `/api/v1/tokens/${id}`);
      assert.equal(res.status, 404, `${id}: ${res.text}`);
    }
    assert.equal((await api(d, 'GET', `/api/v1/tokens/${'x'.repeat(100)}`)).status, 400);
    assert.equal((await api(d, 'POST', '/api/v1/tokens', 'node=t1&rights=power', { 'content-type': 'application/x-www-form-urlencoded' })).status, 415);
    assert.equal((await api(d, 'POST', '/api/v1/tokens', { node: 't1', rights: ['power'], note: 'x'.repeat(201) })).status, 400);
    assert.equal((await api(d, 'POST', '/api/v1/tokens', { node: '../../etc', rights: ['power'] })).body.error, 'BAD_NODE_NAME');
  });

  test('a read-only console token attaches as a spy: its keys are dropped', async () => {
    const { token } = await issue({ node: 't1', rights: ['console:ro'] });
    const admin = await WsConsole.open(d, 't1', { replay: 'false' });
    const spy = await WsConsole.open(d, 't1', { mode: 'rw', replay: 'false' }, token);
    try {
      await spy.waitForNotice(/t1: attached read-only/);
      spy.type('from-the-spy\r');
      await spy.waitForNotice(/read-only/);
      admin.type('from-admin\r');
      await spy.waitFor('from-admin');
      assert.ok(!admin.output.includes('from-the-spy'));
    } finally {
      admin.close();
      spy.close();
    }
  });

  test('revoked, expired and unknown tokens are refused; revoking closes live connections with the reason', async () => {
    const { id, token } = await issue({ node: 't1', rights: ['console:rw'] });
    const ws = await WsConsole.open(d, 't1', { replay: 'false' }, token);
    const tcp = await TcpConsole.open(d, { node: 't1', token, replay: false });
    assert.equal(tcp.hello?.ok, true);
    ws.type('still-here\r');
    await ws.waitFor('still-here');
    assert.equal((await api(d, 'GET', '/api/v1/tokens/' + id)).body.connections, 2);
    assert.equal((await api(d, 'DELETE', `/api/v1/tokens/${id}`)).status, 204);
    assert.deepEqual(await ws.waitClosed(), { code: 4000, reason: 'token revoked' });
    await ws.waitForNotice(/token revoked/).catch(() => assert.fail(`no notice: ${JSON.stringify(ws.notices)}`));
    await tcp.waitClosed();
    assert.match(tcp.output, /\[token revoked\]/);
    assert.equal((await api(d, 'GET', '/api/v1/nodes/t1', undefined, bearer(token))).status, 401);
    await assert.rejects(WsConsole.open(d, 't1', {}, token), { status: 401 });
    assert.equal((await api(d, 'DELETE', `/api/v1/tokens/${id}`)).status, 404);
    const refused = await TcpConsole.open(d, { node: 't1', token });
    assert.deepEqual(refused.hello, { ok: false, error: 'UNAUTHORIZED', message: 'missing or invalid token' });
  });

  test('expiry mid-session: warned, then closed with the reason; a token renewed in time keeps its connection', async () => {
    const short = await issue({ node: 't1', rights: ['console:rw'], ttl: '3s' });
    const renewed = await issue({ node: 't1', rights: ['console:rw'], ttl: '3s' });
    const a = await WsConsole.open(d, 't1', { replay: 'false' }, short.token);
    const b = await WsConsole.open(d, 't1', { replay: 'false' }, renewed.token);
    try {
      // The holder renews its own token ('self'), as the web terminal does while it is open.
      const r = await api(d, 'POST', '/api/v1/tokens/self/renew', { ttl: '1h' }, bearer(renewed.token));
      assert.equal(r.status, 200, r.text);
      assert.ok(Date.parse(r.body.expiresAt) > Date.now() + 3500_000);
      await a.waitForNotice(/token expires in/);
      assert.deepEqual(await a.waitClosed(), { code: 4000, reason: 'token expired' });
      // a's token has passed its original expiry; b's connection and token still work.
      b.type('after-expiry\r');
      await b.waitFor('after-expiry');
      assert.ok(!b.notices.some((n) => /expire/.test(n)), `b was warned: ${b.notices.join(' | ')}`);
      assert.equal((await api(d, 'GET', '/api/v1/nodes/t1', undefined, bearer(short.token))).status, 401);
      const late = await api(d, 'POST', `/api/v1/tokens/${short.id}/renew`);
      assert.equal(late.status, 409, 'an expired token cannot be renewed');
      assert.equal((await api(d, 'GET', '/api/v1/tokens/self', undefined, bearer(renewed.token))).body.connections, 1);
      assert.equal((await api(d, 'POST', `/api/v1/tokens/${short.id}/renew`, {}, bearer(renewed.token))).status, 403, 'a token renews only itself');
    } finally {
      b.close();
    }
  });

  test('deleting a node revokes its tokens and closes their connections', async () => {
    assert.equal((await api(d, 'POST', '/api/v1/nodes', catNode('t3'))).status, 201);
    const { id, token } = await issue({ node: 't3', rights: ['console:rw', 'power'] });
    const ws = await WsConsole.open(d, 't3', {}, token);
    assert.equal((await api(d, 'DELETE', '/api/v1/nodes/t3')).status, 204);
    assert.equal((await ws.waitClosed()).reason, 'node deleted');
    assert.equal((await api(d, 'GET', `/api/v1/tokens/${id}`)).status, 404);
    assert.equal((await api(d, 'POST', '/api/v1/nodes', catNode('t3'))).status, 201);
    assert.equal((await api(d, 'GET', '/api/v1/nodes/t3', undefined, bearer(token))).status, 401, 'a node made again under the name does not bring old tokens back');
  });

  test('TCP attach: a token for another node is refused; a read-only token gets ro', async () => {
    const { token } = await issue({ node: 't2', rights: ['console:ro'] });
    const other = await TcpConsole.open(d, { node: 't1', token });
    assert.equal(other.hello?.error, 'FORBIDDEN');
    const ro = await TcpConsole.open(d, { node: 't2', token, mode: 'rw' });
    try {
      assert.deepEqual(ro.hello, { ok: true, node: 't2', mode: 'ro' });
    } finally {
      ro.close();
    }
  });
});

describe('console links', () => {
  test('a link opens the node\'s console with a token in the fragment, for that node only', async () => {
    const res = await api(d, 'POST', '/api/v1/nodes/t2/console-link', { ttl: '2h' });
    assert.equal(res.status, 201, res.text);
    const url = new URL(res.body.url);
    assert.equal(url.origin, d.url);
    assert.equal(url.pathname, '/console/t2');
    const token = new URLSearchParams(url.hash.slice(1)).get('token')!;
    assert.equal(token, res.body.token);
    assert.equal(res.body.kind, 'link');
    assert.deepEqual(res.body.rights, ['console:rw']);
    const ws = await WsConsole.open(d, 't2', { replay: 'false' }, token);
    try {
      ws.type('via-link\r');
      await ws.waitFor('via-link');
    } finally {
      ws.close();
    }
    await assert.rejects(WsConsole.open(d, 't1', {}, token), { status: 403 });
    const self = await api(d, 'GET', '/api/v1/tokens/self', undefined, bearer(token));
    assert.equal(self.body.node, 't2');
    const ro = await api(d, 'POST', '/api/v1/nodes/t2/console-link', { mode: 'ro' });
    assert.deepEqual(ro.body.rights, ['console:ro']);
    assert.match(ro.body.url, /\/console\/t2\?mode=ro#token=sbt_/);
  });
});

describe('failed logins', () => {
  test('1,000 wrong tokens from one address: 429 after the limit, other addresses and the daemon unaffected', async () => {
    const from127002 = (token: string) => new Promise<number>((resolve, reject) => {
      const req = http.request(`${d.url}/api/v1/nodes`, { localAddress: '127.0.0.2', headers: bearer(token) }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      req.end();
    });
    const statuses: number[] = [];
    for (let i = 0; i < 1000; i++) statuses.push(await from127002(`wrong-${i}`));
    assert.equal(statuses.filter((s) => s === 401).length, 30, 'authFailuresPerMinute defaults to 30');
    assert.equal(statuses.filter((s) => s === 429).length, 970);
    assert.equal(await from127002(d.token!), 429, 'while blocked, even the right token is not looked at');
    assert.equal((await api(d, 'GET', '/api/v1/nodes')).status, 200, 'another address is not blocked');
    assert.equal((await api(d, 'GET', '/healthz', undefined, { authorization: '' })).body.status, 'ok');
    assert.equal(d.proc.exitCode, null);
  });
});

describe('switchboard token (CLI)', () => {
  test('create, list, renew, revoke, and console-link', async () => {
    const created = await runCli(d, ['token', 'create', 't1', '--right', 'console:ro', 'power', '--ttl', '30m', '--note', 'tenant bob']);
    assert.equal(created.code, 0, created.stderr);
    const secret = created.stdout.trim();
    assert.match(secret, /^sbt_\S+$/, 'the secret alone on stdout');
    const id = /token ([0-9a-f]+):/.exec(created.stderr)![1];
    assert.match(created.stderr, /console:ro,power on t1, expires in (29|30)m/);

    const list = await runCli(d, ['token', 'list', '--node', 't1']);
    assert.match(list.stdout, new RegExp(`${id}\\s+t1\\s+console:ro,power\\s+api\\s+in (29|30)m\\s+0\\s+tenant bob`));
    assert.ok(!list.stdout.includes(secret));

    const renewed = await runCli(d, ['token', 'renew', id, '--ttl', '3h']);
    assert.match(renewed.stdout, /in (2h 59m|3h 0m)/);
    const self = await runCli(d, ['token', 'show', 'self', '-o', 'json'], { env: { SWITCHBOARD_TOKEN: secret } });
    assert.equal(JSON.parse(self.stdout).id, id);

    assert.equal((await runCli(d, ['token', 'revoke', id])).code, 0);
    const gone = await runCli(d, ['node', 'show', 't1'], { env: { SWITCHBOARD_TOKEN: secret } });
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /UNAUTHORIZED/);

    const link = await runCli(d, ['console-link', 't2', '--ttl', '1h', '--ro']);
    assert.equal(link.code, 0, link.stderr);
    assert.match(link.stdout.trim(), new RegExp(`^${d.url}/console/t2\\?mode=ro#token=sbt_\\S+$`));
    const bad = await runCli(d, ['token', 'create', 't1', '--right', 'root']);
    assert.equal(bad.code, 1);
  });

  test('switchboard console renews a scoped token while attached, so it outlives its first expiry', async () => {
    // 5 s: the CLI (a new node process) must attach before the token is gone, even on a busy machine.
    const cli = await issue({ node: 't2', rights: ['console:rw'], ttl: '5s' });
    const witness = await issue({ node: 't2', rights: ['console:ro'], ttl: '5s' });
    const proc = spawnTracked(process.execPath, [BIN, 'console', 't2', '--no-replay'], { env: cliEnv(d, { SWITCHBOARD_TOKEN: cli.token }), stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    const outputMatches = (re: RegExp) => waitUntil(() => re.test(out) || undefined, {
      what: `CLI output ${re}`,
      subscribe: (wake) => {
        proc.stdout!.on('data', wake);
        return () => proc.stdout!.off('data', wake);
      },
      failIf: () => (proc.exitCode !== null ? `CLI exited ${proc.exitCode}: ${out}` : undefined),
      describe: () => out.slice(-300),
    });
    proc.stdout!.on('data', (c: Buffer) => (out += c.toString('latin1')));
    try {
      await outputMatches(/attached read-write/);
      const spy = await WsConsole.open(d, 't2', { replay: 'false' }, witness.token);
      await outputMatches(/\[token renewed: valid until \S+\]/);
      // The witness token was made with the same 5 s and not renewed: once it is cut, the CLI's first expiry has passed too.
      assert.equal((await spy.waitClosed()).reason, 'token expired');
      proc.stdin!.write('still-attached\r');
      await outputMatches(/still-attached/);
    } finally {
      await stopProcess(proc);
    }
  });
});
