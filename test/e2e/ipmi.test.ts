// A BMC's serial console and power through the real daemon: an ipmi-sol node against ipmi_sim
// whose serial line the test plays, with its power driver sharing the console's params.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { BMC_PASSWORD, BMC_USER, IpmitoolSol, startBmcSim, type BmcSim } from '../support/bmc-sim.js';
import { WsConsole } from '../support/console-clients.js';
import { api, startDaemon, type DaemonHandle } from '../support/daemon.js';
import { exited } from '../support/processes.js';

let bmc: BmcSim;
let d: DaemonHandle;

before(async () => {
  // One at a time, so that whatever started is stopped after a failure.
  bmc = await startBmcSim({ serial: true });
  d = await startDaemon();
});
after(async () => {
  await Promise.all([d?.stop(), bmc?.stop()]);
});

const state = (want: string) => d.waitForLog((l) => l.node === 'bmc1' && l.msg === 'session state' && l.state === want && d.logs.indexOf(l) >= mark, `bmc1 ${want}`, 20_000);
let mark = 0;

test('SOL output reaches every attached client; keys and BREAK reach the serial line; power shares the params', async () => {
  const res = await api(d, 'POST', '/api/v1/nodes', {
    name: 'bmc1',
    driver: 'ipmi-sol',
    params: { host: bmc.host, port: bmc.port, user: BMC_USER, password: BMC_PASSWORD, timeoutMs: 300, keepaliveMs: 500 },
    power: { driver: 'ipmi' },
  });
  assert.equal(res.status, 201, res.text);
  assert.deepEqual(res.body.power, { driver: 'ipmi' });
  assert.equal(res.body.params.password, '***');
  await state('connected');

  const rw = await WsConsole.open(d, 'bmc1');
  const spy = await WsConsole.open(d, 'bmc1', { mode: 'ro' });
  bmc.serial!.write('kernel: hello from ttyS0\r\n');
  await rw.waitFor('kernel: hello from ttyS0\r\n');
  await spy.waitFor('kernel: hello from ttyS0\r\n');

  rw.type('root\r');
  await bmc.serial!.waitReceived('root\r');
  spy.type('ignored-from-spy\r');
  const breaks = bmc.serial!.breaks;
  rw.type('\x05cl0'); // Ctrl-E c l0: the console's BREAK
  rw.type('after-break\r'); // ipmi_sim sends a BREAK on with the next characters
  await bmc.serial!.waitReceived('after-break\r');
  assert.equal(bmc.serial!.breaks, breaks + 1);
  assert.ok(!bmc.serial!.received.includes('ignored-from-spy'), 'a read-only client typed into the console');

  assert.equal((await api(d, 'POST', '/api/v1/nodes/bmc1/power', { action: 'on' })).status, 200);
  assert.deepEqual((await api(d, 'GET', '/api/v1/nodes/bmc1/power')).body, { node: 'bmc1', power: 'on' });
  rw.close();
  spy.close();
});

test('the BMC killed and started again mid-SOL: the console comes back by itself', async () => {
  const c = await WsConsole.open(d, 'bmc1');
  mark = d.logs.length;
  await bmc.crash();
  await c.waitForNotice(/console (down|failed): .*reconnecting/);
  await bmc.restart();
  await state('connected');
  bmc.serial!.write('login: back after the BMC restart\r\n');
  await c.waitFor('login: back after the BMC restart');
  c.close();
});

test('the daemon stops: SOL is deactivated at once (ipmitool can activate it), and the log has it all', async () => {
  assert.deepEqual(await d.stop(), { code: 0, signal: null });
  const ipmitool = new IpmitoolSol(bmc);
  await ipmitool.operational();
  ipmitool.type('\r~.');
  await exited(ipmitool.proc);
  const log = readFileSync(path.join(d.dataDir, 'logs', 'bmc1.log'), 'latin1');
  assert.match(log, /kernel: hello from ttyS0\r\n/);
  assert.match(log, /login: back after the BMC restart/);
  assert.ok(!log.includes(BMC_PASSWORD));
});
