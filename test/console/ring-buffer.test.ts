import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RingBuffer } from '../../src/console/ring-buffer.js';

test('keeps the most recent bytes in order across wrap-around', () => {
  const ring = new RingBuffer(8);
  ring.push(Buffer.from('abcde'));
  assert.equal(ring.snapshot().toString(), 'abcde');
  ring.push(Buffer.from('fghij'));
  assert.equal(ring.snapshot().toString(), 'cdefghij');
  ring.push(Buffer.from('k'));
  assert.equal(ring.snapshot().toString(), 'defghijk');
  assert.equal(ring.length, 8);
});

test('a chunk larger than the ring keeps only its tail', () => {
  const ring = new RingBuffer(4);
  ring.push(Buffer.from('x'));
  ring.push(Buffer.from('0123456789'));
  assert.equal(ring.snapshot().toString(), '6789');
});

test('tailLines returns the last n lines, a partial last line counting as one', () => {
  const ring = new RingBuffer(1024);
  ring.push(Buffer.from('one\ntwo\nthree\nfour\n'));
  assert.equal(ring.tailLines(2).toString(), 'three\nfour\n');
  ring.push(Buffer.from('fiv'));
  assert.equal(ring.tailLines(2).toString(), 'four\nfiv');
  assert.equal(ring.tailLines(99).toString(), 'one\ntwo\nthree\nfour\nfiv');
});

test('capacity 0 keeps nothing (replay off)', () => {
  const ring = new RingBuffer(0);
  ring.push(Buffer.from('abc'));
  assert.equal(ring.snapshot().length, 0);
});

test('holds nothing until there is output, and agrees with a plain model under random pushes', () => {
  const ring = new RingBuffer(1000, 64);
  assert.equal(ring.snapshot().length, 0);
  let model = Buffer.alloc(0);
  let seed = 7;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  for (let i = 0; i < 2000; i++) {
    const chunk = Buffer.alloc(rand(i % 50 === 0 ? 3000 : 150), 97 + (i % 26));
    ring.push(chunk);
    model = Buffer.concat([model, chunk]);
    if (model.length > 1000) model = model.subarray(model.length - 1000);
    if (i % 97 === 0) assert.ok(ring.snapshot().equals(model), `after push ${i}`);
  }
  assert.ok(ring.snapshot().equals(model));
  assert.equal(ring.length, model.length);
});
