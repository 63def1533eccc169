import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import pino from 'pino';
import { ConsoleLogFile, logFiles, logPath } from '../../src/outputs/log-file.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'sb-logs-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const logger = pino({ level: 'silent' });

test('a node name can never leave the log directory', () => {
  assert.equal(logPath(dir, 'n1'), path.join(dir, 'n1.log'));
  for (const bad of ['../etc/passwd', '..', '.hidden', 'a/b', 'nul\0byte', '', 'x'.repeat(64), '/abs']) {
    assert.throws(() => logPath(dir, bad), /refusing log path/, bad);
  }
});

test('rotates by size, keeping the configured number of files, newest as .1', async () => {
  const sub = mkdtempSync(path.join(dir, 'rot-'));
  const log = new ConsoleLogFile('n1', { dir: sub, maxBytes: 1024, keep: 2, timestamps: false }, logger);
  const stream = (log as unknown as { stream: NodeJS.EventEmitter }).stream;
  for (let i = 0; i < 5; i++) {
    log.write(Buffer.from(`${String(i).repeat(1023)}\n`));
    await once(stream, 'rotated');
  }
  log.write(Buffer.from('live\n'));
  await log.close();
  const files = readdirSync(sub).sort();
  assert.deepEqual(files, ['n1.log', 'n1.log.1', 'n1.log.2']);
  assert.equal(readFileSync(path.join(sub, 'n1.log'), 'utf8'), 'live\n');
  assert.match(readFileSync(path.join(sub, 'n1.log.1'), 'utf8'), /^4{1023}\n$/);
  assert.match(readFileSync(path.join(sub, 'n1.log.2'), 'utf8'), /^3{1023}\n$/);
  assert.deepEqual(logFiles(sub, 'n1', 2), ['n1.log', 'n1.log.1', 'n1.log.2'].map((f) => path.join(sub, f)));
});

test('optional timestamps prefix every line, also across chunk boundaries', async () => {
  const sub = mkdtempSync(path.join(dir, 'ts-'));
  const log = new ConsoleLogFile('n2', { dir: sub, maxBytes: 1 << 20, keep: 1, timestamps: true }, logger);
  log.write(Buffer.from('first li'));
  log.write(Buffer.from('ne\nsecond\nthi'));
  log.write(Buffer.from('rd\n'));
  await log.close();
  const lines = readFileSync(path.join(sub, 'n2.log'), 'utf8').split('\n').filter(Boolean);
  assert.equal(lines.length, 3);
  for (const [i, text] of ['first line', 'second', 'third'].entries()) assert.match(lines[i], new RegExp(`^\\[\\d{4}-\\d\\d-\\d\\dT[^\\]]+Z\\] ${text}$`));
});

test('timestamps keep every byte of the console as it came, binary and UTF-8 alike', async () => {
  const sub = mkdtempSync(path.join(dir, 'ts-bin-'));
  const log = new ConsoleLogFile('n3', { dir: sub, maxBytes: 1 << 20, keep: 1, timestamps: true }, logger);
  const chunks = [Buffer.from([0xff, 0xfe, 0x00, 0x1b, 0x5b, 0x6d, 0x0a, 0x80]), Buffer.from('é\r\nü—\n'), Buffer.from([0x0a, 0x0a, 0xc3])];
  for (const c of chunks) log.write(c);
  await log.close();
  const stamp = /\[\d{4}-\d\d-\d\dT[\d:.]+Z\] /g;
  const written = readFileSync(path.join(sub, 'n3.log'));
  // Six lines began, each got one stamp, and the bytes between are the console's.
  assert.equal(written.toString('latin1').match(stamp)?.length, 6);
  assert.deepEqual(Buffer.from(written.toString('latin1').replace(stamp, ''), 'latin1'), Buffer.concat(chunks));
});
