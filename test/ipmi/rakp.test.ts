// Open Session / RAKP message layouts (IPMI v2.0 tables 13-9 to 13-14), chassis request data
// (tables 28-3, 28-14, 20-2), and how refusals map to errors an operator can act on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildBootFlags, parseChassisStatus, parseDeviceId } from '../../src/ipmi/chassis.js';
import { CIPHER_SUITES } from '../../src/ipmi/constants.js';
import { buildOpenSessionRequest, buildRakp1, buildRakp3, handshakeError, parseOpenSessionResponse, parseRakp2, parseRakp4 } from '../../src/ipmi/rakp.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('Open Session request proposes the suite\'s algorithms (table 13-9)', () => {
  assert.deepEqual(
    buildOpenSessionRequest({ tag: 7, privilege: 4, consoleSessionId: 0x11223344, suite: CIPHER_SUITES[17]! }),
    hex('07 04 0000 44332211  00 0000 08 03 000000  01 0000 08 04 000000  02 0000 08 01 000000'),
  );
  assert.deepEqual(buildOpenSessionRequest({ tag: 0, privilege: 3, consoleSessionId: 1, suite: CIPHER_SUITES[3]! }).subarray(8).toString('hex'), '000000080100000001000008010000000200000801000000');
});

test('Open Session response: accepted and refused (table 13-10)', () => {
  const ok = parseOpenSessionResponse(hex('07 00 04 00 44332211 88776655 00000008 01000000 01000008 01000000 02000008 01000000'));
  assert.deepEqual(ok, { tag: 7, status: 0, privilege: 4, consoleSessionId: 0x11223344, bmcSessionId: 0x55667788, auth: 1, integrity: 1, confidentiality: 1 });
  assert.equal(parseOpenSessionResponse(hex('07 11 00 00 44332211')).status, 0x11);
  // ipmi_sim's answer to suite 17: tag and status only.
  assert.equal(parseOpenSessionResponse(hex('0104')).status, 0x04);
});

test('RAKP 1 carries Rm, the role byte and the user name (table 13-11)', () => {
  const rm = Buffer.alloc(16, 0xab);
  assert.deepEqual(
    buildRakp1({ tag: 7, bmcSessionId: 0x55667788, rm, role: 0x14, user: Buffer.from('admin') }),
    Buffer.concat([hex('07 000000 88776655'), rm, hex('14 0000 05'), Buffer.from('admin')]),
  );
});

test('RAKP 2, 3, 4 layouts (tables 13-12 to 13-14)', () => {
  const r2 = parseRakp2(Buffer.concat([hex('07 00 0000 44332211'), Buffer.alloc(16, 1), Buffer.alloc(16, 2), Buffer.alloc(20, 3)]));
  assert.deepEqual([r2.status, r2.consoleSessionId, r2.rc[0], r2.guid[0], r2.authCode.length], [0, 0x11223344, 1, 2, 20]);
  assert.equal(parseRakp2(hex('07 0d 0000 44332211')).status, 0x0d);
  assert.deepEqual(buildRakp3({ tag: 7, status: 0, bmcSessionId: 0x55667788, authCode: hex('aabb') }), hex('07 00 0000 88776655 aabb'));
  assert.deepEqual(buildRakp3({ tag: 7, status: 0x0f, bmcSessionId: 0x55667788, authCode: hex('aabb') }), hex('07 0f 0000 88776655'));
  assert.deepEqual(parseRakp4(hex('07 00 0000 44332211 0102')).icv, hex('0102'));
});

test('refusals map to wrong user / wrong password / unsupported cipher suite / privilege', () => {
  const base = { bmc: 'bmc1:623', step: 'RAKP 2', user: 'admin', suite: 17, privilege: 'administrator' };
  const code = (status: number) => handshakeError({ ...base, status }).code;
  assert.equal(code(0x0d), 'IPMI_AUTH_UNKNOWN_USER');
  assert.equal(code(0x0f), 'IPMI_AUTH_WRONG_PASSWORD');
  for (const s of [0x04, 0x05, 0x10, 0x11]) assert.equal(code(s), 'IPMI_CIPHER_SUITE_UNSUPPORTED');
  assert.equal(code(0x09), 'IPMI_AUTH_PRIVILEGE');
  assert.match(handshakeError({ ...base, status: 0x11 }).message, /bmc1:623: the BMC does not support cipher suite 17 \(no cipher suite match/);
  assert.match(handshakeError({ ...base, status: 0x01 }).message, /RAKP 2 refused: insufficient resources to create a session \(0x01\)/);
});

test('boot flags: device, persistent and EFI bits (table 28-14, parameter 5)', () => {
  assert.deepEqual(buildBootFlags('pxe'), hex('05 80 04 000000'));
  assert.deepEqual(buildBootFlags('disk', { persistent: true }), hex('05 c0 08 000000'));
  assert.deepEqual(buildBootFlags('cdrom', { efi: true }), hex('05 a0 14 000000'));
  assert.deepEqual(buildBootFlags('bios', { persistent: true, efi: true }), hex('05 e0 18 000000'));
  assert.deepEqual(buildBootFlags('none'), hex('05 80 00 000000'));
  assert.throws(() => buildBootFlags('floppy' as 'pxe'), /unknown boot device 'floppy'/);
});

test('Get Chassis Status and Get Device ID responses (tables 28-3, 20-2)', () => {
  assert.equal(parseChassisStatus(hex('01 00 40')).power, 'on');
  assert.equal(parseChassisStatus(hex('00 00 40')).power, 'off');
  const id = parseDeviceId(hex('00 03 09 08 02 9f 91 12 00 02 0f'));
  assert.deepEqual(id, { deviceId: 0, deviceRevision: 3, firmwareRevision: '9.08', ipmiVersion: '2.0', manufacturerId: 0x1291, productId: 0x0f02, deviceAvailable: true });
});
