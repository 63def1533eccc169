// Console bytes into the lines the sinks send, and the bounded queue behind every sink.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BoundedQueue } from '../../src/outputs/bounded-queue.js';
import { LineSplitter, stripControls } from '../../src/outputs/line-splitter.js';
import { encodeDatagram } from '../../src/outputs/udp-sink.js';
import { waitUntil } from '../support/wait.js';

function splitter(opts: Partial<{ maxBytes: number; idleMs: number }> = {}) {
  const lines: string[] = [];
  const wakers = new Set<() => void>();
  const s = new LineSplitter({ maxBytes: 4096, idleMs: 60_000, ...opts }, (l) => {
    lines.push(l);
    for (const w of wakers) w();
  });
  const subscribe = (wake: () => void) => {
    wakers.add(wake);
    return () => wakers.delete(wake);
  };
  return { s, lines, subscribe };
}

test('CR, LF and CRLF each end one line, also when split across chunks', () => {
  const { s, lines } = splitter();
  for (const chunk of ['one\r\ntwo\nthr', 'ee\r', '\nfour\rfive\n\r\nsix\r\n']) s.push(Buffer.from(chunk));
  assert.deepEqual(lines, ['one', 'two', 'three', 'four', 'five', 'six']);
  s.close();
});

test('a line longer than the maximum is sent in pieces of that size', () => {
  const { s, lines } = splitter({ maxBytes: 10 });
  s.push(Buffer.from(`${'a'.repeat(25)}\nshort\n`));
  assert.deepEqual(lines, ['a'.repeat(10), 'a'.repeat(10), 'a'.repeat(5), 'short']);
  s.close();
});

test('a partial line (a prompt) is sent after the idle time, not before', async () => {
  const { s, lines, subscribe } = splitter({ idleMs: 50 });
  s.push(Buffer.from('booted\nlogin: '));
  assert.deepEqual(lines, ['booted']);
  await waitUntil(() => lines.length === 2 || undefined, { what: 'idle flush', subscribe });
  assert.deepEqual(lines, ['booted', 'login:']);
  s.close();
});

test('ANSI escapes and control characters are stripped; empty lines are not sent', () => {
  const { s, lines } = splitter();
  s.push(Buffer.from('\x1b[2J\x1b[H\r\n\x1b[1;32mOK\x1b[0m  started\x07 sshd\r\n\x1b]0;title\x07\n\ttab kept\n'));
  assert.deepEqual(lines, ['OK  started sshd', '\ttab kept']);
  assert.equal(stripControls('a\x1b(Bb\x00c\x7f'), 'abc');
  s.close();
});

test('the bounded queue drops the oldest and counts what it dropped', () => {
  const q = new BoundedQueue<number>(3);
  for (let i = 1; i <= 5; i++) q.push(i);
  assert.equal(q.dropped, 2);
  assert.equal(q.size, 3);
  assert.deepEqual([q.shift(), q.shift(), q.shift(), q.shift()], [3, 4, 5, undefined]);
  q.push(6);
  assert.equal(q.shift(), 6);
});

test('a udp record too big for one datagram has its message cut to fit', () => {
  const record = { node: 'n1', type: 'console' as const, message: 'é"\\'.repeat(5000), time: new Date().toISOString() };
  const out = encodeDatagram(record, 1200);
  assert.ok(out.length <= 1200, `${out.length} bytes`);
  const parsed = JSON.parse(out.toString('utf8'));
  assert.equal(parsed.truncated, true);
  assert.equal(parsed.node, 'n1');
  assert.ok(parsed.message.endsWith('…') && parsed.message.length > 100);
  assert.deepEqual(JSON.parse(encodeDatagram({ ...record, message: 'short' }, 1200).toString()), { ...record, message: 'short' });
});
