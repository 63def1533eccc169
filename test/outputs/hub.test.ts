// The output hub in this process, with its lines' thread and a real TCP receiver: when the thread
// falls behind, console chunks are skipped and counted instead of piling up, and what does reach
// the sink is still whole lines in order, never two lines glued across the skipped bytes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { OutputHub, type OutputHubOptions } from '../../src/outputs/hub.js';
import { tcpReceiver } from '../support/record-receivers.js';

/** A hub of the given outputs whose sessions have no log file and nodes no labels. */
function hubWith(opts: Pick<OutputHubOptions, 'outputs' | 'logger' | 'maxBehindBytes'>): Promise<OutputHub> {
  return OutputHub.create({ maxLineBytes: 4096, idleFlushMs: 50, openLog: () => ({ write() {}, close: async () => {} }), labelsOf: () => ({}), ...opts });
}

const LINE_X = 'x'.repeat(60);

/** Chunk k: the end of the line chunk k-1 began ("P<k-1> x" + "y<k>"), 1,000 whole lines, and the start of the next. */
function chunk(k: number): Buffer {
  let text = k === 0 ? '' : `y${k}\n`;
  for (let i = 0; i < 1000; i++) text += `L${k * 1000 + i} ${LINE_X}\n`;
  return Buffer.from(`${text}P${k} x`);
}

test("a lines' thread that falls behind skips chunks, counted; the sink still gets whole lines in order, none glued across a skip", async () => {
  const receiver = await tcpReceiver();
  const hub = await hubWith({
    outputs: [{ name: 'r', type: 'tcp', address: `127.0.0.1:${receiver.port}`, maxQueued: 1_000_000 }],
    logger: pino({ level: 'silent' }),
    maxBehindBytes: 256 * 1024,
  });
  try {
    const out = hub.open('n1');
    const chunks = 300; // 20 MB in one turn of the event loop: far more than the thread takes in meanwhile
    for (let k = 0; k < chunks; k++) out.write(chunk(k));
    assert.ok(hub.skippedBytes > 0, 'some chunks were skipped');
    // A stats answer comes after every message sent before it: the thread has caught up.
    await hub.stats();
    out.write(Buffer.from(`y${chunks}\nEND\n`));
    await receiver.got.waitFor((r) => r.message === 'END', 'the line written after the thread caught up');

    const lines = receiver.got.lines('n1');
    const whole = lines.filter((l) => /^L\d+ x{60}$/.test(l)).map((l) => Number(l.slice(1, l.indexOf(' '))));
    assert.ok(whole.length >= 1000, `the chunks that went over were shipped (${whole.length} lines)`);
    assert.ok(whole.length < chunks * 1000, 'not every line was shipped');
    assert.deepEqual(whole, [...whole].sort((a, b) => a - b), 'in order');
    // Every record is one line or a piece of one cut off by a skip, never two lines run together:
    // a line begun in one chunk is finished only by the chunk that followed it.
    for (const l of lines) {
      assert.match(l, /^(?:L\d+ x{60}|P\d+ x|y\d+|P\d+ xy\d+|END)$/);
      const m = /^P(\d+) xy(\d+)$/.exec(l);
      if (m) assert.equal(Number(m[2]), Number(m[1]) + 1, `${l}: two lines glued across skipped bytes`);
    }
  } finally {
    await hub.close();
  }
});

test("a backlog the lines' thread works through in one go reaches a sink that keeps up, nothing dropped", async () => {
  // The thread takes a pile of chunks in one turn of its event loop; a sink that wrote only at the
  // end of that turn would see them all queued at once, past its bound, and drop records the
  // receiver had room for.
  const receiver = await tcpReceiver();
  let onConnected!: () => void;
  const connected = new Promise<void>((resolve) => (onConnected = resolve));
  const hub = await hubWith({
    outputs: [{ name: 'r', type: 'tcp', address: `127.0.0.1:${receiver.port}`, maxQueued: 2000 }],
    logger: pino({ level: 'info' }, { write: (line: string) => line.includes('output connected') && onConnected() }),
  });
  try {
    await connected;
    const out = hub.open('n1');
    const chunks = 20; // 20,000 lines, ten times what the sink may hold, in one turn of this thread
    for (let k = 0; k < chunks; k++) out.write(chunk(k));
    out.write(Buffer.from(`y${chunks}\nEND\n`));
    await receiver.got.waitFor((r) => r.message === 'END', 'the last line');
    const [stats] = await hub.stats();
    assert.equal(stats.dropped, 0, 'records dropped');
    const whole = receiver.got.lines('n1').filter((l) => /^L\d+ x{60}$/.test(l));
    assert.equal(whole.length, chunks * 1000);
  } finally {
    await hub.close();
  }
});


test("a lines' thread that fails as it starts is replaced with backoff, not in a loop, and the hub still answers and closes", async () => {
  // An output the config check would refuse (the URL does not parse) makes the thread fail as it opens its sinks.
  const ended: number[] = [];
  let fourth!: () => void;
  const fourthEnd = new Promise<void>((resolve) => (fourth = resolve));
  const hub = await hubWith({
    outputs: [{ name: 'broken', type: 'nats', url: 'nats://[' }],
    logger: pino({ level: 'warn' }, {
      write: (line: string) => {
        if (!line.includes('output sink thread ended')) return;
        ended.push(performance.now());
        if (ended.length === 4) fourth();
      },
    }),
  });
  try {
    await fourthEnd;
    // Replaced after 250 ms, 500 ms, then 1 s: each gap at least that (a thread's own start, a few
    // hundred ms under tsx, adds to it).
    ended.slice(1).forEach((t, i) => {
      const wait = 250 * 2 ** i;
      assert.ok(t - ended[i] >= wait - 10, `end ${i + 2} came ${Math.round(t - ended[i])} ms after the one before; the backoff is ${wait} ms`);
    });
    const [stats] = await hub.stats();
    assert.equal(stats.connected, false);
  } finally {
    await hub.close();
  }
});
