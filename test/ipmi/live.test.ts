// The native RMCP+ library against a real BMC (OpenIPMI ipmi_sim, cipher suite 3), cross-checked
// with `ipmitool -I lanplus -C 3` against the same simulator.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { chassisControl, getDeviceId, getPowerState, IpmiSession, setBootDevice, type IpmiSessionOptions } from '../../src/ipmi/index.js';
import { BMC_PASSWORD, BMC_USER, startBmcSim, waitChassis, type BmcSim } from '../support/bmc-sim.js';

const run = promisify(execFile);
let bmc: BmcSim;
let admin: IpmiSession;

before(async () => {
  bmc = await startBmcSim();
  admin = await IpmiSession.open(opts());
});
after(async () => {
  await admin?.close();
  await bmc?.stop();
});

function opts(extra: Partial<IpmiSessionOptions> = {}): IpmiSessionOptions {
  return { host: bmc.host, port: bmc.port, user: BMC_USER, password: BMC_PASSWORD, cipherSuite: 3, privilege: 'administrator', timeoutMs: 500, retries: 2, ...extra };
}

async function ipmitool(...args: string[]): Promise<string> {
  const { stdout } = await run('ipmitool', ['-I', 'lanplus', '-C', '3', '-H', bmc.host, '-p', String(bmc.port), '-U', BMC_USER, '-P', BMC_PASSWORD, ...args]);
  return stdout;
}

test('Get Device ID over a suite 3 administrator session agrees with ipmitool mc info', async () => {
  const id = await getDeviceId(admin);
  assert.equal(id.ipmiVersion, '2.0');
  const info = await ipmitool('mc', 'info');
  assert.match(info, new RegExp(`Firmware Revision\\s*:\\s*${id.firmwareRevision.replace('.', '\\.')}`));
  assert.match(info, new RegExp(`Manufacturer ID\\s*:\\s*${id.manufacturerId}\\b`));
  assert.match(info, new RegExp(`Product ID\\s*:\\s*${id.productId}\\b`));
  assert.match(info, /IPMI Version\s*:\s*2\.0/);
});

test('power status, on, off: the simulator\'s power file and events follow; ipmitool agrees', async () => {
  assert.equal(await getPowerState(admin), bmc.power() === '1' ? 'on' : 'off');
  await chassisControl(admin, 'up');
  await waitChassis(bmc, 'power on', () => bmc.power() === '1');
  assert.ok(bmc.events().some((e) => e.endsWith('set power 1')));
  assert.equal(await getPowerState(admin), 'on');
  assert.match(await ipmitool('chassis', 'power', 'status'), /Chassis Power is on/);

  await chassisControl(admin, 'down');
  await waitChassis(bmc, 'power off', () => bmc.power() === '0');
  assert.equal(await getPowerState(admin), 'off');
  assert.match(await ipmitool('chassis', 'power', 'status'), /Chassis Power is off/);
});

test('power cycle from on: off, then on again (seen in events.log)', async () => {
  await chassisControl(admin, 'up');
  await waitChassis(bmc, 'power on', () => bmc.power() === '1');
  const from = bmc.events().length;
  await chassisControl(admin, 'cycle');
  await waitChassis(bmc, 'cycle: off then on', () => {
    const lines = bmc.events().slice(from).map((e) => e.split(' ').slice(1).join(' '));
    const off = lines.indexOf('set power 0');
    return off >= 0 && lines.indexOf('set power 1', off) > off && bmc.power() === '1';
  });
  assert.equal(await getPowerState(admin), 'on');
});

test('an OPERATOR session may control power', async () => {
  const op = await IpmiSession.open(opts({ privilege: 'operator' }));
  try {
    await chassisControl(op, 'down');
    await waitChassis(bmc, 'power off', () => bmc.power() === '0');
    assert.equal(await getPowerState(op), 'off');
  } finally {
    await op.close();
  }
});

test('boot device pxe reaches the simulator\'s chassis/boot', async () => {
  await setBootDevice(admin, 'pxe', { persistent: true });
  await waitChassis(bmc, 'boot pxe', () => bmc.boot() === 'pxe');
  assert.ok(bmc.events().some((e) => e.endsWith('set boot pxe')));
});

test('wrong password: a clear authentication error, not a timeout', async () => {
  await assert.rejects(IpmiSession.open(opts({ password: 'not-the-password' })), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'IPMI_AUTH_WRONG_PASSWORD');
    assert.match(err.message, new RegExp(`${bmc.port}: authentication failed: wrong password for user 'admin'`));
    return true;
  });
});

test('unknown user: a clear authentication error naming the user', async () => {
  await assert.rejects(IpmiSession.open(opts({ user: 'ghost' })), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'IPMI_AUTH_UNKNOWN_USER');
    assert.match(err.message, /authentication failed: the BMC does not know user 'ghost'/);
    return true;
  });
});

test('unsupported cipher suite 17 is reported as such by this BMC', async () => {
  await assert.rejects(IpmiSession.open(opts({ cipherSuite: 17 })), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'IPMI_CIPHER_SUITE_UNSUPPORTED', err.message);
    return true;
  });
});

test('no BMC on the port: an error within the timeout, never a hang', async () => {
  const started = Date.now();
  await assert.rejects(IpmiSession.open(opts({ port: 9, timeoutMs: 200, retries: 1 })), { code: 'IPMI_TIMEOUT' });
  assert.ok(Date.now() - started < 2000);
});
