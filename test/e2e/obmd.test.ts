// OBMd's API (github.com/CCI-MOC/obmd) as its clients use it: admin calls with HTTP Basic
// `admin:<admin token>`, node calls with `?token=`, the paths and bodies of OBMd's README sent as
// HIL sends them (JSON with no content type), against a real BMC (ipmi_sim) whose serial line the
// test plays.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BMC_PASSWORD, BMC_USER, startBmcSim, waitChassis, type BmcSim } from '../support/bmc-sim.js';
import { runCli } from '../support/cli.js';
import { Transcript } from '../support/console-clients.js';
import { api, BIN, startDaemon, tempDir, TOKEN, type DaemonHandle } from '../support/daemon.js';
import { freePort } from '../support/ports.js';
import { exited, spawnTracked } from '../support/processes.js';

let bmc: BmcSim;
let d: DaemonHandle;

before(async () => {
  bmc = await startBmcSim({ serial: true });
  d = await startDaemon({ args: ['--obmd-compat'] });
});
after(async () => {
  await Promise.all([d?.stop(), bmc?.stop()]);
});

interface Reply {
  status: number;
  text: string;
  body: any;
  headers: Headers;
}

const basic = (token: string) => `Basic ${Buffer.from(`admin:${token}`).toString('base64')}`;

/** One call as python-requests' `data=json.dumps(...)` makes it: a JSON body and no content type. */
async function call(url: string, method: string, opts: { auth?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Reply> {
  const body = opts.body === undefined ? undefined : Buffer.from(typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body));
  const res = await fetch(url, { method, body, headers: { ...(opts.auth ? { authorization: opts.auth } : {}), ...opts.headers } });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch { /* not JSON */ }
  return { status: res.status, text, body: parsed, headers: res.headers };
}

/** An admin operation: HTTP Basic, user admin, the admin token as password. */
function admin(method: string, route: string, body?: unknown, on: DaemonHandle = d, token = TOKEN): Promise<Reply> {
  return call(`${on.url}${route}`, method, { auth: basic(token), body });
}

/** A node operation: the node's token in the query string. */
function withToken(method: string, route: string, token: string, body?: unknown): Promise<Reply> {
  return call(`${d.url}${route}?token=${encodeURIComponent(token)}`, method, { body });
}

const ipmiInfo = (extra: Record<string, unknown> = {}) => ({ type: 'ipmi', info: { addr: `${bmc.host}:${bmc.port}`, user: BMC_USER, pass: BMC_PASSWORD, ...extra } });

async function register(node: string): Promise<void> {
  const res = await admin('PUT', `/node/${node}`, ipmiInfo());
  assert.equal(res.status, 200, res.text);
  assert.equal(res.text, '');
}

async function newToken(node: string): Promise<string> {
  const res = await admin('POST', `/node/${node}/token`);
  assert.equal(res.status, 200, res.text);
  assert.match(res.body.token, /^[0-9a-f]{32}$/);
  return res.body.token;
}

async function ok(res: Promise<Reply>): Promise<void> {
  const r = await res;
  assert.equal(r.status, 200, r.text);
  assert.equal(r.text, '');
}

/** GET /node/{id}/console: the response body is the console's output, for as long as it lasts. */
class HttpConsole extends Transcript {
  status = 0;
  contentType: string | null = null;
  private readonly abort = new AbortController();

  static async open(node: string, token: string): Promise<HttpConsole> {
    const c = new HttpConsole();
    const res = await fetch(`${d.url}/node/${node}/console?token=${token}`, { signal: c.abort.signal });
    c.status = res.status;
    c.contentType = res.headers.get('content-type');
    void c.read(res.body!);
    return c;
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    try {
      for await (const chunk of body) {
        this.output += Buffer.from(chunk).toString('latin1');
        this.changed();
      }
    } catch { /* aborted */ }
    this.closed = true;
    this.changed();
  }

  close(): void {
    this.abort.abort();
  }
}

const connected = (node: string, since: number) =>
  d.waitForLog((l) => l.node === node && l.msg === 'session state' && l.state === 'connected' && d.logs.indexOf(l) >= since, `${node} connected`, 20_000);

describe('OBMd API against a BMC', () => {
  test('register, token, console stream, power and boot device, as HIL drives OBMd', async () => {
    await register('obmd1');
    const again = await admin('PUT', '/node/obmd1', ipmiInfo());
    assert.equal(again.status, 409, again.text);
    assert.equal(again.body.error, 'NODE_EXISTS');
    const token = await newToken('obmd1');

    const mark = d.logs.length;
    const consoleStream = await HttpConsole.open('obmd1', token);
    assert.equal(consoleStream.status, 200);
    assert.equal(consoleStream.contentType, 'application/octet-stream');
    await connected('obmd1', mark); // on demand: SOL opens for the first viewer
    bmc.serial!.write('obmd: hello from ttyS0\r\n');
    await consoleStream.waitFor('obmd: hello from ttyS0\r\n');
    assert.doesNotMatch(consoleStream.output, /attached/, 'Switchboard notices are not console output');

    await ok(withToken('POST', '/node/obmd1/power_on', token));
    await waitChassis(bmc, 'power on', () => bmc.power() === '1');
    assert.deepEqual((await withToken('GET', '/node/obmd1/power_status', token)).body, { power_status: 'on' });

    const from = bmc.events().length;
    const seen = () => bmc.events().slice(from).map((e) => e.split(' ').slice(1).join(' '));
    await ok(withToken('POST', '/node/obmd1/power_cycle', token, { force: false }));
    await waitChassis(bmc, 'cycle: off, then on', () => {
      const off = seen().indexOf('set power 0');
      return off >= 0 && seen().indexOf('set power 1', off) > off;
    });
    await ok(withToken('POST', '/node/obmd1/power_cycle', token, { force: true }));
    await waitChassis(bmc, 'hard reset', () => seen().includes('set reset 1'));

    await ok(withToken('POST', '/node/obmd1/power_off', token));
    await waitChassis(bmc, 'power off', () => bmc.power() === '0');
    assert.deepEqual((await withToken('GET', '/node/obmd1/power_status', token)).body, { power_status: 'off' });
    // "If the node is powered off, this will turn it on."
    const offFrom = seen().length;
    await ok(withToken('POST', '/node/obmd1/power_cycle', token, { force: true }));
    await waitChassis(bmc, 'on again', () => bmc.power() === '1');
    assert.deepEqual(seen().slice(offFrom), ['set power 1']);
    await ok(withToken('POST', '/node/obmd1/power_off', token));
    await waitChassis(bmc, 'power off', () => bmc.power() === '0');

    await ok(withToken('PUT', '/node/obmd1/boot_device', token, { bootdev: 'pxe' }));
    // ipmi_sim keeps the device only, not the persistent flag (ipmitool bootparam shows it cleared).
    await waitChassis(bmc, 'boot pxe', () => bmc.boot() === 'pxe');
    await ok(withToken('PUT', '/node/obmd1/boot_device', token, { bootdev: 'disk' }));
    await waitChassis(bmc, 'boot disk', () => bmc.boot() === 'default');
    const floppy = await withToken('PUT', '/node/obmd1/boot_device', token, { bootdev: 'floppy' });
    assert.equal(floppy.status, 400, floppy.text);
    assert.match(floppy.body.message, /body\.bootdev: must be one of pxe, disk, none/);

    assert.ok(!consoleStream.closed, 'the console stream ended by itself');
    consoleStream.close();
    assert.ok(!d.rawOutput.some((l) => l.includes(token) || l.includes(BMC_PASSWORD)), 'a token or the BMC password is in the daemon output');
  });

  test('a new token replaces the old one: the old is refused and its console stream ends; DELETE token revokes', async () => {
    const first = await newToken('obmd1');
    const stream = await HttpConsole.open('obmd1', first);
    assert.equal(stream.status, 200);
    const second = await newToken('obmd1');
    await stream.waitClosed();
    const old = await withToken('GET', '/node/obmd1/power_status', first);
    assert.equal(old.status, 401, old.text);
    assert.equal(old.body.error, 'UNAUTHORIZED');
    assert.equal((await withToken('GET', '/node/obmd1/power_status', second)).status, 200);
    assert.equal((await HttpConsole.open('obmd1', first)).status, 401);

    await ok(admin('DELETE', '/node/obmd1/token'));
    assert.equal((await withToken('GET', '/node/obmd1/power_status', second)).status, 401);
    assert.equal((await withToken('POST', '/node/obmd1/power_on', second)).status, 401);
    await ok(admin('DELETE', '/node/obmd1/token')); // no token left: still 200
    assert.equal((await admin('DELETE', '/node/ghost/token')).status, 404);
    assert.equal((await admin('POST', '/node/ghost/token')).status, 404);
  });

  test("a token opens only its own node, with its own rights: anything else is 401, as OBMd answers", async () => {
    await register('obmd2');
    const other = await newToken('obmd2');
    const foreign = await withToken('POST', '/node/obmd1/power_on', other);
    assert.equal(foreign.status, 401, foreign.text);
    assert.match(foreign.body.message, /another node/);
    assert.equal((await HttpConsole.open('obmd1', other)).status, 401);

    // A Switchboard token with only console rights may watch but not power.
    const scoped = await api(d, 'POST', '/api/v1/tokens', { node: 'obmd1', rights: ['console:ro'] });
    assert.equal(scoped.status, 201, scoped.text);
    const noPower = await withToken('GET', '/node/obmd1/power_status', scoped.body.token);
    assert.equal(noPower.status, 401, noPower.text);
    assert.match(noPower.body.message, /does not grant power/);
    const watching = await HttpConsole.open('obmd1', scoped.body.token);
    assert.equal(watching.status, 200);
    watching.close();

    // ... and an OBMd token works on Switchboard's own API, within its node and rights.
    const own = await api(d, 'GET', '/api/v1/nodes/obmd2/power', undefined, { authorization: `Bearer ${other}` });
    assert.equal(own.status, 200, own.text);

    for (const bad of ['', '0'.repeat(32), 'not-a-token']) {
      assert.equal((await withToken('GET', '/node/obmd1/power_status', bad)).status, 401, `token '${bad}'`);
    }
    assert.equal((await call(`${d.url}/node/obmd1/power_status`, 'GET')).status, 401);
    // Admin calls take the admin token only: not a node token, not a wrong one.
    assert.equal((await admin('POST', '/node/obmd2/token', undefined, d, other)).status, 401);
    assert.equal((await call(`${d.url}/node/obmd2/token?token=${other}`, 'POST')).status, 401);
    assert.equal((await admin('DELETE', '/node/obmd2', undefined, d, 'wrong-admin-token-0123456789')).status, 401);
  });

  test('nodes made through OBMd are ordinary nodes; deleting one ends its stream and its token', async () => {
    const shown = await api(d, 'GET', '/api/v1/nodes/obmd1');
    assert.equal(shown.status, 200, shown.text);
    assert.deepEqual(
      { driver: shown.body.driver, params: shown.body.params, ondemand: shown.body.ondemand, labels: shown.body.labels, power: shown.body.power },
      { driver: 'ipmi-sol', params: { host: bmc.host, port: bmc.port, user: BMC_USER, password: '***' }, ondemand: true, labels: { obmd: 'true' }, power: { driver: 'ipmi' } },
    );
    const listed = await api(d, 'GET', '/api/v1/nodes?label=obmd=true');
    assert.deepEqual(listed.body.nodes.map((n: { name: string }) => n.name).sort(), ['obmd1', 'obmd2']);
    const cli = await runCli(d, ['node', 'list']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /^obmd1\s+ipmi-sol\s/m);
    assert.match(cli.stdout, /^obmd2\s+ipmi-sol\s/m);

    const token = await newToken('obmd2');
    const stream = await HttpConsole.open('obmd2', token);
    assert.equal(stream.status, 200);
    await ok(admin('DELETE', '/node/obmd2'));
    await stream.waitClosed();
    assert.equal((await withToken('GET', '/node/obmd2/power_status', token)).status, 401);
    assert.equal((await api(d, 'GET', '/api/v1/nodes/obmd2')).status, 404);
    assert.equal((await admin('DELETE', '/node/obmd2')).status, 404);
    assert.equal((await admin('POST', '/node/obmd2/token')).status, 404);
  });

  test('bad input: names, types, bodies, sizes and content types; nothing is created', async () => {
    const before = (await api(d, 'GET', '/api/v1/nodes')).body.nodes.length;
    for (const id of ['..%2F..%2Fetc', '..%2F', '-dash', 'a'.repeat(64), 'x'.repeat(5000), 'a%20b']) {
      const res = await admin('PUT', `/node/${id}`, ipmiInfo());
      assert.equal(res.status, 400, `${id.slice(0, 20)}: ${res.text}`);
      assert.equal(res.body.error, 'BAD_NODE_NAME');
      assert.ok(res.text.length < 400, 'a long name is echoed back');
      assert.equal((await admin('DELETE', `/node/${id}`)).status, 400);
    }
    const unknownType = await admin('PUT', '/node/obmd3', { type: 'mock', info: { addr: '10.0.0.4', NumWrites: 0 } });
    assert.equal(unknownType.status, 400, unknownType.text);
    assert.match(unknownType.body.message, /unknown OBM driver 'mock' \(known: ipmi\)/);
    const noPass = await admin('PUT', '/node/obmd3', { type: 'ipmi', info: { addr: '10.0.0.4', user: 'u' } });
    assert.equal(noPass.status, 400, noPass.text);
    assert.match(noPass.body.message, /body\.info\.pass/);
    const longPass = await admin('PUT', '/node/obmd3', ipmiInfo({ pass: 'p'.repeat(21) }));
    assert.equal(longPass.status, 400, longPass.text);
    assert.ok(!longPass.text.includes('p'.repeat(21)), 'the password is echoed back');
    const badPort = await admin('PUT', '/node/obmd3', ipmiInfo({ addr: '10.0.0.4:99999' }));
    assert.equal(badPort.status, 400, badPort.text);
    assert.equal((await admin('PUT', '/node/obmd3', '{"type": "ipmi", ')).body.error, 'BAD_JSON');
    assert.equal((await admin('PUT', '/node/obmd3')).status, 400);

    const huge = await admin('PUT', '/node/obmd3', ipmiInfo({ pad: 'x'.repeat(20_000) }));
    assert.equal(huge.status, 413, huge.text);
    for (const type of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded']) {
      const res = await call(`${d.url}/node/obmd3`, 'PUT', { auth: basic(TOKEN), body: ipmiInfo(), headers: { 'content-type': type } });
      assert.equal(res.status, 415, `${type}: ${res.text}`);
      assert.equal(res.body.error, 'UNSUPPORTED_MEDIA_TYPE');
    }
    assert.equal((await api(d, 'GET', '/api/v1/nodes')).body.nodes.length, before);

    // Declared JSON works as well as no type at all.
    const json = await call(`${d.url}/node/obmd3`, 'PUT', { auth: basic(TOKEN), body: ipmiInfo(), headers: { 'content-type': 'application/json' } });
    assert.equal(json.status, 200, json.text);
    const token = await newToken('obmd3');
    assert.equal((await withToken('POST', '/node/obmd3/power_cycle', token)).status, 400, 'power_cycle needs its body');
    assert.equal((await withToken('POST', '/node/obmd3/power_cycle', token, { force: 'yes' })).status, 400);
    const traversal = await withToken('GET', '/node/..%2Fobmd3/power_status', token);
    assert.equal(traversal.status, 401, traversal.text);
  });
});

describe("OBMd's environment", () => {
  test('LISTEN_ADDR, ADMIN_TOKEN, DB_TYPE=sqlite3 and DB_PATH configure the daemon', async () => {
    const port = await freePort();
    const dir = tempDir('obmd-env');
    const adminToken = '44d5ebcb1aae23bfefc8dca8314797eb';
    const dbPath = path.join(dir, 'state', 'obmd.db');
    const e = await startDaemon({
      listen: null,
      token: null,
      env: { SWITCHBOARD_OBMD_COMPAT: 'true', LISTEN_ADDR: `127.0.0.1:${port}`, ADMIN_TOKEN: adminToken, DB_TYPE: 'sqlite3', DB_PATH: dbPath },
    });
    try {
      assert.equal(e.url, `http://127.0.0.1:${port}`);
      assert.ok(existsSync(dbPath), 'the database is not at DB_PATH');
      assert.ok(!existsSync(path.join(e.dataDir, 'switchboard.db')));
      assert.ok(!existsSync(path.join(e.dataDir, 'admin-token')), 'an admin token was generated');
      const res = await admin('PUT', '/node/env1', ipmiInfo(), e, adminToken);
      assert.equal(res.status, 200, res.text);
      assert.equal((await admin('POST', '/node/env1/token', undefined, e, adminToken)).status, 200);
    } finally {
      await e.stop();
    }
  });

  test('DB_TYPE=postgres: a clear error and a non-zero exit', async () => {
    const proc = spawnTracked(process.execPath, [BIN, 'serve', '--obmd-compat', '--listen', '127.0.0.1:0', '--console-port', '0', '--data-dir', tempDir('obmd-pg')], {
      env: { ...process.env, DB_TYPE: 'postgres', DB_PATH: 'host=db user=obmd password=s3cret dbname=obmd' },
    });
    let stderr = '';
    proc.stderr!.on('data', (c: Buffer) => (stderr += c));
    const { code } = await exited(proc);
    assert.equal(code, 1);
    assert.match(stderr, /CONFIG: configuration: DB_TYPE=postgres: PostgreSQL support arrives with the cluster work; use DB_TYPE=sqlite3/);
    assert.doesNotMatch(stderr, /s3cret/);
  });

  test('without --obmd-compat: no /node routes, and OBMd variables are not read', async () => {
    const plain = await startDaemon({ env: { DB_TYPE: 'postgres', LISTEN_ADDR: ':1' } });
    try {
      const res = await admin('PUT', '/node/plain1', ipmiInfo(), plain);
      assert.equal(res.status, 404, res.text);
      assert.equal((await admin('POST', '/node/plain1/token', undefined, plain)).status, 404);
      assert.equal((await api(plain, 'GET', '/api/v1/nodes')).body.nodes.length, 0);
    } finally {
      await plain.stop();
    }
  });
});
