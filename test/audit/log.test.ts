// AuditLog on its own: many writers at once never interleave a line, the rotated files stay
// searchable, and a write that fails is logged and retried, never thrown.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import pino from 'pino';
import { AuditLog } from '../../src/audit/index.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'sb-audit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(new Writable({ write(chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString())); done(); } }));
  return { logger, lines };
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

test('a failed write is logged once and never thrown; the log writes again when it can', async () => {
  const sub = mkdtempSync(path.join(dir, 'fail-'));
  const file = path.join(sub, 'audit.jsonl');
  const { logger, lines } = capture();
  const log = await AuditLog.open({ file, maxBytes: 1024, keep: 2, logger });
  log.record({ action: 'api', identity: 'admin', details: { pad: 'x'.repeat(1000) } });
  await log.flush();
  // Rotation cannot shift the files: a directory with something in it sits where audit.jsonl.1 goes next.
  writeFileSync(`${file}.1`, '');
  mkdirSync(`${file}.2`);
  writeFileSync(path.join(`${file}.2`, 'blocker'), '');
  log.record({ action: 'lost', identity: 'admin' });
  log.record({ action: 'lost', identity: 'admin' });
  await log.flush();
  log.record({ action: 'lost', identity: 'admin' });
  await log.flush();
  assert.equal(lines.filter((l) => l.msg === 'audit log write failed').length, 1, 'said once per outage');
  rmSync(`${file}.2`, { recursive: true });
  log.record({ action: 'back', identity: 'admin' });
  await log.flush();
  assert.ok(lines.some((l) => l.msg === 'audit log writable again'));
  assert.deepEqual((await log.query({ limit: 10 })).map((e) => e.action), ['back', 'api']);
  await log.close();
});
