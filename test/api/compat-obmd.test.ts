import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bmcAddress, obmdNodeSpec } from '../../src/api/compat-obmd.js';

test("OBMd's addr: a host as ipmitool -H takes it, or host:port", () => {
  assert.deepEqual(bmcAddress('10.0.0.4'), { host: '10.0.0.4' });
  assert.deepEqual(bmcAddress('bmc-r1n1.example.net'), { host: 'bmc-r1n1.example.net' });
  assert.deepEqual(bmcAddress('10.0.0.4:6230'), { host: '10.0.0.4', port: 6230 });
  assert.deepEqual(bmcAddress('fe80::1'), { host: 'fe80::1' });
  assert.deepEqual(bmcAddress('[fe80::1]:623'), { host: 'fe80::1', port: 623 });
});

test('an OBMd registration is an on-demand ipmi-sol node with ipmi power on the same BMC', () => {
  assert.deepEqual(obmdNodeSpec('n1', { addr: '10.0.0.4', user: 'ipmiuser', pass: 'ipmipass' }), {
    name: 'n1',
    driver: 'ipmi-sol',
    params: { host: '10.0.0.4', user: 'ipmiuser', password: 'ipmipass' },
    ondemand: true,
    labels: { obmd: 'true' },
    power: { driver: 'ipmi' },
  });
});
