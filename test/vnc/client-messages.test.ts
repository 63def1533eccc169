// The read-only filter over the browser's RFB messages: byte vectors in, what reaches the server out.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clientMessageLength, ReadOnlyFilter } from '../../src/vnc/client-messages.js';

const bytes = (...parts: (number[] | Buffer)[]) => Buffer.concat(parts.map((p) => Buffer.from(p)));
const u16 = (n: number) => [n >> 8, n & 0xff];
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return [...b]; };

const setPixelFormat = bytes([0, 0, 0, 0], [32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]);
const setEncodings = bytes([2, 0], u16(3), u32(0), u32(-239), u32(-223));
const updateRequest = bytes([3, 1], u16(0), u16(0), u16(640), u16(480));
const keyDown = bytes([4, 1, 0, 0], u32(0x61));
const pointer = bytes([5, 1], u16(10), u16(20));
const cutText = bytes([6, 0, 0, 0], u32(5), Buffer.from('hello'));
const extendedCutText = bytes([6, 0, 0, 0], u32(-8), [0, 0, 0, 1, 1, 2, 3, 4]);
const continuous = bytes([150, 1], u16(0), u16(0), u16(640), u16(480));
const fence = bytes([248, 0, 0, 0], u32(0x80000002), [3, 7, 8, 9]);
const xvpReboot = bytes([250, 0, 1, 3]);
const setDesktopSize = bytes([251, 0], u16(800), u16(600), [1, 0], Buffer.alloc(16, 7));
const qemuKey = bytes([255, 0], u16(1), u32(0x61), u32(30));
const qemuAudio = bytes([255, 1], u16(0));
const qemuAudioFormat = bytes([255, 1], u16(2), [3, 2], u32(44100));

const all = [setPixelFormat, setEncodings, updateRequest, keyDown, pointer, cutText, extendedCutText, continuous, fence, xvpReboot, setDesktopSize, qemuKey, qemuAudio, qemuAudioFormat];
const viewing = [setPixelFormat, setEncodings, updateRequest, continuous, fence, qemuAudio, qemuAudioFormat];

test('every message type noVNC sends is sized from its header', () => {
  for (const m of all) assert.equal(clientMessageLength(m), m.length, `type ${m[0]}`);
  assert.equal(clientMessageLength(bytes([2, 0, 0])), undefined, 'SetEncodings needs its count');
  assert.equal(clientMessageLength(bytes([6, 0, 0, 0, 0, 0])), undefined, 'ClientCutText needs its length');
  assert.equal(clientMessageLength(bytes([255])), undefined, 'a QEMU message needs its sub-type');
});

test('a read-only stream keeps the viewing messages and drops input, clipboard, resize and xvp', () => {
  const f = new ReadOnlyFilter();
  assert.deepEqual(f.push(Buffer.concat(all)), Buffer.concat(viewing));
  assert.equal(f.dropped, all.length - viewing.length);
});

test('messages split anywhere, even one byte at a time, come out the same', () => {
  const stream = Buffer.concat(all);
  for (const size of [1, 2, 3, 5, 7, 13, 64]) {
    const f = new ReadOnlyFilter();
    const out: Buffer[] = [];
    for (let i = 0; i < stream.length; i += size) out.push(f.push(stream.subarray(i, i + size)));
    assert.deepEqual(Buffer.concat(out), Buffer.concat(viewing), `chunks of ${size}`);
  }
});

test('a large clipboard is skipped as it arrives, not held back', () => {
  const f = new ReadOnlyFilter();
  assert.equal(f.push(bytes([6, 0, 0, 0], u32(1_000_000))).length, 0);
  for (let i = 0; i < 10; i++) assert.equal(f.push(Buffer.alloc(100_000, 0x41)).length, 0);
  assert.deepEqual(f.push(updateRequest), updateRequest, 'the stream is back in step after the clipboard');
});

test('an unknown message type ends the stream: its length cannot be known', () => {
  assert.throws(() => new ReadOnlyFilter().push(bytes(updateRequest, [99, 0, 0, 0])), { code: 'VNC_CLIENT_PROTOCOL', message: /unknown message type 99/ });
  assert.throws(() => new ReadOnlyFilter().push(bytes([255, 9, 0, 0])), { code: 'VNC_CLIENT_PROTOCOL', message: /unknown QEMU message 9/ });
});
