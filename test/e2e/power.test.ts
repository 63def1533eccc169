// Power and boot device through the real daemon against a real BMC (OpenIPMI ipmi_sim), with the
// native `ipmi` driver and the `ipmitool` fallback; the simulator's chassis files say what happened.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { BMC_PASSWORD, BMC_RO_PASSWORD, BMC_RO_USER, BMC_USER, startBmcSim, waitChassis, type BmcSim } from '../support/bmc-sim.js';
import { cliEnv, PtySession, runCli } from '../support/cli.js';
import { api, BIN, catNode, startDaemon, type DaemonHandle } from '../support/daemon.js';
import { freeUdpPort } from '../support/ports.js';

const run = promisify(execFile);
let bmc: BmcSim;
let d: DaemonHandle;

before(async () => {
  bmc = await startBmcSim();
  d = await startDaemon();
});
after(async () => {
  await Promise.all([d?.stop(), bmc?.stop()]);
});

const bmcParams = (extra: Record<string, unknown> = {}) => ({ host: bmc.host, port: bmc.port, user: BMC_USER, password: BMC_PASSWORD, timeoutMs: 300, ...extra });

async function createPowerNode(name: string, power: Record<string, unknown> | null): Promise<void> {
  const res = await api(d, 'POST', '/api/v1/nodes', catNode(name, { power }));
  assert.equal(res.status, 201, res.text);
}

async function ipmitool(...args: string[]): Promise<string> {
  const { stdout } = await run('ipmitool', ['-I', 'lanplus', '-C', '3', '-H', bmc.host, '-p', String(bmc.port), '-U', BMC_USER, '-P', BMC_PASSWORD, ...args]);
  return stdout;
}

async function powerOf(name: string): Promise<string> {
  const res = await api(d, 'GET', `/api/v1/nodes/${name}/power`);
  assert.equal(res.status, 200, res.text);
  return res.body.power;
}

async function act(name: string, action: string): Promise<void> {
  const res = await api(d, 'POST', `/api/v1/nodes/${name}/power`, { action });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.body, { node: name, action });
}

for (const driver of ['ipmi', 'ipmitool']) {
  describe(`power driver ${driver}`, () => {
    const node = `pw-${driver}`;
    before(() => createPowerNode(node, { driver, params: bmcParams() }));

    test('on, status, off: the BMC follows and ipmitool agrees; the password is never shown', async () => {
      const shown = await api(d, 'GET', `/api/v1/nodes/${node}`);
      assert.deepEqual(shown.body.power, { driver, params: { ...bmcParams(), password: '***' } });

      await act(node, 'on');
      await waitChassis(bmc, 'power on', () => bmc.power() === '1');
      assert.equal(await powerOf(node), 'on');
      assert.match(await ipmitool('chassis', 'power', 'status'), /Chassis Power is on/);

      await act(node, 'off');
      await waitChassis(bmc, 'power off', () => bmc.power() === '0');
      assert.equal(await powerOf(node), 'off');
      assert.match(await ipmitool('chassis', 'power', 'status'), /Chassis Power is off/);
      assert.ok(!JSON.stringify(d.logs).includes(BMC_PASSWORD), 'the BMC password is in the daemon log');
    });

    test('cycle, reset and soft reach the BMC as such', async () => {
      await act(node, 'on');
      await waitChassis(bmc, 'power on', () => bmc.power() === '1');
      const from = bmc.events().length;
      const seen = () => bmc.events().slice(from).map((e) => e.split(' ').slice(1).join(' '));
      await act(node, 'cycle');
      await waitChassis(bmc, 'cycle: off then on', () => {
        const off = seen().indexOf('set power 0');
        return off >= 0 && seen().indexOf('set power 1', off) > off;
      });
      await act(node, 'reset');
      await waitChassis(bmc, 'reset', () => seen().includes('set reset 1'));
      await act(node, 'soft');
      await waitChassis(bmc, 'soft shutdown', () => seen().includes('set shutdown 1'));
    });

    test('boot device pxe, persistent: the BMC has it; then disk for the next boot only', async () => {
      const res = await api(d, 'PUT', `/api/v1/nodes/${node}/boot-device`, { device: 'pxe', persistent: true });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, { node, device: 'pxe', persistent: true, efi: false });
      await waitChassis(bmc, 'boot pxe', () => bmc.boot() === 'pxe');
      const next = await api(d, 'PUT', `/api/v1/nodes/${node}/boot-device`, { device: 'disk' });
      assert.equal(next.status, 200, next.text);
      await waitChassis(bmc, 'boot disk', () => bmc.boot() === 'default');
    });
  });
}

describe('power errors', () => {
  test('wrong password: 502 naming the cause, and the password is not echoed', async () => {
    await createPowerNode('pw-badpass', { driver: 'ipmi', params: bmcParams({ password: 'not-the-password' }) });
    const res = await api(d, 'GET', '/api/v1/nodes/pw-badpass/power');
    assert.equal(res.status, 502, res.text);
    assert.equal(res.body.error, 'POWER_FAILED');
    assert.match(res.body.message, /pw-badpass.*wrong password for user 'admin'/);
    assert.ok(!res.text.includes('not-the-password'));
  });

  test('a user without the privilege: status works, power on is refused with the reason', async () => {
    await createPowerNode('pw-viewer', { driver: 'ipmi', params: bmcParams({ user: BMC_RO_USER, password: BMC_RO_PASSWORD, privilege: 'user' }) });
    assert.match(await powerOf('pw-viewer'), /^(on|off)$/);
    const res = await api(d, 'POST', '/api/v1/nodes/pw-viewer/power', { action: 'on' });
    assert.equal(res.status, 502, res.text);
    assert.match(res.body.message, /Chassis Control up failed: .*privilege/i);
  });

  test('an unreachable BMC: 504 within the timeout, never a hang', async () => {
    const port = await freeUdpPort();
    await createPowerNode('pw-gone', { driver: 'ipmi', params: bmcParams({ port, timeoutMs: 200 }) });
    const started = Date.now();
    const res = await api(d, 'GET', '/api/v1/nodes/pw-gone/power');
    assert.equal(res.status, 504, res.text);
    assert.equal(res.body.error, 'POWER_TIMEOUT');
    assert.match(res.body.message, /no answer to Get Channel Authentication Capabilities after 4 tries/);
    assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
  });

  test('no power config: 409; bad power params are refused when the node is written', async () => {
    await createPowerNode('pw-none', null);
    const res = await api(d, 'POST', '/api/v1/nodes/pw-none/power', { action: 'on' });
    assert.equal(res.status, 409, res.text);
    assert.equal(res.body.error, 'POWER_NOT_CONFIGURED');

    const bad = await api(d, 'POST', '/api/v1/nodes', catNode('pw-bad', { power: { driver: 'ipmi', params: { host: 'h', user: 'u', password: 'p', cipherSuite: 5 } } }));
    assert.equal(bad.status, 400, bad.text);
    assert.equal(bad.body.error, 'BAD_PARAMS');
    assert.match(bad.body.message, /power\.params\.cipherSuite/);
    const unknown = await api(d, 'POST', '/api/v1/nodes', catNode('pw-bad', { power: { driver: 'wol', params: {} } }));
    assert.equal(unknown.body.error, 'UNKNOWN_DRIVER');
    assert.match(unknown.body.message, /unknown power driver 'wol' \(known: ipmi, ipmitool\)/);
    const unshared = await api(d, 'POST', '/api/v1/nodes', catNode('pw-bad', { power: { driver: 'ipmi' } }));
    assert.equal(unshared.status, 400, unshared.text);
    assert.match(unshared.body.message, /power\.params: required with a cmd console/);
    assert.equal((await api(d, 'POST', '/api/v1/nodes/pw-none/power', { action: 'sideways' })).status, 400);
    assert.equal((await api(d, 'PUT', '/api/v1/nodes/pw-none/boot-device', { device: 'floppy' })).status, 400);
  });

  test('the password survives an edit that sends back the masked view', async () => {
    await createPowerNode('pw-edit', { driver: 'ipmi', params: bmcParams() });
    const view = (await api(d, 'GET', '/api/v1/nodes/pw-edit')).body;
    const res = await api(d, 'PUT', '/api/v1/nodes/pw-edit', { driver: view.driver, params: view.params, labels: { rack: 'r9' }, power: view.power });
    assert.equal(res.status, 200, res.text);
    assert.match(await powerOf('pw-edit'), /^(on|off)$/);
  });
});

test('bulk power: each node answers for itself', async () => {
  await createPowerNode('pw-bulk1', { driver: 'ipmi', params: bmcParams() });
  await createPowerNode('pw-bulk2', { driver: 'ipmitool', params: bmcParams() });
  await createPowerNode('pw-bulk3', null);
  const res = await api(d, 'POST', '/api/v1/bulk/power', { names: ['pw-bulk1', 'pw-bulk2', 'pw-bulk3', 'pw-ghost', '../x'], action: 'on' });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.body.done, 2);
  assert.equal(res.body.failed, 3);
  assert.deepEqual(res.body.results.map((r: { status: string; error?: string }) => r.error ?? r.status), ['done', 'done', 'POWER_NOT_CONFIGURED', 'NODE_NOT_FOUND', 'BAD_NODE_NAME']);
  await waitChassis(bmc, 'power on', () => bmc.power() === '1');
  const status = await api(d, 'POST', '/api/v1/bulk/power', { names: ['pw-bulk1', 'pw-bulk2'], action: 'status' });
  assert.deepEqual(status.body.results.map((r: { power: string }) => r.power), ['on', 'on']);
});

describe('known power state in node views', () => {
  test('status calls and actions update it; a failing status says why', async () => {
    await createPowerNode('pw-known', { driver: 'ipmi', params: bmcParams() });
    assert.equal((await api(d, 'GET', '/api/v1/nodes/pw-known')).body.powerState, null, 'nothing known before anyone asked');
    await act('pw-known', 'off');
    assert.equal((await api(d, 'GET', '/api/v1/nodes/pw-known')).body.powerState.state, 'off');
    await act('pw-known', 'on');
    await waitChassis(bmc, 'power on', () => bmc.power() === '1');
    const viewed = (await api(d, 'GET', '/api/v1/nodes/pw-known')).body.powerState;
    assert.equal(viewed.state, 'on');
    assert.ok(Date.parse(viewed.at) <= Date.now());
    await createPowerNode('pw-known-bad', { driver: 'ipmi', params: bmcParams({ password: 'wrong' }) });
    assert.equal((await api(d, 'GET', '/api/v1/nodes/pw-known-bad/power')).status, 502);
    const bad = (await api(d, 'GET', '/api/v1/nodes/pw-known-bad')).body.powerState;
    assert.equal(bad.state, 'unknown');
    assert.match(bad.error, /password|authentication|RAKP/i);
  });

  test('with powerPollSeconds the daemon learns it by itself', async () => {
    const polling = await startDaemon({ env: { SWITCHBOARD_POWER_POLL_SECONDS: '1' } });
    try {
      assert.equal((await api(polling, 'POST', '/api/v1/nodes', catNode('pw-poll', { power: { driver: 'ipmi', params: bmcParams() } }))).status, 201);
      await polling.waitForLog((l) => l.msg === 'power' && l.node === 'pw-poll' && l.action === 'status', 'a status call nobody made');
      assert.match((await api(polling, 'GET', '/api/v1/nodes/pw-poll')).body.powerState.state, /^(on|off)$/);
    } finally {
      await polling.stop();
    }
  });
});

describe('switchboard power / boot-device (CLI)', () => {
  const names = ['cli-p1', 'cli-p2', 'cli-p3', 'cli-p4', 'cli-p5'];
  before(async () => {
    const first = await runCli(d, ['node', 'create', names[0]!, '--driver', 'cmd', '--param', 'cmd=/bin/cat', '--label', 'rack=p',
      '--power', 'ipmi', ...Object.entries(bmcParams()).filter(([k]) => k !== 'password').flatMap(([k, v]) => ['--power-param', `${k}=${v}`]),
      '--power-param', 'password-file=-'], { input: `${BMC_PASSWORD}\n` });
    assert.equal(first.code, 0, first.stderr);
    for (const name of names.slice(1)) await createPowerNode(name, { driver: 'ipmi', params: bmcParams() });
    await api(d, 'PATCH', `/api/v1/nodes/${names[4]}`, { labels: { rack: 'p' } });
    await createPowerNode('cli-nopower', null);
  });

  test('node show lists the power driver with the password masked', async () => {
    const res = await runCli(d, ['node', 'show', names[0]!]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^power\s+ipmi$/m);
    assert.match(res.stdout, /^\s+password\s+\*\*\*$/m);
  });

  test('power on many nodes: a table with one row per node; a failing node makes exit status 1', async () => {
    const on = await runCli(d, ['power', 'on', ...names]);
    assert.equal(on.code, 0, on.stderr);
    for (const n of names) assert.match(on.stdout, new RegExp(`^${n}\\s+on\\s*$`, 'm'));
    assert.match(on.stdout, /5 done, 0 failed/);
    await waitChassis(bmc, 'power on', () => bmc.power() === '1');
    // What the action left known shows on the node.
    assert.match((await runCli(d, ['node', 'show', names[0]!])).stdout, /^ {2}last known +on, \d+s ago$/m);

    const status = await runCli(d, ['power', 'status', '--label', 'rack=p', 'cli-nopower']);
    assert.equal(status.code, 1);
    assert.match(status.stdout, /^cli-p1\s+on\s*$/m);
    assert.match(status.stdout, /^cli-p5\s+on\s*$/m);
    assert.doesNotMatch(status.stdout, /cli-p2/);
    assert.match(status.stdout, /^cli-nopower\s+failed\s+POWER_NOT_CONFIGURED: node 'cli-nopower' has no power control configured/m);
    assert.match(status.stdout, /2 done, 1 failed/);

    const json = await runCli(d, ['-o', 'json', 'power', 'status', names[1]!]);
    assert.deepEqual(JSON.parse(json.stdout), [{ node: names[1], ok: true, result: 'on' }]);
    const bad = await runCli(d, ['power', 'sideways', names[1]!]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /'sideways' is invalid for argument 'action'. Allowed choices are status, on, off, cycle, reset, soft/);
  });

  test('on a terminal, many nodes show a progress bar on the way', async () => {
    const shell = new PtySession(process.execPath, [BIN, 'power', 'off', ...names], cliEnv(d));
    await shell.waitFor(/\d\/5 nodes {2}\d failed/);
    assert.equal(await shell.exit, 0, shell.output);
    assert.match(shell.output, /5 done, 0 failed/);
    await waitChassis(bmc, 'power off', () => bmc.power() === '0');
  });

  test('boot-device NODE pxe --persistent reaches the BMC', async () => {
    await api(d, 'PUT', `/api/v1/nodes/${names[0]}/boot-device`, { device: 'none' });
    const res = await runCli(d, ['boot-device', names[0]!, 'pxe', '--persistent']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^cli-p1\s+pxe \(persistent\)\s*$/m);
    await waitChassis(bmc, 'boot pxe', () => bmc.boot() === 'pxe');
  });
});
