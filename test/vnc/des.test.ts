// DES and VNC Authentication against vectors computed elsewhere: the FIPS 46 worked example,
// noVNC's own DES, and TigerVNC's `vncpasswd -f` (whose file format is DES under a fixed key).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { desEncryptBlock, vncAuthResponse } from '../../src/vnc/des.js';
import { obfuscateVncPassword } from '../support/xvnc.js';

const hex = (s: string) => Buffer.from(s, 'hex');

test('DES: the classic worked example (key 133457799BBCDFF1)', () => {
  assert.equal(desEncryptBlock(hex('133457799bbcdff1'), hex('0123456789abcdef')).toString('hex'), '85e813540f0ab405');
});

test('DES: NBS validation vectors (key 0101..01, variable plaintext)', () => {
  const key = hex('0101010101010101');
  assert.equal(desEncryptBlock(key, hex('8000000000000000')).toString('hex'), '95f8a5e5dd31d900');
  assert.equal(desEncryptBlock(key, hex('0000000000000001')).toString('hex'), '166b40b44aba4bd6');
});

test('VNC auth: both challenge halves under the bit-reversed password (as noVNC computes it)', () => {
  // noVNC 1.7 RFB.genDES('secret', 00112233..ff), computed at authoring time.
  assert.equal(vncAuthResponse('secret', hex('00112233445566778899aabbccddeeff')).toString('hex'), 'f19b50471f60f42298e5c0147db50e1e');
});

test('VNC auth: only the first 8 bytes of the password count', () => {
  const challenge = hex('0f1e2d3c4b5a69788796a5b4c3d2e1f0');
  assert.deepEqual(vncAuthResponse('12345678', challenge), vncAuthResponse('123456789abc', challenge));
  assert.notDeepEqual(vncAuthResponse('1234567', challenge), vncAuthResponse('12345678', challenge));
  assert.throws(() => vncAuthResponse('x', Buffer.alloc(8)), RangeError);
});

test('the vncpasswd file the e2e tests write matches `tigervncpasswd -f`', () => {
  // printf secret12 | tigervncpasswd -f | xxd -p  (TigerVNC 1.12)
  assert.equal(obfuscateVncPassword('secret12').toString('hex'), '24b5ae4ce15503c6');
});
