// The log search engine and tail over files written here: the times lines without a stamp get,
// windows across files, and the last lines of a file.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { lineStamp } from '../../src/outputs/log-file.js';
import { searchNodeLog, type LogHit } from '../../src/outputs/log-search.js';
import { lastLines } from '../../src/outputs/log-tail.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'sb-logsearch-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const T = (min: number) => new Date(Date.UTC(2026, 0, 1, 12, min));
const at = (min: number, text: string) => `${lineStamp(T(min))}${text}\r\n`;

async function collect(gen: AsyncIterable<LogHit>): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for await (const h of gen) out.push([h.time, h.line]);
  return out;
}

test('a line without a stamp has the time of the last stamped line before it, across rotation', async () => {
  const older = path.join(dir, 'n1.log.1');
  const live = path.join(dir, 'n1.log');
  // Rotation cut "boot line continued" in two: its end starts the live file without a stamp.
  writeFileSync(older, at(1, 'first match') + at(2, 'second match') + `${lineStamp(T(3))}boot line`);
  writeFileSync(live, ` continued match\r\nplain match\r\n${at(5, 'late match')}`);
  const hits = await collect(searchNodeLog('n1', [older, live], { literal: 'match' }, {}));
  assert.deepEqual(hits, [
    [T(1).toISOString(), 'first match'],
    [T(2).toISOString(), 'second match'],
    [T(3).toISOString(), ' continued match'],
    [T(3).toISOString(), 'plain match'],
    [T(5).toISOString(), 'late match'],
  ]);
  // The window: inclusive, by each line's time.
  const mid = await collect(searchNodeLog('n1', [older, live], { literal: 'match' }, { since: T(2).getTime(), until: T(3).getTime() }));
  assert.deepEqual(mid.map(([, l]) => l), ['second match', ' continued match', 'plain match']);
  // Text inside a stamp is not a match.
  assert.deepEqual(await collect(searchNodeLog('n1', [older, live], { literal: '2026-01-01' }, {})), []);
  const re = await collect(searchNodeLog('n1', [older, live], { regex: /^(first|late) match$/ }, {}));
  assert.deepEqual(re.map(([, l]) => l), ['first match', 'late match']);
});

test('a regex finds the same lines with the same times after multi-byte text as a literal does', async () => {
  const file = path.join(dir, 'utf8.log');
  writeFileSync(file, at(1, 'Grüße aus dem Rechenzentrum ✓') + at(2, 'disk é error sda') + 'ünstamped disk error sdb\r\n' + at(4, 'fine'));
  const literal = await collect(searchNodeLog('u', [file], { literal: 'error' }, {}));
  const regex = await collect(searchNodeLog('u', [file], { regex: /error sd[a-z]$/ }, {}));
  assert.deepEqual(literal, [[T(2).toISOString(), 'disk é error sda'], [T(2).toISOString(), 'ünstamped disk error sdb']]);
  assert.deepEqual(regex, literal);
  // ^ is the line's start after its stamp.
  assert.deepEqual(await collect(searchNodeLog('u', [file], { regex: /^(Grüße|ünstamped)/ }, {})), [[T(1).toISOString(), 'Grüße aus dem Rechenzentrum ✓'], [T(2).toISOString(), 'ünstamped disk error sdb']]);
});

test('a file with no stamps at all: its lines have the file\'s modification time', async () => {
  const file = path.join(dir, 'old.log');
  writeFileSync(file, 'from before timestamps\r\nanother line\r\n');
  utimesSync(file, T(30), T(30));
  assert.deepEqual(await collect(searchNodeLog('old', [file], { literal: 'before' }, {})), [[T(30).toISOString(), 'from before timestamps']]);
  assert.deepEqual(await collect(searchNodeLog('old', [file], { literal: 'before' }, { since: T(31).getTime() })), []);
});

test('a window inside a big file: the same lines as reading it all, some without a stamp', async () => {
  const file = path.join(dir, 'big.log');
  const ms = (i: number) => Date.UTC(2026, 0, 2) + i * 1000;
  const lines: string[] = [];
  // Every 7th line has no stamp: it takes the time of the line before it.
  for (let i = 0; i < 40_000; i++) lines.push(`${i % 7 === 0 && i > 0 ? '' : lineStamp(new Date(ms(i)))}entry ${i} ${'.'.repeat(40)}\r\n`);
  writeFileSync(file, lines.join(''));
  const timeOf = (i: number) => ms(i % 7 === 0 && i > 0 ? i - 1 : i);
  const window = { since: ms(25_000), until: ms(25_100) };
  const expected: [string, string][] = [];
  for (let i = 0; i < 40_000; i++) {
    const t = timeOf(i);
    if (String(i).startsWith('2') && t >= window.since && t <= window.until) expected.push([new Date(t).toISOString(), `entry ${i} ${'.'.repeat(40)}`]);
  }
  assert.ok(expected.length > 90);
  assert.deepEqual(await collect(searchNodeLog('big', [file], { literal: 'entry 2' }, window)), expected);
});

test('lastLines: the last N lines, a final line without a newline counting as one', async () => {
  const file = path.join(dir, 'tail.log');
  writeFileSync(file, 'a\nb\nc\n');
  assert.equal((await lastLines(file, 2)).text.toString(), 'b\nc\n');
  assert.equal((await lastLines(file, 10)).text.toString(), 'a\nb\nc\n');
  assert.equal((await lastLines(file, 0)).text.toString(), '');
  writeFileSync(file, 'a\nb\nc');
  assert.equal((await lastLines(file, 2)).text.toString(), 'b\nc');
  const big = Array.from({ length: 50_000 }, (_, i) => `line ${i}`).join('\n') + '\n';
  writeFileSync(file, big);
  const { text, end } = await lastLines(file, 3);
  assert.equal(text.toString(), 'line 49997\nline 49998\nline 49999\n');
  assert.equal(end, Buffer.byteLength(big));
  assert.deepEqual(await lastLines(path.join(dir, 'none.log'), 5), { text: Buffer.alloc(0), end: 0 });
});
