// The file follower under `logs tail -f` and the agent's tailFile, against real files: appends,
// rotation by rename, truncation, a file that appears later, and the abort that ends it.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { appendFileSync, renameSync, writeFileSync } from 'node:fs';
import { appendFile, rename, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { followFile, type FollowFileOptions } from '../../src/util/follow-file.js';
import { tempDir } from '../support/daemon.js';
import { onEvents, waitUntil } from '../support/wait.js';

/** Longer than any wait: only the directory watch and the abort can make a test pass. */
const NO_POLL_MS = 20_000;
const WAIT_MS = 5000;

/** Every follow is ended when the file is done, a failed test's too: its poll would keep the process up. */
const aborts: AbortController[] = [];
after(() => {
  for (const abort of aborts) abort.abort();
});

function abortable(): AbortController {
  const abort = new AbortController();
  aborts.push(abort);
  return abort;
}

/** Follows `file` in the background, keeping every chunk and every open. */
function follow(file: string, from: FollowFileOptions['from'], atStart?: () => void) {
  const abort = abortable();
  const chunks: Buffer[] = [];
  const opens: number[] = [];
  const events = new EventEmitter();
  let started = false;
  let ended = false;
  const done = (async () => {
    const appended = followFile(file, {
      signal: abort.signal,
      from,
      pollMs: NO_POLL_MS,
      onOpen: (position) => {
        opens.push(position);
        events.emit('change');
      },
      onStarted: () => {
        atStart?.();
        started = true;
        events.emit('change');
      },
    });
    for await (const chunk of appended) {
      chunks.push(chunk);
      events.emit('change');
    }
    ended = true;
    events.emit('change');
  })();
  const text = () => Buffer.concat(chunks).toString();
  const until = (what: string, check: () => boolean) =>
    waitUntil(() => check() || undefined, { what, timeoutMs: WAIT_MS, subscribe: onEvents(events, 'change'), describe: () => JSON.stringify(text()) });
  /** Aborts, and sees the follow end without the poll's help. */
  const stop = async () => {
    abort.abort();
    await until('the end of the follow', () => ended);
    await done;
  };
  return { chunks, opens, text, until, stop, started: () => until('the first look', () => started) };
}

describe('followFile', () => {
  test('bytes appended after the start arrive; what the file held is skipped', async () => {
    const file = path.join(tempDir('follow-append'), 'app.log');
    await writeFile(file, 'before\n');
    const f = follow(file, 'end');
    await f.started();
    assert.deepEqual(f.opens, [7]);
    await appendFile(file, 'one\n');
    await f.until('one', () => f.text() === 'one\n');
    await appendFile(file, 'two, no newline');
    await f.until('two', () => f.text() === 'one\ntwo, no newline');
    await f.stop();
  });

  test('from a byte offset; chunks handed on stay as they were read', async () => {
    const file = path.join(tempDir('follow-offset'), 'app.log');
    // Several reads' worth, each byte telling where it stands.
    const content = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7) % 251));
    await writeFile(file, content);
    const f = follow(file, 1000);
    await f.until('the whole file from the offset', () => Buffer.concat(f.chunks).length === content.length - 1000);
    assert.ok(f.chunks.length > 1, `${f.chunks.length} chunks`);
    assert.ok(Buffer.concat(f.chunks).equals(content.subarray(1000)));
    await f.stop();
  });

  test('rotation by rename: the old file is read to its end, then the new file from its start', async () => {
    const file = path.join(tempDir('follow-rotate'), 'app.log');
    await writeFile(file, 'old\n');
    const f = follow(file, 'end');
    await f.started();
    await appendFile(file, 'one\n');
    await f.until('one', () => f.text() === 'one\n');
    await rename(file, `${file}.1`);
    await appendFile(`${file}.1`, 'two\n'); // the writer has not reopened yet
    await writeFile(file, 'three\n');
    await f.until('two, then three', () => f.text() === 'one\ntwo\nthree\n');
    assert.deepEqual(f.opens, [4, 0]);
    await appendFile(file, 'four\n');
    await f.until('four, from the new file', () => f.text() === 'one\ntwo\nthree\nfour\n');
    await f.stop();
  });

  test('rotated before the follower looks: the bytes the old file got first still come first', async () => {
    const file = path.join(tempDir('follow-rotate-unseen'), 'app.log');
    await writeFile(file, 'old\n');
    // Synchronous, within the first look: the follower next sees the new file and an old one it has not read to its end.
    const f = follow(file, 'end', () => {
      appendFileSync(file, 'last of the old\n');
      renameSync(file, `${file}.1`);
      writeFileSync(file, 'new\n');
    });
    await f.until('the old file, then the new', () => f.text() === 'last of the old\nnew\n');
    assert.deepEqual(f.opens, [4, 0]);
    await f.stop();
  });

  test('from a function: it reads the file that is then followed, so a rotation right after loses nothing', async () => {
    const file = path.join(tempDir('follow-from-fn'), 'app.log');
    await writeFile(file, 'a\nb\n');
    const f = follow(file, async (fh, size) => {
      const head = Buffer.alloc(size);
      await fh.read(head, 0, size, 0);
      // Rotated between reading the head and following: the old file's last line still comes.
      appendFileSync(file, 'c\n');
      renameSync(file, `${file}.1`);
      writeFileSync(file, 'new\n');
      return { position: size, first: head };
    });
    await f.until('the head, the old file to its end, then the new', () => f.text() === 'a\nb\nc\nnew\n');
    assert.deepEqual(f.opens, [4, 0]);
    await f.stop();
  });

  test('a truncated file is read again from its start', async () => {
    const file = path.join(tempDir('follow-truncate'), 'app.log');
    await writeFile(file, `${'x'.repeat(60)}\n`);
    const f = follow(file, 'end');
    await f.started();
    await appendFile(file, 'before\n');
    await f.until('before', () => f.text() === 'before\n');
    await truncate(file, 0);
    await appendFile(file, 'after\n');
    await f.until('the line after truncation', () => f.text() === 'before\nafter\n');
    assert.deepEqual(f.opens, [61], 'the same file, not opened again');
    await f.stop();
  });

  test('a file that does not exist yet is waited for and read from its start', async () => {
    const file = path.join(tempDir('follow-later'), 'later.log');
    const f = follow(file, 'end');
    await f.started();
    assert.deepEqual(f.opens, []);
    await writeFile(file, 'first\n');
    await f.until('the new file', () => f.text() === 'first\n');
    assert.deepEqual(f.opens, [0]);
    await appendFile(file, 'second\n');
    await f.until('a line appended', () => f.text() === 'first\nsecond\n');
    await f.stop();
  });

  test('an abort ends it, while it waits and while the consumer holds a chunk', async () => {
    const file = path.join(tempDir('follow-abort'), 'app.log');
    await writeFile(file, '');
    const waiting = follow(file, 'end');
    await waiting.started();
    await waiting.stop();

    await writeFile(file, 'held\n');
    const abort = abortable();
    const appended = followFile(file, { signal: abort.signal, from: 0, pollMs: NO_POLL_MS });
    try {
      assert.equal((await appended.next()).value?.toString(), 'held\n');
      abort.abort();
      await appendFile(file, 'after the abort\n');
      assert.deepEqual(await appended.next(), { done: true, value: undefined });
    } finally {
      await appended.return(undefined);
    }
  });

  test('a directory is refused', async () => {
    const dir = tempDir('follow-dir');
    const appended = followFile(dir, { signal: abortable().signal, from: 0, pollMs: NO_POLL_MS });
    await assert.rejects(appended.next(), { message: `${dir}: is a directory` });
  });
});
