// The graphical console against a real Xvnc: the daemon logs in with the stored password, greets
// the browser with security None and passes RFB through; a spy's input never reaches the server.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { runCli } from '../support/cli.js';
import { api, catNode, startDaemon, type DaemonHandle } from '../support/daemon.js';
import { freePort } from '../support/ports.js';
import { RfbClient, type Rect } from '../support/rfb-client.js';
import { pointerPosition, startXvnc, type Xvnc } from '../support/xvnc.js';

const PASSWORD = 'secret12';
const WRONG = 'wrong-pw';

let d: DaemonHandle;
let locked: Xvnc; // VNC authentication, screen red
let open: Xvnc; // security None, screen blue

const vncNode = (name: string, vnc: Record<string, unknown>) => catNode(name, { consoleEnabled: false, vnc });

before(async () => {
  [locked, open, d] = await Promise.all([
    startXvnc({ password: PASSWORD, colour: 'red' }),
    startXvnc({ colour: 'blue' }),
    startDaemon(),
  ]);
  const nodes = [
    vncNode('kvm', { host: '127.0.0.1', port: locked.port, password: PASSWORD }),
    vncNode('kvm-wrong', { host: '127.0.0.1', port: locked.port, password: WRONG }),
    vncNode('kvm-nopass', { host: '127.0.0.1', port: locked.port }),
    vncNode('kvm-open', { host: '127.0.0.1', port: open.port }),
    vncNode('kvm-open-pw', { host: '127.0.0.1', port: open.port, password: PASSWORD }),
    vncNode('kvm-down', { host: '127.0.0.1', port: await freePort() }),
    catNode('serial-only', { consoleEnabled: false }),
  ];
  for (const n of nodes) {
    const res = await api(d, 'POST', '/api/v1/nodes', n);
    assert.equal(res.status, 201, res.text);
  }
});

/** Every pixel of the rectangles, as [R, G, B] (the test client's format is B, G, R, 0). */
function colours(rects: Rect[]): Set<string> {
  const out = new Set<string>();
  for (const r of rects) for (let i = 0; i < r.pixels.length; i += 4) out.add([r.pixels[i + 2], r.pixels[i + 1], r.pixels[i]].join(','));
  return out;
}

/** Attach, log in as the browser does, and read the whole screen once. */
async function screen(c: RfbClient): Promise<{ width: number; height: number; colours: Set<string> }> {
  const init = await c.handshake();
  c.setPixelFormat32();
  c.setEncodings([0]);
  c.requestUpdate(0, 0, init.width, init.height);
  return { width: init.width, height: init.height, colours: colours(await c.readUpdate()) };
}

/** A full update request answered: every message sent before it has been handled by the server. */
async function barrier(c: RfbClient): Promise<void> {
  c.requestUpdate(0, 0, 1, 1);
  await c.readUpdate();
}

async function issueToken(node: string, rights: string[]): Promise<{ id: string; token: string }> {
  const res = await api(d, 'POST', '/api/v1/tokens', { node, rights, ttl: '1h' });
  assert.equal(res.status, 201, res.text);
  return res.body;
}

function assertRefused(status: number, pattern: RegExp) {
  return (e: { status?: number; body?: { message?: string } }) => e.status === status && pattern.test(e.body?.message ?? '');
}

describe('graphical console (VNC)', () => {
  test('the daemon answers the password challenge; the browser gets security None, ServerInit and the red screen', async () => {
    const c = await RfbClient.open(d, 'kvm');
    try {
      const s = await screen(c);
      assert.deepEqual([s.width, s.height], [64, 48]);
      assert.deepEqual([...s.colours], ['255,0,0']);
    } finally {
      c.close();
    }
    await d.waitForLog((l) => l.msg === 'vnc attached' && l.node === 'kvm', 'vnc attached');
  });

  test('a server without a password (security None) works too, with or without one configured', async () => {
    for (const node of ['kvm-open', 'kvm-open-pw']) {
      const c = await RfbClient.open(d, node);
      try {
        assert.deepEqual([...(await screen(c)).colours], ['0,0,255'], node);
      } finally {
        c.close();
      }
    }
  });

  test('the password is never shown: node view masks it, a masked password sent back keeps the stored one', async () => {
    const view = await api(d, 'GET', '/api/v1/nodes/kvm');
    assert.deepEqual(view.body.vnc, { host: '127.0.0.1', port: locked.port, password: '***' });
    assert.ok(!view.text.includes(PASSWORD));
    const list = await api(d, 'GET', '/api/v1/nodes');
    assert.ok(!list.text.includes(PASSWORD) && !list.text.includes(WRONG));
    // GET, edit, PUT back: the '***' stays the real password.
    const { name: _n, session: _s, rawPort: _r, powerState: _p, agent: _a, watch: _w, createdAt: _c, updatedAt: _u, ...spec } = view.body;
    const put = await api(d, 'PUT', '/api/v1/nodes/kvm', { ...spec, labels: { edited: 'yes' } });
    assert.equal(put.status, 200, put.text);
    const c = await RfbClient.open(d, 'kvm');
    try {
      assert.deepEqual([...(await screen(c)).colours], ['255,0,0']);
    } finally {
      c.close();
    }
    const patched = await api(d, 'PATCH', '/api/v1/nodes/kvm-open', { vnc: { port: open.port } }, { 'content-type': 'application/merge-patch+json' });
    assert.equal(patched.status, 200, patched.text);
    assert.deepEqual(patched.body.vnc, { host: '127.0.0.1', port: open.port });
  });

  test('wrong password, missing password, unreachable server: the WebSocket closes with 4000 and says why', async () => {
    const cases: [string, RegExp][] = [
      ['kvm-wrong', /refused the VNC password/],
      ['kvm-nopass', /wants a password; set the node's vnc.password/],
      ['kvm-down', /unreachable: ECONNREFUSED/],
    ];
    for (const [node, reason] of cases) {
      const c = await RfbClient.open(d, node);
      const closed = await c.closed;
      assert.equal(closed.code, 4000, `${node}: ${JSON.stringify(closed)}`);
      assert.match(closed.reason, reason, node);
      assert.match(closed.reason, new RegExp(`127\\.0\\.0\\.1:\\d+`), `${node}: the reason names the server`);
    }
    await d.waitForLog((l) => l.msg === 'vnc connection failed' && l.node === 'kvm-wrong', 'failure logged');
  });

  test('unknown node 404, node without VNC 409, before the upgrade', async () => {
    await assert.rejects(RfbClient.open(d, 'ghost'), assertRefused(404, /does not exist/));
    await assert.rejects(RfbClient.open(d, 'serial-only'), (e: { status?: number; body?: { error?: string } }) => e.status === 409 && e.body?.error === 'VNC_NOT_CONFIGURED');
  });

  test('scoped tokens: another node 403, power only 403, no token 401', async () => {
    const other = await issueToken('kvm-open', ['console:rw']);
    await assert.rejects(RfbClient.open(d, 'kvm', { token: other.token }), assertRefused(403, /another node/));
    const power = await issueToken('kvm', ['power']);
    await assert.rejects(RfbClient.open(d, 'kvm', { token: power.token }), assertRefused(403, /does not grant console/));
    await assert.rejects(RfbClient.open(d, 'kvm', { token: 'nope' }), (e: { status?: number }) => e.status === 401);
  });

  test("a spy's pointer and keys never reach the server; its session stays healthy", async () => {
    const rw = await RfbClient.open(d, 'kvm');
    const spy = await RfbClient.open(d, 'kvm', { token: (await issueToken('kvm', ['console:ro'])).token });
    const adminSpy = await RfbClient.open(d, 'kvm', { query: { mode: 'ro' } });
    try {
      await rw.handshake();
      // The control: a writer's pointer does move the X pointer.
      rw.pointer(10, 20);
      await barrier(rw);
      assert.deepEqual(await pointerPosition(locked), { x: 10, y: 20 });
      for (const c of [spy, adminSpy]) {
        assert.deepEqual([...(await screen(c)).colours], ['255,0,0']);
        c.pointer(30, 40, 1);
        c.pointer(31, 41, 0);
        c.key(0x61, true);
        c.key(0x61, false);
        await barrier(c); // the server has handled everything the spy sent
        assert.deepEqual(await pointerPosition(locked), { x: 10, y: 20 });
      }
      // Both spies are still attached and served.
      for (const c of [spy, adminSpy]) await barrier(c);
    } finally {
      for (const c of [rw, spy, adminSpy]) c.close();
    }
  });

  test('revoking the token closes its VNC connection with the reason', async () => {
    const { id, token } = await issueToken('kvm', ['console:rw']);
    const c = await RfbClient.open(d, 'kvm', { token, query: { token } });
    await c.handshake();
    assert.equal((await api(d, 'DELETE', `/api/v1/tokens/${id}`)).status, 204);
    const closed = await c.closed;
    assert.deepEqual(closed, { code: 4000, reason: 'token revoked' });
  });

  test('an admin connection ends when the node\'s VNC settings change or the node is deleted', async () => {
    const made = await api(d, 'POST', '/api/v1/nodes', { name: 'kvm-gone', driver: 'cmd', params: { cmd: '/bin/cat' }, consoleEnabled: false, vnc: { host: '127.0.0.1', port: open.port } });
    assert.equal(made.status, 201, made.text);
    const a = await RfbClient.open(d, 'kvm-gone');
    await a.handshake();
    assert.equal((await api(d, 'PATCH', '/api/v1/nodes/kvm-gone', { labels: { x: 'y' } })).status, 200);
    await barrier(a); // a label edit leaves it open and served
    assert.equal((await api(d, 'PATCH', '/api/v1/nodes/kvm-gone', { vnc: { host: '127.0.0.1', port: locked.port, password: PASSWORD } })).status, 200);
    assert.deepEqual(await a.closed, { code: 4000, reason: 'VNC settings changed' });
    const b = await RfbClient.open(d, 'kvm-gone');
    await b.handshake();
    assert.equal((await api(d, 'DELETE', '/api/v1/nodes/kvm-gone')).status, 204);
    assert.deepEqual(await b.closed, { code: 4000, reason: 'node deleted' });
  });

  test('CLI: node create --vnc with the password from stdin, show without it, edit and --no-vnc', async () => {
    const created = await runCli(d, ['node', 'create', 'kvm-cli', '--driver', 'cmd', '--param', 'cmd=/bin/cat', '--disabled',
      '--vnc', `127.0.0.1:${locked.port}`, '--vnc-password-file', '-'], { input: `${PASSWORD}\n` });
    assert.equal(created.code, 0, created.stderr);
    const shown = await runCli(d, ['node', 'show', 'kvm-cli']);
    assert.match(shown.stdout, new RegExp(`^vnc +127\\.0\\.0\\.1:${locked.port} \\(password set\\)$`, 'm'));
    assert.ok(!shown.stdout.includes(PASSWORD));
    const c = await RfbClient.open(d, 'kvm-cli');
    try {
      assert.deepEqual([...(await screen(c)).colours], ['255,0,0'], 'the password read from stdin works');
    } finally {
      c.close();
    }
    const moved = await runCli(d, ['node', 'edit', 'kvm-cli', '--vnc', `127.0.0.1:${open.port}`, '--no-vnc-password']);
    assert.equal(moved.code, 0, moved.stderr);
    assert.match(moved.stdout, new RegExp(`^vnc +127\\.0\\.0\\.1:${open.port} \\(no password\\)$`, 'm'));
    const removed = await runCli(d, ['-o', 'json', 'node', 'edit', 'kvm-cli', '--no-vnc']);
    assert.equal(JSON.parse(removed.stdout).vnc, null);
    const bad = await runCli(d, ['node', 'edit', 'kvm-cli', '--vnc', 'host:99999']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--vnc must be HOST or HOST:PORT/);
  });

  test('no VNC password in the daemon output', () => {
    const out = d.rawOutput.join('\n');
    assert.ok(out.includes('vnc attached'), 'the daemon logged the sessions');
    assert.ok(!out.includes(PASSWORD) && !out.includes(WRONG), 'a VNC password appears in the daemon output');
  });
});
