// The socket inputs' stream splitter over bytes: however a client's writes are cut, each array
// comes out whole and alone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JsonValueSplitter } from '../../src/fleet/json-values.js';

/** Feeds `text` in pieces of `size` bytes and returns the values parsed, and the splitter. */
function split(text: string, size: number, maxBytes = 1 << 20) {
  const splitter = new JsonValueSplitter(maxBytes);
  const bytes = Buffer.from(text);
  const values: unknown[] = [];
  for (let i = 0; i < bytes.length; i += size) {
    for (const v of splitter.push(bytes.subarray(i, i + size))) values.push(JSON.parse(v.toString('utf8')));
  }
  return { values, splitter };
}

const tricky = [
  [{ toNode: 'ship1', data: ['sh', '-c', 'echo "]]}" \\ [{'] }],
  { toNode: 'ship2', data: ['ünïcödé ✓ 🚢', '\\"', '\\\\'] },
  [],
];

test('arrays written back to back, with or without whitespace, come out whole at every cut', () => {
  for (const glue of ['', '\n', ' \r\n\t ']) {
    const text = tricky.map((v) => JSON.stringify(v)).join(glue) + glue;
    for (const size of [1, 2, 3, 7, 64, text.length]) {
      const { values, splitter } = split(text, size);
      assert.deepEqual(values, tricky, `glue ${JSON.stringify(glue)}, pieces of ${size}`);
      assert.equal(splitter.pending, 0);
      assert.equal(splitter.failure, undefined);
    }
  }
});

test('an unfinished array is pending; bytes that begin no array fail after the values before them', () => {
  const { values, splitter } = split('[1] [2, "]', 3);
  assert.deepEqual(values, [[1]]);
  assert.equal(splitter.pending, '[2, "]'.length);

  const broken = split('[1]\n[2] oops [3]', 4);
  assert.deepEqual(broken.values, [[1], [2]]);
  assert.equal((broken.splitter.failure as Error & { code: string }).code, 'BAD_JSON');
  assert.deepEqual(broken.splitter.push(Buffer.from('[4]')), [], 'nothing is taken after a failure');
});

test('a value over the cap fails whether it arrives whole or in pieces', () => {
  const big = JSON.stringify(['x'.repeat(100)]);
  for (const size of [big.length, 10]) {
    const { values, splitter } = split(`[1]${big}`, size, 50);
    assert.deepEqual(values, [[1]]);
    assert.equal((splitter.failure as Error & { code: string }).code, 'BODY_TOO_LARGE');
  }
  assert.deepEqual(split(big, 5, big.length).values, [['x'.repeat(100)]], 'exactly the cap is taken');
});
