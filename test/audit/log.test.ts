// AuditLog on its own: many writers at once never interleave a line, the rotated files stay
// searchable, and a write that fails is logged, never thrown, and its lines are written once the
// file can be written again.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import pino from 'pino';
import { AuditLog } from '../../src/audit/index.js';
import { waitUntil } from '../support/wait.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'sb-audit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function capture() {
  const lines: Record<string, unknown>[] = [];
  const wakers = new Set<() => void>();
  const logger = pino({ level: 'debug' }, new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()));
      for (const w of wakers) w();
      done();
    },
  }));
  const subscribe = (wake: () => void) => {
    wakers.add(wake);
    return () => wakers.delete(wake);
  };
  return { logger, lines, subscribe };
}

test('concurrent records are whole lines, in order, across rotations; the query sees them all', async () => {
  const file = path.join(mkdtempSync(path.join(dir, 'many-')), 'audit.jsonl');
  const log = await AuditLog.open({ file, maxBytes: 4096, keep: 100, logger: pino({ level: 'silent' }) });
  for (let i = 0; i < 500; i++) log.record({ action: 'api', identity: 'admin', details: { i, pad: 'x'.repeat(i % 50) } });
  await log.flush();
  const text = log.files().map((f) => { try { return readFileSync(f, 'utf8'); } catch { return ''; } }).join('');
  const seen = text.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { details: { i: number } }).details.i);
  assert.equal(seen.length, 500, 'every line parses');
  assert.ok(readFileSync(`${file}.1`, 'utf8').length <= 4096, 'rotated by size');
  const all = await log.query({ limit: 1000 });
  assert.deepEqual(all.map((e) => e.details!.i), Array.from({ length: 500 }, (_, i) => 499 - i), 'newest first');
  await log.close();
});

test('a failed write is logged once and never thrown; what was recorded meanwhile is written when the file can be written again', async () => {
  const sub = mkdtempSync(path.join(dir, 'fail-'));
  const file = path.join(sub, 'audit.jsonl');
  const { logger, lines, subscribe } = capture();
  const log = await AuditLog.open({ file, maxBytes: 1024, keep: 2, logger, retryMinMs: 20 });
  log.record({ action: 'api', identity: 'admin', details: { pad: 'x'.repeat(1000) } });
  await log.flush();
  // Rotation cannot shift the files: a directory with something in it sits where audit.jsonl.1 goes next.
  writeFileSync(`${file}.1`, '');
  mkdirSync(`${file}.2`);
  writeFileSync(path.join(`${file}.2`, 'blocker'), '');
  log.record({ action: 'held', identity: 'admin', details: { n: 1 } });
  log.record({ action: 'held', identity: 'admin', details: { n: 2 } });
  await log.flush();
  const failed = () => lines.filter((l) => String(l.msg).startsWith('audit log write failed')).length;
  assert.equal(failed(), 1);
  log.record({ action: 'held', identity: 'admin', details: { n: 3 } });
  // The retry fails again, and says so only at debug level.
  await waitUntil(() => lines.some((l) => l.msg === 'audit log still not writable' && l.kept === 3) || undefined, { what: 'a later failed try with all three lines', subscribe });
  assert.equal(failed(), 1, 'said once per outage');
  rmSync(`${file}.2`, { recursive: true });
  log.record({ action: 'back', identity: 'admin' });
  await waitUntil(() => lines.some((l) => String(l.msg).startsWith('audit log writable again')) || undefined, { what: 'the kept lines written', subscribe });
  assert.deepEqual((await log.query({ limit: 10 })).map((e) => `${e.action}${e.details?.n ?? ''}`), ['back', 'held3', 'held2', 'held1', 'api']);
  await log.close();
});
