// Per-node raw TCP console ports and ironic's console API, through the real daemon, with real
// socat processes as the clients (what ironic's users run against a socat console URL).
import assert from 'node:assert/strict';
import net from 'node:net';
import { before, describe, test } from 'node:test';
import { runCli } from '../support/cli.js';
import { SocatConsole } from '../support/console-clients.js';
import { api, catNode, startDaemon, tempDir, type DaemonHandle } from '../support/daemon.js';
import { freePort, freePortRun } from '../support/ports.js';

const dataDir = tempDir('rawports');
/** rawPortRange for ironic: three ports. */
let rangeFirst: number;
let d: DaemonHandle;

function start(listen?: string): Promise<DaemonHandle> {
  return startDaemon({ dataDir, listen, env: { SWITCHBOARD_RAW_PORT_RANGE: `${rangeFirst}-${rangeFirst + 2}` } });
}

before(async () => {
  rangeFirst = await freePortRun(3);
  d = await start();
});

/** The error code of a TCP connect to the port, or undefined when it was accepted. */
function connectError(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(undefined);
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code));
  });
}

/** Another program holding a port. */
async function blockPort(port = 0): Promise<net.Server> {
  const srv = net.createServer((s) => s.destroy());
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', resolve);
  });
  return srv;
}

async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

async function createCatNode(name: string, extra: Record<string, unknown> = {}) {
  const res = await api(d, 'POST', '/api/v1/nodes', catNode(name, extra));
  assert.equal(res.status, 201, res.text);
  await d.waitForLog((l) => l.node === name && l.msg === 'session state' && l.state === 'connected', `${name} console up`);
  return res.body;
}

describe('raw console ports', () => {
  test('socat clients type into the console and see its output; they share it and come and go freely', async () => {
    const [port] = await distinctFreePorts(1);
    const created = await createCatNode('raw1', { consolePort: port });
    assert.equal(created.consolePort, port);
    assert.deepEqual(created.rawPort, { port, listening: true });

    const a = await SocatConsole.open(`127.0.0.1:${port}`);
    const b = await SocatConsole.open(`127.0.0.1:${port}`);
    a.type('typed-by-a\r');
    // The pty echoes the line and cat prints it again: both copies reach both clients.
    for (const c of [a, b]) await c.waitFor(/typed-by-a\r\n[^]*typed-by-a\r\n/);
    b.type('typed-by-b\r');
    for (const c of [a, b]) await c.waitFor(/typed-by-b\r\n[^]*typed-by-b\r\n/);

    const before = (await api(d, 'GET', '/api/v1/nodes/raw1')).body;
    assert.equal(before.session.clients, 2);
    assert.deepEqual(await a.close(), { code: 0, signal: null });
    await b.waitForNotice(/raw:\d+@127\.0\.0\.1:\d+ detached/);

    const again = await SocatConsole.open(`127.0.0.1:${port}`);
    again.type('back-again\r');
    for (const c of [again, b]) await c.waitFor(/back-again\r\n[^]*back-again\r\n/);
    assert.ok(!again.output.includes('typed-by-a'), 'a raw client gets no replay: it sees what a serial line would');
    const after = (await api(d, 'GET', '/api/v1/nodes/raw1')).body;
    assert.equal(after.session.info.pid, before.session.info.pid, 'the console session kept running');
    assert.equal(after.session.clients, 2);
    await Promise.all([again.close(), b.close()]);
  });

  test('moving the port, closing it (PATCH null) and deleting the node each tell connected clients and close the port', async () => {
    const [p1, p2] = await distinctFreePorts(2);
    await createCatNode('raw2', { consolePort: p1 });
    const first = await SocatConsole.open(`127.0.0.1:${p1}`);

    const moved = await api(d, 'PATCH', '/api/v1/nodes/raw2', { consolePort: p2 });
    assert.equal(moved.status, 200, moved.text);
    assert.deepEqual(moved.body.rawPort, { port: p2, listening: true });
    await first.waitForNotice(new RegExp(`console port moved from ${p1} to ${p2}`));
    await first.waitClosed();
    assert.equal(await connectError(p1), 'ECONNREFUSED');

    const second = await SocatConsole.open(`127.0.0.1:${p2}`);
    const closed = await api(d, 'PATCH', '/api/v1/nodes/raw2', { consolePort: null });
    assert.equal(closed.status, 200, closed.text);
    assert.equal(closed.body.consolePort, null);
    assert.equal(closed.body.rawPort, null);
    await second.waitForNotice(new RegExp(`console port ${p2} closed`));
    await second.waitClosed();
    assert.equal(await connectError(p2), 'ECONNREFUSED');
    assert.equal(closed.body.session.state, 'connected', 'closing the port leaves the console session running');

    const reopened = await api(d, 'PUT', '/api/v1/nodes/raw2', catNode('raw2', { consolePort: p1 }));
    assert.equal(reopened.status, 200, reopened.text);
    assert.equal((await api(d, 'GET', '/api/v1/nodes/raw2')).body.consolePort, p1, 'the port round-trips through PUT and GET');
    const third = await SocatConsole.open(`127.0.0.1:${p1}`);
    assert.equal((await api(d, 'DELETE', '/api/v1/nodes/raw2')).status, 204);
    await third.waitForNotice(/node deleted/);
    await third.waitClosed();
    assert.equal(await connectError(p1), 'ECONNREFUSED');
  });

  test('disabling the console closes its port; a second node cannot take a port that is held', async () => {
    const [port] = await distinctFreePorts(1);
    await createCatNode('raw3', { consolePort: port });
    const clash = await api(d, 'POST', '/api/v1/nodes', catNode('raw3b', { consolePort: port }));
    assert.equal(clash.status, 409);
    assert.equal(clash.body.error, 'CONSOLE_PORT_TAKEN');
    assert.match(clash.body.message, new RegExp(`${port} is taken by node raw3`));

    const c = await SocatConsole.open(`127.0.0.1:${port}`);
    const disabled = await api(d, 'PATCH', '/api/v1/nodes/raw3', { consoleEnabled: false });
    assert.deepEqual(disabled.body.rawPort, { port, listening: false });
    await c.waitForNotice(/console disabled/);
    await c.waitClosed();
    assert.equal(await connectError(port), 'ECONNREFUSED');
    const enabled = await api(d, 'PATCH', '/api/v1/nodes/raw3', { consoleEnabled: true });
    assert.deepEqual(enabled.body.rawPort, { port, listening: true });
  });

  test('a port another program holds: the node shows why, the daemon carries on, and a later PATCH binds it', async () => {
    const blocker = await blockPort();
    const port = (blocker.address() as net.AddressInfo).port;
    const created = await api(d, 'POST', '/api/v1/nodes', catNode('raw4', { consolePort: port }));
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.rawPort.listening, false);
    assert.match(created.body.rawPort.error, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: in use by another program \\(EADDRINUSE\\)`));
    assert.equal((await api(d, 'GET', '/healthz')).status, 200);
    assert.equal((await api(d, 'GET', '/api/v1/nodes/raw4')).body.rawPort.error, created.body.rawPort.error);
    const shown = await runCli(d, ['node', 'show', 'raw4']);
    assert.match(shown.stdout, new RegExp(`console port +${port} \\(not listening: cannot listen on .*EADDRINUSE`));

    await new Promise((resolve) => blocker.close(resolve));
    const retried = await api(d, 'PATCH', '/api/v1/nodes/raw4', { consolePort: port });
    assert.deepEqual(retried.body.rawPort, { port, listening: true });
    const c = await SocatConsole.open(`127.0.0.1:${port}`);
    await c.close();
  });

  test('CLI: node create --console-port, node show, node edit --console-port / --no-console-port', async () => {
    const [p1, p2] = await distinctFreePorts(2);
    const created = await runCli(d, ['node', 'create', 'cli1', '--driver', 'cmd', '--param', 'cmd=/bin/cat', '--console-port', String(p1)]);
    assert.equal(created.code, 0, created.stderr);
    assert.match((await runCli(d, ['node', 'show', 'cli1'])).stdout, new RegExp(`console port +${p1} \\(listening\\)`));
    const moved = await runCli(d, ['node', 'edit', 'cli1', '--console-port', String(p2)]);
    assert.match(moved.stdout, new RegExp(`console port +${p2} \\(listening\\)`));
    const json = await runCli(d, ['-o', 'json', 'node', 'show', 'cli1']);
    assert.equal(JSON.parse(json.stdout).consolePort, p2);
    const removed = await runCli(d, ['node', 'edit', 'cli1', '--no-console-port']);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /console port +-\n/);
    const bad = await runCli(d, ['node', 'edit', 'cli1', '--console-port', '70000']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--console-port must be a port number 1-65535, got '70000'/);
  });
});

/** An ironic client: the token in X-Auth-Token, nothing else. */
async function ironic(method: string, path: string, body?: unknown, token: string | null = d.token ?? null) {
  const res = await fetch(`${d.url}${path}`, {
    method,
    headers: { ...(token ? { 'x-auth-token': token } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

/** ironic's error body: the fault is JSON inside a JSON string. */
function fault(body: { error_message: string }): { faultstring: string; faultcode: string; debuginfo: null } {
  return JSON.parse(body.error_message);
}

function consoleUrlTarget(info: { type: string; url: string }): string {
  assert.equal(info.type, 'socat');
  assert.match(info.url, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  return info.url.slice('tcp://'.length);
}

describe("ironic's console API", () => {
  test('enable gives the node a raw port from rawPortRange, socat reaches the console there, disable closes it', async () => {
    await createCatNode('ir1');
    assert.deepEqual((await ironic('GET', '/v1/nodes/ir1/states/console')).body, { console_enabled: false, console_info: null });

    const enable = await ironic('PUT', '/v1/nodes/ir1/states/console', { enabled: true });
    assert.equal(enable.status, 202, enable.text);
    assert.equal(enable.text, '');
    assert.equal(enable.headers.get('location'), `${d.url}/v1/nodes/ir1/states/console`);
    const state = (await ironic('GET', '/v1/nodes/ir1/states/console')).body;
    assert.equal(state.console_enabled, true);
    assert.deepEqual(state.console_info, { type: 'socat', url: `tcp://127.0.0.1:${rangeFirst}` });
    assert.equal((await api(d, 'GET', '/api/v1/nodes/ir1')).body.consolePort, rangeFirst, 'the port is stored on the node');

    const c = await SocatConsole.open(consoleUrlTarget(state.console_info));
    c.type('via-ironic-url\r');
    await c.waitFor(/via-ironic-url\r\n[^]*via-ironic-url\r\n/);

    const disable = await ironic('PUT', '/v1/nodes/ir1/states/console', { enabled: false });
    assert.equal(disable.status, 202, disable.text);
    await c.waitForNotice(/console port \d+ closed/);
    await c.waitClosed();
    assert.equal(await connectError(rangeFirst), 'ECONNREFUSED');
    assert.deepEqual((await ironic('GET', '/v1/nodes/ir1/states/console')).body, { console_enabled: false, console_info: null });

    // Booleans as strings, as older ironic clients send them.
    assert.equal((await ironic('PUT', '/v1/nodes/ir1/states/console', { enabled: 'true' })).status, 202);
    const again = (await ironic('GET', '/v1/nodes/ir1/states/console')).body;
    assert.deepEqual(again.console_info, { type: 'socat', url: `tcp://127.0.0.1:${rangeFirst}` });
    assert.equal((await ironic('PUT', '/v1/nodes/ir1/states/console', { enabled: true })).status, 202, 'enabling twice keeps the port');
    assert.equal((await ironic('GET', '/v1/nodes/ir1/states/console')).body.console_info.url, again.console_info.url);
  });

  test('enable skips ports other nodes hold and ports another program holds; an exhausted range is a clear 409', async () => {
    const blocker = await blockPort(rangeFirst + 1); // rangeFirst is ir1's
    try {
      await createCatNode('ir2');
      assert.equal((await ironic('PUT', '/v1/nodes/ir2/states/console', { enabled: true })).status, 202);
      const state = (await ironic('GET', '/v1/nodes/ir2/states/console')).body;
      assert.equal(state.console_info.url, `tcp://127.0.0.1:${rangeFirst + 2}`);

      await createCatNode('ir3');
      const full = await ironic('PUT', '/v1/nodes/ir3/states/console', { enabled: true });
      assert.equal(full.status, 409, full.text);
      assert.deepEqual(fault(full.body), {
        faultstring: `node 'ir3': no free console port in rawPortRange ${rangeFirst}-${rangeFirst + 2}`,
        faultcode: 'Client',
        debuginfo: null,
      });
      const view = (await api(d, 'GET', '/api/v1/nodes/ir3')).body;
      assert.equal(view.consolePort, null, 'a failed enable leaves the node as it was');
      assert.equal(view.rawPort, null);
      assert.deepEqual((await ironic('GET', '/v1/nodes/ir3/states/console')).body, { console_enabled: false, console_info: null });
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  test("errors come in ironic's format: unknown node 404, bad body 400, wrong or missing token 401", async () => {
    const ghost = await ironic('GET', '/v1/nodes/ghost/states/console');
    assert.equal(ghost.status, 404);
    assert.deepEqual(fault(ghost.body), { faultstring: "node 'ghost' does not exist", faultcode: 'Client', debuginfo: null });
    assert.equal((await ironic('PUT', '/v1/nodes/ghost/states/console', { enabled: true })).status, 404);

    for (const body of [{ enabled: 'maybe' }, {}, { enabled: true, extra: 1 }]) {
      const bad = await ironic('PUT', '/v1/nodes/ir1/states/console', body);
      assert.equal(bad.status, 400, JSON.stringify(body));
      assert.match(fault(bad.body).faultstring, /^body/, JSON.stringify(body));
      assert.equal(fault(bad.body).faultcode, 'Client');
    }

    for (const token of ['wrong-token-0123456789abcdef', null]) {
      const denied = await ironic('GET', '/v1/nodes/ir1/states/console', undefined, token);
      assert.equal(denied.status, 401);
      assert.deepEqual(fault(denied.body), { faultstring: 'missing or invalid token', faultcode: 'Client', debuginfo: null });
    }
    // X-Auth-Token serves the rest of the API too.
    assert.equal((await ironic('GET', '/api/v1/nodes/ir1')).status, 200);
  });
});

describe('across a daemon restart', () => {
  test('raw ports and ironic-enabled consoles listen again; connected clients are told the daemon stopped', async () => {
    const [port] = await distinctFreePorts(1);
    await createCatNode('keep1', { consolePort: port });
    // A node asking for the API's own port gets an error, also at the next start, where the API
    // binds first: the daemon still starts.
    const apiPort = Number(new URL(d.url).port);
    const clash = await api(d, 'POST', '/api/v1/nodes', catNode('clash1', { consolePort: apiPort }));
    assert.match(clash.body.rawPort.error, /EADDRINUSE/);
    const c = await SocatConsole.open(`127.0.0.1:${port}`);
    assert.deepEqual(await d.stop(), { code: 0, signal: null });
    await c.waitForNotice(/daemon stopping/);
    await c.waitClosed();

    d = await start(d.listen);
    assert.equal(Number(new URL(d.url).port), apiPort);
    assert.match((await api(d, 'GET', '/api/v1/nodes/clash1')).body.rawPort.error, /EADDRINUSE/);
    for (const name of ['keep1', 'ir1']) {
      await d.waitForLog((l) => l.node === name && l.msg === 'session state' && l.state === 'connected', `${name} console up`);
    }
    const view = (await api(d, 'GET', '/api/v1/nodes/keep1')).body;
    assert.deepEqual(view.rawPort, { port, listening: true });
    const again = await SocatConsole.open(`127.0.0.1:${port}`);
    again.type('after-restart\r');
    await again.waitFor(/after-restart\r\n[^]*after-restart\r\n/);

    const state = (await ironic('GET', '/v1/nodes/ir1/states/console')).body;
    assert.deepEqual(state, { console_enabled: true, console_info: { type: 'socat', url: `tcp://127.0.0.1:${rangeFirst}` } });
    const viaIronic = await SocatConsole.open(consoleUrlTarget(state.console_info));
    viaIronic.type('ironic-after-restart\r');
    await viaIronic.waitFor(/ironic-after-restart\r\n[^]*ironic-after-restart\r\n/);
    await Promise.all([again.close(), viaIronic.close()]);
  });
});
