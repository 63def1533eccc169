import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EscapeParser, type EscapeAction } from '../../src/console/escape.js';

const feedAll = (p: EscapeParser, ...chunks: string[]): EscapeAction[] => chunks.flatMap((c) => p.feed(Buffer.from(c, 'latin1')));
const summary = (actions: EscapeAction[]) =>
  actions.map((a) => (a.type === 'data' || a.type === 'echo' ? `${a.type}:${a.data.toString('latin1')}` : a.type === 'note' ? `note:${a.text}` : a.type === 'break' ? `break:${a.sequence}` : a.type));

test('plain typing passes through untouched', () => {
  assert.deepEqual(summary(new EscapeParser().feed(Buffer.from('ls -l\r'))), ['data:ls -l\r']);
});

test('Ctrl-E c . detaches, with data before and after kept in order', () => {
  assert.deepEqual(summary(new EscapeParser().feed(Buffer.from('ab\x05c.cd'))), ['data:ab', 'detach', 'data:cd']);
});

test('an escape split across reads is still recognised', () => {
  const p = new EscapeParser();
  assert.deepEqual(summary(feedAll(p, 'x\x05', 'c', 'w')), ['data:x', 'who']);
  assert.equal(p.pending, false);
});

test('every command letter maps to its action', () => {
  const p = new EscapeParser();
  assert.deepEqual(summary(feedAll(p, '\x05c?', '\x05cs', '\x05ca', '\x05cf', '\x05cr')), ['help', 'spy', 'attach', 'force', 'replay']);
});

test('Ctrl-E followed by anything but c goes to the console as typed', () => {
  assert.deepEqual(summary(new EscapeParser().feed(Buffer.from('\x05x'))), ['data:\x05', 'data:x']);
  assert.deepEqual(summary(new EscapeParser().feed(Buffer.from('\x05\x05c.'))), ['data:\x05', 'detach']);
});

test('l0-l9 send break sequences; other letters are unknown', () => {
  assert.deepEqual(summary(new EscapeParser().feed(Buffer.from('\x05cl3\x05clx\x05cz'))), ['break:3', 'unknown', 'unknown']);
});

test('n collects an operator note up to Enter, echoing it and honouring backspace', () => {
  const p = new EscapeParser();
  const actions = feedAll(p, '\x05cn', 'disk', 'x\x7f swap\r', 'after');
  assert.deepEqual(summary(actions).filter((s) => !s.startsWith('echo')), ['note-start', 'note:disk swap', 'data:after']);
  assert.ok(summary(actions).includes('echo:\b \b'));
});

test('Ctrl-C cancels a note', () => {
  assert.deepEqual(summary(new EscapeParser().feed(Buffer.from('\x05cnab\x03z'))).filter((s) => !s.startsWith('echo')), ['note-start', 'cancelled', 'data:z']);
});
