// The streaming methods against real processes and files: cliCommandCont's output in batches of
// whole lines while the command runs, and tailFile following appends, truncation and rotation.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { appendFileSync, existsSync, readFileSync, watch } from 'node:fs';
import { appendFile, mkdir, rename, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type { TextChunk } from '../../src/fleet/methods/chunk-delivery.js';
import { streamCommand, type CommandChunk } from '../../src/fleet/methods/cli-command-cont.js';
import { runCommand } from '../../src/fleet/methods/cli-command.js';
import { tailFile } from '../../src/fleet/methods/tail-file.js';
import { tempDir } from '../support/daemon.js';
import { isAlive } from '../support/processes.js';
import { onEvents, waitUntil } from '../support/wait.js';

/** PIDs the commands under test started; any still running when the file ends are killed. */
const started = new Set<number>();
after(() => {
  for (const pid of started) if (!gone(pid)) process.kill(pid, 'SIGKILL');
});

/** Dead: no such process, or a zombie waiting for its new parent to reap it. */
function gone(pid: number): boolean {
  if (!isAlive(pid)) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z';
  } catch {
    return true;
  }
}

/**
 * The group's pipes close while a killed process is still exiting, and no event says when a
 * process that is not our child has died: look every few ms, for a short while.
 */
async function assertGone(...pids: number[]): Promise<void> {
  await waitUntil(() => pids.every(gone) || undefined, {
    what: `processes ${pids.join(', ')} gone`,
    timeoutMs: 3000,
    subscribe: (wake) => {
      const t = setInterval(wake, 10);
      return () => clearInterval(t);
    },
    describe: () => pids.filter((pid) => !gone(pid)).join(', ') + ' still running',
  });
  for (const pid of pids) started.delete(pid);
}

/** Chunks as they arrive, and a way to wait for enough of them. */
function collector<C extends TextChunk & { stream?: string }>() {
  const chunks: C[] = [];
  const events = new EventEmitter();
  const text = (stream?: string) => chunks.filter((c) => !stream || c.stream === stream).map((c) => c.text).join('');
  return {
    chunks,
    text,
    onChunk: (chunk: C) => {
      chunks.push(chunk);
      events.emit('chunk');
    },
    until: (what: string, check: () => boolean) =>
      waitUntil(() => check() || undefined, { what, subscribe: onEvents(events, 'chunk'), describe: () => JSON.stringify(text()).slice(0, 300) }),
  };
}

/** The PIDs a script prints one per line first (e.g. `echo $$; sleep 60 & echo $!`), tracked for cleanup. */
async function printedPids(c: ReturnType<typeof collector<CommandChunk>>, n: number): Promise<number[]> {
  await c.until(`${n} PIDs`, () => c.text('stdout').split('\n').length > n);
  const pids = c.text('stdout').split('\n').slice(0, n).map(Number);
  for (const pid of pids) started.add(pid);
  return pids;
}

const numbers = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `${from + i}\n`).join('');
// The sleep does not hold the pipes: only the group kill can end it before the test sees 'close'.
const GROUP_SCRIPT = 'echo $$; sleep 60 >/dev/null 2>&1 & echo $!; wait';

describe('streamCommand (cliCommandCont)', () => {
  test('lines arrive in order and complete, each chunk whole lines, and the exit code at the end', async () => {
    const c = collector<CommandChunk>();
    const r = await streamCommand(['sh', '-c', 'for i in $(seq 1 2000); do echo $i; done; exit 3'], { timeoutMs: 20_000, onChunk: c.onChunk });
    assert.deepEqual(r, { exitCode: 3, signal: null, timedOut: false, aborted: false });
    assert.equal(c.text('stdout'), numbers(1, 2000));
    for (const chunk of c.chunks) {
      assert.equal(chunk.stream, 'stdout');
      assert.ok(chunk.text.endsWith('\n'), 'whole lines');
      assert.equal(chunk.dropped, undefined);
    }
  });

  test('10k lines printed at once come in a few chunks of at most 32 KiB', async () => {
    const c = collector<CommandChunk>();
    const r = await streamCommand(['seq', '1', '10000'], { timeoutMs: 20_000, onChunk: c.onChunk });
    assert.equal(r.exitCode, 0);
    assert.equal(c.text('stdout'), numbers(1, 10_000));
    assert.ok(c.chunks.length <= 5, `${c.chunks.length} chunks`);
    for (const chunk of c.chunks) assert.ok(Buffer.byteLength(chunk.text) <= 32 * 1024);
  });

  test('lines trickling in are batched: at most one chunk per flushMs', async () => {
    const c = collector<CommandChunk>();
    // 200 lines, one every 2 ms: some 400 ms of output.
    const script = 'let i = 0; const t = setInterval(() => { console.log(++i); if (i === 200) clearInterval(t); }, 2);';
    const t0 = Date.now();
    const r = await streamCommand([process.execPath, '-e', script], { timeoutMs: 20_000, flushMs: 100, onChunk: c.onChunk });
    const elapsed = Date.now() - t0;
    assert.equal(r.exitCode, 0);
    assert.equal(c.text('stdout'), numbers(1, 200));
    // One chunk per flushMs while it runs, and the rest at the exit.
    assert.ok(c.chunks.length >= 2 && c.chunks.length <= Math.floor(elapsed / 100) + 1, `${c.chunks.length} chunks in ${elapsed} ms`);
  });

  test('a last line without its newline is sent once the output is idle, while the command runs', async () => {
    const c = collector<CommandChunk>();
    const abort = new AbortController();
    const run = streamCommand(['sh', '-c', 'printf "pid %s" $$; exec sleep 60'], { timeoutMs: 20_000, flushMs: 50, signal: abort.signal, onChunk: c.onChunk });
    await c.until('the partial line', () => /^pid \d+$/.test(c.text()));
    const pid = Number(c.text().slice(4));
    started.add(pid);
    assert.equal(c.chunks.length, 1);
    abort.abort();
    const r = await run;
    assert.equal(r.aborted, true);
    await assertGone(pid);
  });

  test('stdout and stderr come in separate chunks, each in order', async () => {
    const c = collector<CommandChunk>();
    const r = await streamCommand(['sh', '-c', 'echo out1; echo err1 >&2; echo out2; echo err2 >&2; printf tail >&2'], { timeoutMs: 20_000, onChunk: c.onChunk });
    assert.equal(r.exitCode, 0);
    assert.equal(c.text('stdout'), 'out1\nout2\n');
    assert.equal(c.text('stderr'), 'err1\nerr2\ntail');
    assert.ok(c.chunks.every((chunk) => chunk.stream === 'stdout' || chunk.stream === 'stderr'));
  });

  test('a line longer than maxLineBytes is cut, never inside a UTF-8 character', async () => {
    const c = collector<CommandChunk>();
    const script = "process.stdout.write('é'.repeat(3000) + '\\n' + 'x'.repeat(100000) + '\\nend\\n')";
    const r = await streamCommand([process.execPath, '-e', script], { timeoutMs: 20_000, maxLineBytes: 999, onChunk: c.onChunk });
    assert.equal(r.exitCode, 0);
    assert.equal(c.text(), `${'é'.repeat(3000)}\n${'x'.repeat(100000)}\nend\n`);
    assert.ok(c.chunks.every((chunk) => !chunk.text.includes('\ufffd')));
    assert.ok(c.chunks.length >= 4, `${c.chunks.length} chunks`); // 106 KB in batches of at most 32 KiB
  });

  test('methodTimeout kills the whole process group: the shell and the sleep it started', async () => {
    const c = collector<CommandChunk>();
    const t0 = Date.now();
    const run = streamCommand(['sh', '-c', GROUP_SCRIPT], { timeoutMs: 800, onChunk: c.onChunk });
    const [sh, sleep] = await printedPids(c, 2);
    const r = await run;
    assert.deepEqual(r, { exitCode: null, signal: 'SIGKILL', timedOut: true, aborted: false });
    assert.ok(Date.now() - t0 >= 750);
    await assertGone(sh, sleep);
  });

  test('an abort kills the whole process group and the output so far is delivered', async () => {
    const c = collector<CommandChunk>();
    const abort = new AbortController();
    const run = streamCommand(['sh', '-c', GROUP_SCRIPT], { timeoutMs: 20_000, signal: abort.signal, onChunk: c.onChunk });
    const [sh, sleep] = await printedPids(c, 2);
    abort.abort();
    const r = await run;
    assert.deepEqual(r, { exitCode: null, signal: 'SIGKILL', timedOut: false, aborted: true });
    assert.equal(c.text('stdout'), `${sh}\n${sleep}\n`);
    await assertGone(sh, sleep);
  });

  test('an abort before the start runs nothing', async () => {
    const c = collector<CommandChunk>();
    const r = await streamCommand(['sh', '-c', 'echo ran'], { timeoutMs: 20_000, signal: AbortSignal.abort(), onChunk: c.onChunk });
    assert.deepEqual(r, { exitCode: null, signal: null, timedOut: false, aborted: true });
    assert.equal(c.chunks.length, 0);
  });

  test('a slow receiver: onChunk is not called again before its Promise settles; past the cap the oldest output is dropped and counted', async () => {
    const dir = tempDir('stream-backlog');
    const marker = path.join(dir, 'seq-done');
    const chunks: CommandChunk[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const onChunk = async (chunk: CommandChunk) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      chunks.push(chunk);
      // The first reply is slow: it is not done until the command has written all its output.
      if (chunks.length === 1) await waitForFile(marker);
      else await Promise.resolve();
      inFlight--;
    };
    const r = await streamCommand(['sh', '-c', 'seq 1 1000000; touch "$0"', marker], { timeoutMs: 60_000, onChunk });
    assert.equal(r.exitCode, 0);
    assert.equal(maxInFlight, 1);
    const expected = numbers(1, 1_000_000);
    const delivered = chunks.reduce((n, c) => n + Buffer.byteLength(c.text), 0);
    const dropped = chunks.reduce((n, c) => n + (c.dropped ?? 0), 0);
    assert.ok(dropped > 0, 'some output was dropped');
    assert.ok(dropped <= expected.length - 4 * 1024 * 1024 + 32 * 1024, `dropped ${dropped}: no more than went past the 4 MiB backlog`);
    assert.equal(delivered + dropped, expected.length);
    const lines = chunks.map((c) => c.text).join('').trimEnd().split('\n').map(Number);
    assert.equal(lines[0], 1);
    assert.equal(lines.at(-1), 1_000_000);
    assert.ok(lines.every((n, i) => Number.isInteger(n) && (i === 0 || n > lines[i - 1])), 'whole lines, in order');
  });

  test('an onChunk that throws ends the command and is reported', async () => {
    const pids: number[] = [];
    const r = await streamCommand(['sh', '-c', 'echo $$; exec sleep 60'], {
      timeoutMs: 20_000,
      onChunk: (chunk) => {
        pids.push(Number(chunk.text));
        started.add(pids[0]);
        throw new Error('reply subject gone');
      },
    });
    assert.deepEqual(r, { exitCode: null, signal: 'SIGKILL', timedOut: false, aborted: false, deliveryError: 'reply subject gone' });
    await assertGone(pids[0]);
  });

  test('a program that cannot be started, or no program, is a spawnError', async () => {
    const c = collector<CommandChunk>();
    const missing = await streamCommand(['/nonexistent/program'], { timeoutMs: 20_000, onChunk: c.onChunk });
    assert.match(missing.spawnError ?? '', /^\/nonexistent\/program: ENOENT$/);
    const none = await streamCommand([], { timeoutMs: 20_000, onChunk: c.onChunk });
    assert.match(none.spawnError ?? '', /no command given/);
    assert.equal(c.chunks.length, 0);
  });
});

describe('runCommand (cliCommand) on the shared process-group runner', () => {
  test('collects stdout and stderr and the exit code', async () => {
    const r = await runCommand(['sh', '-c', 'echo out; echo err >&2; exit 2'], { timeoutMs: 20_000 });
    assert.deepEqual(r, { exitCode: 2, signal: null, stdout: 'out\n', stderr: 'err\n', truncated: false, timedOut: false });
  });

  test('methodTimeout kills the whole process group', async () => {
    const r = await runCommand(['sh', '-c', GROUP_SCRIPT], { timeoutMs: 500 });
    const pids = r.stdout.trim().split('\n').map(Number);
    for (const pid of pids) started.add(pid);
    assert.equal(pids.length, 2);
    assert.equal(r.timedOut, true);
    await assertGone(...pids);
  });

  test('output past the cap is cut and says so', async () => {
    const r = await runCommand(['sh', '-c', 'head -c 300000 /dev/zero'], { timeoutMs: 20_000 });
    assert.equal(r.stdout.length, 256 * 1024);
    assert.equal(r.truncated, true);
  });
});

function waitForFile(file: string): Promise<true> {
  return waitUntil(() => existsSync(file) || undefined, {
    what: file,
    subscribe: (wake) => {
      const w = watch(path.dirname(file), wake);
      return () => w.close();
    },
  });
}

/** A tail that resolves `opened` each time it opens a file at the path. */
function startTail(file: string, opts: { timeoutMs?: number; fromEnd?: boolean; pollMs?: number; onStarted?: () => void } = {}) {
  const c = collector<TextChunk>();
  const abort = new AbortController();
  const opens: { path: string; position: number }[] = [];
  const events = new EventEmitter();
  const result = tailFile(file, {
    timeoutMs: opts.timeoutMs ?? 20_000,
    signal: abort.signal,
    flushMs: 20,
    ...(opts.fromEnd !== undefined && { fromEnd: opts.fromEnd }),
    ...(opts.pollMs !== undefined && { pollMs: opts.pollMs }),
    ...(opts.onStarted && { onStarted: opts.onStarted }),
    onChunk: c.onChunk,
    onOpen: (o) => {
      opens.push(o);
      events.emit('open');
    },
  });
  const opened = (n: number) => waitUntil(() => opens.length >= n || undefined, { what: `${n} opens of ${file}`, subscribe: onEvents(events, 'open') });
  return { ...c, abort, opens, opened, result };
}

describe('tailFile', () => {
  test('only lines appended after the start are sent; a relative path is from the working directory', async () => {
    const file = path.join(tempDir('tail-new'), 'app.log');
    await writeFile(file, 'before 1\nbefore 2\n');
    const t = startTail(path.relative(process.cwd(), file));
    await t.opened(1);
    assert.deepEqual(t.opens, [{ path: file, position: 18 }]);
    await appendFile(file, 'after 1\n');
    await appendFile(file, 'after 2\n');
    await t.until('the appended lines', () => t.text() === 'after 1\nafter 2\n');
    await appendFile(file, 'no newline yet');
    await t.until('the partial line, once idle', () => t.text().endsWith('no newline yet'));
    t.abort.abort();
    assert.deepEqual(await t.result, { reason: 'aborted', bytes: 30, lines: 2 });
  });

  test('once it says it started (the agent\'s `running`), a line appended at once is not missed, whether the file exists or not', async () => {
    const file = path.join(tempDir('tail-started'), 'app.log');
    await writeFile(file, 'before\n');
    const t = startTail(file, { onStarted: () => appendFileSync(file, 'right after the start\n') });
    await t.until('the line appended at the start', () => t.text() === 'right after the start\n');
    t.abort.abort();
    await t.result;
    const missing = path.join(tempDir('tail-started-missing'), 'later.log');
    const m = startTail(missing, { onStarted: () => appendFileSync(missing, 'created right after the start\n') });
    await m.until('the new file read whole', () => m.text() === 'created right after the start\n');
    m.abort.abort();
    await m.result;
  });

  test('fromEnd false sends what the file holds first', async () => {
    const file = path.join(tempDir('tail-whole'), 'app.log');
    await writeFile(file, 'line 1\n');
    const t = startTail(file, { fromEnd: false });
    await t.until('the existing line', () => t.text() === 'line 1\n');
    t.abort.abort();
    assert.equal((await t.result).lines, 1);
  });

  test('a burst of 10k lines comes complete in a few chunks', async () => {
    const file = path.join(tempDir('tail-burst'), 'app.log');
    await writeFile(file, '');
    const t = startTail(file);
    await t.opened(1);
    const expected = numbers(1, 10_000);
    await appendFile(file, expected);
    await t.until('10k lines', () => t.text().length === expected.length);
    assert.equal(t.text(), expected);
    assert.ok(t.chunks.length <= 5, `${t.chunks.length} chunks`);
    t.abort.abort();
    assert.deepEqual(await t.result, { reason: 'aborted', bytes: expected.length, lines: 10_000 });
  });

  test('a truncated file is read again from its start', async () => {
    const file = path.join(tempDir('tail-truncate'), 'app.log');
    await writeFile(file, `${'x'.repeat(60)}\n`);
    const t = startTail(file);
    await t.opened(1);
    await appendFile(file, 'before truncation\n');
    await t.until('the first line', () => t.text() === 'before truncation\n');
    await truncate(file, 0);
    await appendFile(file, 'after\n');
    await t.until('the line after truncation', () => t.text() === 'before truncation\nafter\n');
    await appendFile(file, 'more\n');
    await t.until('the next line', () => t.text().endsWith('after\nmore\n'));
    t.abort.abort();
    assert.equal((await t.result).reason, 'aborted');
  });

  test('rotation: the renamed file is drained, then the new file is read from its start', async () => {
    const dir = tempDir('tail-rotate');
    const file = path.join(dir, 'app.log');
    await writeFile(file, 'old\n');
    const t = startTail(file);
    await t.opened(1);
    await appendFile(file, 'one\n');
    await t.until('one', () => t.text() === 'one\n');
    await rename(file, `${file}.1`);
    await appendFile(`${file}.1`, 'two\n'); // the writer has not reopened yet
    await writeFile(file, 'three\n');
    await t.until('two, then three', () => t.text() === 'one\ntwo\nthree\n');
    assert.deepEqual(t.opens, [{ path: file, position: 4 }, { path: file, position: 0 }]);
    await appendFile(file, 'four\n');
    await t.until('four', () => t.text().endsWith('three\nfour\n'));
    t.abort.abort();
    assert.deepEqual(await t.result, { reason: 'aborted', bytes: 19, lines: 4 });
  });

  test('it ends at methodTimeout', async () => {
    const file = path.join(tempDir('tail-timeout'), 'app.log');
    await writeFile(file, 'old\n');
    const t0 = Date.now();
    const t = startTail(file, { timeoutMs: 300 });
    assert.deepEqual(await t.result, { reason: 'timeout', bytes: 0, lines: 0 });
    assert.ok(Date.now() - t0 >= 290, `${Date.now() - t0} ms`);
    assert.equal(t.chunks.length, 0);
  });

  test('a file that does not exist yet is waited for and read whole when it appears', async () => {
    const file = path.join(tempDir('tail-later'), 'later.log');
    const t = startTail(file);
    await writeFile(file, 'first\nsecond\n');
    await t.until('the new file', () => t.text() === 'first\nsecond\n');
    assert.deepEqual(t.opens, [{ path: file, position: 0 }]);
    t.abort.abort();
    assert.deepEqual(await t.result, { reason: 'aborted', bytes: 13, lines: 2 });
  });

  test('a file in a directory made later is found by the poll', async () => {
    const sub = path.join(tempDir('tail-later-dir'), 'sub');
    const file = path.join(sub, 'later.log');
    const t = startTail(file, { pollMs: 50 });
    await mkdir(sub);
    await writeFile(file, 'hello\n');
    await t.until('the new file', () => t.text() === 'hello\n');
    await appendFile(file, 'again\n');
    await t.until('a line appended', () => t.text() === 'hello\nagain\n');
    t.abort.abort();
    assert.equal((await t.result).reason, 'aborted');
  });

  test('a file that never appears ends at the timeout as notFound', async () => {
    const file = path.join(tempDir('tail-never'), 'never.log');
    const t = startTail(file, { timeoutMs: 200 });
    assert.deepEqual(await t.result, { reason: 'timeout', bytes: 0, lines: 0, notFound: true });
  });

  test('an onChunk that rejects ends the tail with an error', async () => {
    const file = path.join(tempDir('tail-receiver'), 'app.log');
    await writeFile(file, 'line 1\n');
    const r = await tailFile(file, { timeoutMs: 20_000, fromEnd: false, onChunk: () => Promise.reject(new Error('reply subject gone')) });
    assert.deepEqual(r, { reason: 'error', bytes: 7, lines: 1, error: 'onChunk: reply subject gone' });
  });

  test('a directory is refused at once', async () => {
    const dir = tempDir('tail-dir');
    const t = startTail(dir);
    assert.deepEqual(await t.result, { reason: 'error', bytes: 0, lines: 0, error: `${dir}: is a directory` });
  });
});
