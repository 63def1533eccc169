// Both RFB handshakes against scripted peers: what the peer sends is pushed up front (the
// protocol is a fixed sequence), what the proxy writes is checked afterwards.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByteReader } from '../../src/vnc/byte-reader.js';
import { vncAuthResponse } from '../../src/vnc/des.js';
import { agreedMinor, greetClient, loginToServer } from '../../src/vnc/handshake.js';

const SERVER = 'kvm1:5900';
const challenge = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const reason = (text: string) => Buffer.concat([u32(Buffer.byteLength(text)), Buffer.from(text)]);
const version = (v: string) => Buffer.from(`RFB ${v}\n`, 'latin1');

/** A peer that has already said everything in `script`; returns the io and what was written to it. */
function peer(...script: (Buffer | number[])[]) {
  const reader = new ByteReader();
  for (const part of script) reader.push(Buffer.from(part));
  reader.end(new Error('peer said no more'));
  const written: Buffer[] = [];
  return { io: { read: (n: number) => reader.read(n), write: (b: Buffer) => void written.push(b) }, written: () => Buffer.concat(written) };
}

test('versions: 3.8 and later speak 3.8, 3.7 is 3.7, any other 3.x is 3.3; anything else is no RFB', () => {
  assert.equal(agreedMinor(version('003.008')), 8);
  assert.equal(agreedMinor(version('003.889')), 8);
  assert.equal(agreedMinor(version('005.000')), 8);
  assert.equal(agreedMinor(version('003.007')), 7);
  assert.equal(agreedMinor(version('003.005')), 3);
  assert.equal(agreedMinor(Buffer.from('HTTP/1.1 400')), undefined);
});

test('3.8 with VNC authentication: the DES response to the challenge, then SecurityResult OK', async () => {
  const p = peer(version('003.008'), [2, 1, 2], challenge, u32(0));
  await loginToServer(p.io, SERVER, 'secret');
  assert.deepEqual(p.written(), Buffer.concat([version('003.008'), Buffer.from([2]), vncAuthResponse('secret', challenge)]));
});

test('3.8 security None, with or without a password configured (3.8 sends SecurityResult for None too)', async () => {
  for (const password of [undefined, 'secret']) {
    const p = peer(version('003.008'), [1, 1], u32(0));
    await loginToServer(p.io, SERVER, password);
    assert.deepEqual(p.written(), Buffer.concat([version('003.008'), Buffer.from([1])]));
  }
});

test('3.7 and 3.3: no SecurityResult after None; 3.3 lets the server choose', async () => {
  const v37 = peer(version('003.007'), [1, 1]);
  await loginToServer(v37.io, SERVER, undefined);
  const v33 = peer(version('003.003'), u32(2), challenge, u32(0));
  await loginToServer(v33.io, SERVER, 'secret');
  assert.deepEqual(v33.written(), Buffer.concat([version('003.003'), vncAuthResponse('secret', challenge)]));
});

test('a refused password is named as such, with the server and its reason', async () => {
  await assert.rejects(loginToServer(peer(version('003.008'), [1, 2], challenge, u32(1), reason('Authentication failure')).io, SERVER, 'bad'), {
    code: 'VNC_WRONG_PASSWORD', message: 'VNC server kvm1:5900 refused the VNC password: "Authentication failure"',
  });
  await assert.rejects(loginToServer(peer(version('003.003'), u32(2), challenge, u32(1)).io, SERVER, 'bad'), { code: 'VNC_WRONG_PASSWORD' });
});

test('other refusals: no password configured, no common security type, the server turning us away, no RFB at all', async () => {
  await assert.rejects(loginToServer(peer(version('003.008'), [1, 2]).io, SERVER, undefined), { code: 'VNC_PASSWORD_REQUIRED', message: /kvm1:5900 wants a password/ });
  await assert.rejects(loginToServer(peer(version('003.008'), [2, 19, 16]).io, SERVER, 'x'), { code: 'VNC_SECURITY_UNSUPPORTED', message: /19,16/ });
  await assert.rejects(loginToServer(peer(version('003.008'), [0], reason('Too many security failures')).io, SERVER, 'x'), {
    code: 'VNC_REFUSED', message: /refused the connection: "Too many security failures"/,
  });
  await assert.rejects(loginToServer(peer(version('003.003'), u32(0), reason('busy')).io, SERVER, 'x'), { code: 'VNC_REFUSED' });
  await assert.rejects(loginToServer(peer(Buffer.from('SSH-2.0-Open')).io, SERVER, 'x'), { code: 'VNC_NOT_RFB', message: 'kvm1:5900 is not a VNC server (no RFB greeting)' });
  await assert.rejects(loginToServer(peer(version('003.008'), [1]).io, SERVER, 'x'), /peer said no more/);
});

test('towards the browser: offer None only, SecurityResult in 3.8, read ClientInit', async () => {
  const v38 = peer(version('003.008'), [1], [0]);
  assert.deepEqual(await greetClient(v38.io), { shared: false });
  assert.deepEqual(v38.written(), Buffer.concat([version('003.008'), Buffer.from([1, 1]), u32(0)]));
  const v37 = peer(version('003.007'), [1], [1]);
  assert.deepEqual(await greetClient(v37.io), { shared: true });
  assert.deepEqual(v37.written(), Buffer.concat([version('003.008'), Buffer.from([1, 1])]));
  const v33 = peer(version('003.003'), [1]);
  assert.deepEqual(await greetClient(v33.io), { shared: true });
  assert.deepEqual(v33.written(), Buffer.concat([version('003.008'), u32(1)]));
});

test('a browser that picks another security type, or speaks no RFB, is refused', async () => {
  await assert.rejects(greetClient(peer(version('003.008'), [2]).io), { code: 'VNC_CLIENT_PROTOCOL', message: /chose security type 2/ });
  await assert.rejects(greetClient(peer(Buffer.from('GET / HTTP/1.')).io), { code: 'VNC_CLIENT_PROTOCOL' });
});
