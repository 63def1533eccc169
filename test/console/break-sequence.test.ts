import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_BREAK_SEQUENCES, parseBreakSequence } from '../../src/console/break-sequence.js';

test('\\z is a driver BREAK, \\d a pause, ^X a control character', () => {
  assert.deepEqual(parseBreakSequence('\\z'), [{ type: 'break' }]);
  assert.deepEqual(parseBreakSequence(DEFAULT_BREAK_SEQUENCES['4']), [
    { type: 'bytes', data: Buffer.from('\r') },
    { type: 'delay', ms: 250 },
    { type: 'bytes', data: Buffer.from('~') },
    { type: 'delay', ms: 250 },
    { type: 'bytes', data: Buffer.from([0x02]) },
  ]);
});

test('C escapes and octal are decoded', () => {
  assert.deepEqual(parseBreakSequence('a\\r\\n\\t\\033^?#.'), [{ type: 'bytes', data: Buffer.from([0x61, 0x0d, 0x0a, 0x09, 0x1b, 0x7f, 0x23, 0x2e]) }]);
});
