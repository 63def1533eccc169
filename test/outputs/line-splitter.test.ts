// Console bytes into the lines the sinks send, the batches they travel in, and the bounded queue behind every sink.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineSplitter, Lines, stripControls } from '../../src/outputs/line-splitter.js';
import { RecordBatch, RecordQueue } from '../../src/outputs/record-batch.js';
import { encodeDatagram } from '../../src/outputs/udp-sink.js';
import { waitUntil } from '../support/wait.js';

function splitter(opts: Partial<{ maxBytes: number; idleMs: number }> = {}) {
  const lines: string[] = [];
  const calls: string[][] = [];
  const plains: boolean[] = [];
  const wakers = new Set<() => void>();
  const s = new LineSplitter({ maxBytes: 4096, idleMs: 60_000, ...opts }, (l) => {
    calls.push([...l.all]);
    plains.push(l.plain);
    lines.push(...l.all);
    for (const w of wakers) w();
  });
  const subscribe = (wake: () => void) => {
    wakers.add(wake);
    return () => wakers.delete(wake);
  };
  return { s, lines, calls, plains, subscribe };
}

test('CR, LF and CRLF each end one line, also when split across chunks; a chunk\'s lines come together', () => {
  const { s, lines, calls } = splitter();
  for (const chunk of ['one\r\ntwo\nthr', 'ee\r', '\nfour\rfive\n\r\nsix\r\n']) s.push(Buffer.from(chunk));
  assert.deepEqual(lines, ['one', 'two', 'three', 'four', 'five', 'six']);
  assert.deepEqual(calls, [['one', 'two'], ['three'], ['four', 'five', 'six']]);
  s.close();
});

/**
 * What the splitter must make of a console's whole output, however it is cut into chunks: the plain
 * way, line by line, a long line cut into pieces of at most maxBytes that end between characters.
 */
function referenceLines(input: Buffer, maxBytes: number): string[] {
  const out: string[] = [];
  for (const line of input.toString('utf8').split(/\r\n|\r|\n/)) {
    const pieces: string[] = [];
    let piece = '';
    for (const ch of line) {
      if (Buffer.byteLength(piece + ch) > maxBytes) {
        pieces.push(piece);
        piece = '';
      }
      piece += ch;
    }
    if (piece) pieces.push(piece);
    for (const p of pieces) {
      const text = stripControls(p).trimEnd();
      if (text) out.push(text);
    }
  }
  return out;
}

test('whatever the output and however it is cut into chunks: the same lines, the same records, and plain chunks go out unsplit', () => {
  const alphabet = ['a', 'b', 'kernel: [ 1.0] eth0 up', ' ', '  ', '\r\n', '\r\n', '\r\n', '\n', '\r', '"', '\\', '\t', '\x1b[1m', 'é', '✓', 'x'.repeat(30)];
  let seed = 7;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  let joinedChunks = 0;
  for (let round = 0; round < 400; round++) {
    // Plain CRLF or LF consoles (the fast path), plain text with every kind of line end, anything.
    const kind = round % 4;
    const pick = [[0, 1, 2, 5, 6, 7], [0, 1, 2, 3, 8], [0, 1, 5, 8, 9], alphabet.map((_, i) => i)][kind];
    const input = Buffer.from(Array.from({ length: 5 + random(60) }, () => alphabet[pick[random(pick.length)]]).join(''));
    const maxBytes = [8, 25, 4096][random(3)];
    const got: Lines[] = [];
    const s = new LineSplitter({ maxBytes, idleMs: 60_000 }, (l) => got.push(l));
    for (let at = 0; at < input.length;) {
      const size = 1 + random(40);
      s.push(input.subarray(at, at + size));
      at += size;
    }
    s.close();
    const context = `input ${JSON.stringify(input.toString('utf8'))}, maxBytes ${maxBytes}`;
    assert.deepEqual(got.flatMap((l) => l.all), referenceLines(input, maxBytes), context);
    const iso = new Date().toISOString();
    for (const l of got) {
      assert.equal(l.count, l.all.length, context);
      assert.deepEqual(l.lineText.split(/\r?\n/), l.all, context);
      assert.equal(l.chars, l.lineText.length, context);
      assert.deepEqual(RecordBatch.console('n1', l, iso).records(), l.all.map((message) => JSON.stringify({ node: 'n1', type: 'console', message, time: iso })), context);
      if (l.lineText.includes('\r')) joinedChunks++; // only a chunk that went out unsplit keeps its CRLFs
    }
  }
  assert.ok(joinedChunks > 20, `${joinedChunks} chunks went out unsplit`);
});

test('a line longer than the maximum is sent in pieces of that size', () => {
  const { s, lines, calls } = splitter({ maxBytes: 10 });
  s.push(Buffer.from(`${'a'.repeat(25)}\nshort\n`));
  assert.deepEqual(lines, ['a'.repeat(10), 'a'.repeat(10), 'a'.repeat(5), 'short']);
  // A line still going that long goes out in pieces without waiting for its end.
  s.push(Buffer.from(`ok\r\n${'b'.repeat(25)}`));
  assert.deepEqual(calls.at(-1), ['ok', 'b'.repeat(10), 'b'.repeat(10)]);
  s.close();
});

test('a character cut between chunks is decoded whole; a long line of multi-byte characters is cut by bytes, between characters', () => {
  const { s, lines } = splitter({ maxBytes: 10 });
  const text = Buffer.from('é✓\n');
  s.push(text.subarray(0, 1));
  s.push(text.subarray(1, 3));
  s.push(text.subarray(3));
  s.push(Buffer.from(`${'é'.repeat(8)}\n`)); // 16 bytes: 10, then 6
  s.push(Buffer.from(`${'✓'.repeat(4)}\n`)); // 12 bytes: 9 (a tenth would cut a ✓), then 3
  s.push(Buffer.from('✓'.repeat(7))); // still going: 9 bytes at a time go out, 3 wait
  assert.deepEqual(lines, ['é✓', 'é'.repeat(5), 'é'.repeat(3), '✓✓✓', '✓', '✓✓✓', '✓✓✓']);
  s.close();
});

test('a chunk is plain when every line is printable ASCII with nothing to strip or escape, and says so', () => {
  const { s, calls, plains } = splitter();
  s.push(Buffer.from('plain line\r\nanother\r\n'));
  s.push(Buffer.from('a "quote"\r\n'));
  s.push(Buffer.from('back\\slash\n'));
  s.push(Buffer.from('a\ttab\n'));
  s.push(Buffer.from('\x1b[1mbold\x1b[0m\n'));
  s.push(Buffer.from('plain again\n'));
  s.push(Buffer.from('beyond ASCII: é\n'));
  assert.deepEqual(calls, [['plain line', 'another'], ['a "quote"'], ['back\\slash'], ['a\ttab'], ['bold'], ['plain again'], ['beyond ASCII: é']]);
  assert.deepEqual(plains, [true, false, false, false, false, true, false]);
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

test('a batch of console lines is the JSON records one by one would be, escapes and all', () => {
  const lines = ['plain', 'quote " backslash \\ tab \t', 'é ✓ \u2028'];
  const iso = new Date().toISOString();
  const batch = RecordBatch.console('n"1', lines, iso);
  const expected = lines.map((message) => JSON.stringify({ node: 'n"1', type: 'console', message, time: iso }));
  assert.equal(batch.text, expected.map((l) => `${l}\n`).join(''));
  assert.deepEqual(batch.records(), expected);
  assert.equal(batch.bytes.toString('utf8'), batch.text);
  assert.deepEqual(batch.last(2).records(), expected.slice(1));
  // A plain chunk (printable ASCII, nothing to escape) is quoted as it is: the same text and bytes.
  const plainLines = ['kernel: [ 1.0] eth0: link up', 'all ~ fine {}'];
  const fast = RecordBatch.console('n1', plainLines, iso, true);
  assert.equal(fast.text, RecordBatch.console('n1', plainLines, iso).text);
  assert.deepEqual(fast.bytes, Buffer.from(fast.text, 'utf8'));
});

test('the bounded queue drops the oldest records, cutting a batch if need be, and counts what it dropped', () => {
  const iso = new Date().toISOString();
  const batch = (...ns: number[]) => RecordBatch.console('n', ns.map(String), iso);
  const messages = (b: RecordBatch | undefined) => b?.records().map((r) => JSON.parse(r).message);
  const q = new RecordQueue(3);
  q.push(batch(1, 2));
  q.push(batch(3, 4)); // 1 goes
  assert.equal(q.dropped, 1);
  assert.equal(q.size, 3);
  q.push(batch(5)); // 2 goes, the first batch with it
  assert.equal(q.dropped, 2);
  assert.deepEqual([messages(q.shift()), messages(q.shift()), q.shift()], [['3', '4'], ['5'], undefined]);
  q.push(batch(6, 7, 8, 9, 10)); // alone too big: its last three stay
  assert.equal(q.dropped, 4);
  assert.equal(q.size, 3);
  assert.deepEqual(messages(q.shift()), ['8', '9', '10']);
  assert.equal(q.size, 0);
});

test('a udp record too big for one datagram has its message cut to fit', () => {
  const record = { node: 'n1', type: 'console' as const, message: 'é"\\'.repeat(5000), time: new Date().toISOString() };
  const out = encodeDatagram(JSON.stringify(record), 1200);
  assert.ok(out.length <= 1200, `${out.length} bytes`);
  const parsed = JSON.parse(out.toString('utf8'));
  assert.equal(parsed.truncated, true);
  assert.equal(parsed.node, 'n1');
  assert.ok(parsed.message.endsWith('…') && parsed.message.length > 100);
  assert.deepEqual(JSON.parse(encodeDatagram(JSON.stringify({ ...record, message: 'short' }), 1200).toString()), { ...record, message: 'short' });
});
