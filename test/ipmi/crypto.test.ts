// RAKP and key derivation vectors for cipher suites 3 and 17 (IPMI v2.0 sections 13.20-13.32).
// Expected values were computed independently at authoring time with python3's hmac/hashlib
// (and `openssl enc -aes-128-cbc -nopad` for the ciphertext) from these inputs:
//   Rm = 00..0f, Rc = 10..1f, GUIDc = a0..af, SIDm (console) = 0x11223344, SIDc (BMC) = 0x55667788,
//   RoleM = 0x14 (administrator | name-only lookup), user "admin", password "password" (Kuid, 20 bytes
//   zero padded), Const1 = 20 x 0x01, Const2 = 20 x 0x02 (section 13.32), IV = 30..3f.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CIPHER_SUITES } from '../../src/ipmi/constants.js';
import { decryptPayload, deriveKeys, encryptPayload, integrityCode, userKey } from '../../src/ipmi/crypto.js';
import { buildIpmiRequest, buildV2Authenticated } from '../../src/ipmi/packets.js';
import { checkRakp2, checkRakp4, rakp2AuthCode, rakp3AuthCode, rakp4Icv, type HandshakeValues } from '../../src/ipmi/rakp.js';

const hex = (s: string) => Buffer.from(s, 'hex');
const range = (from: number) => Buffer.from(Array.from({ length: 16 }, (_, i) => from + i));
const v: HandshakeValues = {
  consoleSessionId: 0x11223344,
  bmcSessionId: 0x55667788,
  rm: range(0x00),
  rc: range(0x10),
  guid: range(0xa0),
  role: 0x14,
  user: Buffer.from('admin'),
};
const kuid = userKey('password');
const iv = range(0x30);
const getDeviceId = buildIpmiRequest({ netFn: 0x06, cmd: 0x01, rqSeq: 1 }); // 2018c88104017a

const vectors = {
  3: {
    rakp2: 'dc8922708e10b691701b45ba41c72cd27445519a',
    rakp3: '4402012e214da511895a399bd77d5396e7998a4d',
    sik: '122c77c4b11ccd93251cbae6c34a9cb6310da154',
    k1: 'e4472be78f9a81fa68297aab696a7be8c97fc9f8',
    k2: '2b6552012a2517cb3b5713901d757a6efc7d8301',
    rakp4: '7e1a71bb29a4120fbe8b86f2',
    ciphertext: '78f086855f79412a0ea6095f85509695',
    authCode: '7372d3126d14cae34ff7bdef',
  },
  17: {
    rakp2: '1fcccda989a97629cc3e77179db0a2a55ce28fdf49ac088f88355c7e7758ae4e',
    rakp3: 'e6f17841e92f8c11cbc4fd1cafcc9c21e3d814e713e13e9ee640103b50c0ef15',
    sik: 'e5935f7199865ad961063477b0662684e2ce9b1da8f2b8d41c5ce127d37e9bcf',
    k1: 'dc4fe73d075306f6897115dd63257385e845c10404fa1d73991790c6a101bec2',
    k2: '2a4f969ea6dfa83066f36674fdc2fea289fa1a21da90303e9b5269b54ec5adb5',
    rakp4: '858aa7a1a1a03dc1777ec9f33af1a0b6',
    ciphertext: 'e36f4a4622b59575e5a928443080de03',
    authCode: '6d2708864ece43dbcba6f8d28ac2591a',
  },
} as const;

for (const id of [3, 17] as const) {
  const suite = CIPHER_SUITES[id]!;
  const want = vectors[id];

  test(`suite ${id}: RAKP 2 and RAKP 3 key exchange auth codes (sections 13.21, 13.22)`, () => {
    assert.equal(rakp2AuthCode(suite, kuid, v).toString('hex'), want.rakp2);
    assert.equal(rakp3AuthCode(suite, kuid, v).toString('hex'), want.rakp3);
    assert.ok(checkRakp2(suite, kuid, v, hex(want.rakp2)));
    // The BMC signed with its password; ours differs: that is how a wrong password shows.
    assert.ok(!checkRakp2(suite, userKey('wrong'), v, hex(want.rakp2)));
  });

  test(`suite ${id}: SIK, K1, K2 (sections 13.31, 13.32) and the RAKP 4 ICV (section 13.23)`, () => {
    const keys = deriveKeys(suite, kuid, { rm: v.rm, rc: v.rc, role: v.role, user: v.user });
    assert.equal(keys.sik.toString('hex'), want.sik);
    assert.equal(keys.k1.toString('hex'), want.k1);
    assert.equal(keys.k2.toString('hex'), want.k2);
    assert.equal(rakp4Icv(suite, keys.sik, v).toString('hex'), want.rakp4);
    assert.equal(want.rakp4.length / 2, suite.integrityLength);
    assert.ok(checkRakp4(suite, keys.sik, v, hex(want.rakp4)));
  });

  test(`suite ${id}: AES-CBC-128 payload with pad 01..N N (section 13.29) and AuthCode (section 13.28.4)`, () => {
    const k2 = hex(want.k2);
    const enc = encryptPayload(k2, getDeviceId, iv);
    assert.equal(enc.toString('hex'), iv.toString('hex') + want.ciphertext);
    assert.deepEqual(decryptPayload(k2, enc), getDeviceId);
    const signed = buildV2Authenticated({ payloadType: 0, encrypted: true, authenticated: true, sessionId: 0x55667788, sequence: 1 }, enc);
    assert.equal(integrityCode(suite, hex(want.k1), signed).toString('hex'), want.authCode);
  });
}

test('confidentiality round trip for every payload length 0..40', () => {
  const k2 = hex(vectors[17].k2);
  for (let n = 0; n <= 40; n++) {
    const data = Buffer.alloc(n, n);
    const enc = encryptPayload(k2, data);
    assert.equal((enc.length - 16) % 16, 0);
    assert.deepEqual(decryptPayload(k2, enc), data);
  }
});

test('passwords longer than 20 bytes are refused', () => {
  assert.throws(() => userKey('x'.repeat(21)), /at most 20 bytes/);
});
