import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { after, test } from 'node:test';
import pino from 'pino';
import { LineSplitter, type Lines } from '../../src/outputs/line-splitter.js';
import { WatchEngine, type WatchedNode, type WatchEngineOptions } from '../../src/outputs/watch.js';
import { checkWatchPatterns, type WatchPatternSpec } from '../../src/outputs/watch-patterns.js';
import { WebhookSender } from '../../src/outputs/webhook.js';
import { startHttpServer } from '../support/http-server.js';
import { onEvents, waitUntil } from '../support/wait.js';

const logger = pino({ level: 'silent' });
const engines: WatchEngine[] = [];
after(() => Promise.all(engines.map((e) => e.close())));

interface Seen {
  node: string;
  event: string;
  pattern: unknown;
  line?: unknown;
}

/** A node as its session has it: labels, and its own patterns. */
const node = (labels: Record<string, string> = {}, watchPatterns: WatchedNode['watchPatterns'] = []): WatchedNode => ({ labels, watchPatterns });

function engine(patterns: WatchPatternSpec[], opts: Partial<WatchEngineOptions> = {}) {
  const events: Seen[] = [];
  const bus = new EventEmitter();
  // What each node's session has now; a changed node is a new object, as after the API changed it.
  const nodes = new Map<string, WatchedNode>();
  const e = new WatchEngine({
    patterns, logger, nodeOf: (name) => nodes.get(name), ...opts,
    onEvent: (node, ev) => {
      events.push({ node, event: ev.event, pattern: ev.pattern, line: ev.line });
      bus.emit('event');
    },
  });
  engines.push(e);
  const waitFor = (pred: (all: Seen[]) => boolean, what: string) =>
    waitUntil(() => pred(events) || undefined, { what, subscribe: onEvents(bus, 'event'), describe: () => JSON.stringify(events.slice(-5)) });
  return { e, events, waitFor, nodes };
}

test('matching lines become events and per-node counters; label selectors limit which nodes a pattern watches', async () => {
  const { e, events, waitFor, nodes } = engine([
    { name: 'kernel-panic', regex: 'Kernel panic - not syncing' },
    { name: 'login', regex: 'login:\\s*$', labels: { role: 'compute' } },
  ]);
  nodes.set('n1', node({ role: 'compute' }));
  nodes.set('n2', node());
  const t = new Date('2026-01-02T03:04:05Z');
  e.onLine('n1', 'booting', t);
  e.onLine('n1', 'Kernel panic - not syncing: VFS', t);
  e.onLine('n2', 'host login: ', t);
  e.onLine('n1', 'host login: ', t);
  await waitFor((all) => all.length >= 2, 'two matches');
  assert.deepEqual(events.map((x) => [x.node, x.event, x.pattern]).sort(), [['n1', 'watch', 'kernel-panic'], ['n1', 'watch', 'login']]);
  assert.deepEqual(e.status('n1', node({ role: 'compute' })), [
    { pattern: 'kernel-panic', count: 1, last: { line: 'Kernel panic - not syncing: VFS', time: t.toISOString() }, disabled: null },
    { pattern: 'login', count: 1, last: { line: 'host login: ', time: t.toISOString() }, disabled: null },
  ]);
  // n2 lacks the label: the login pattern neither ran nor shows there.
  assert.deepEqual(e.status('n2', node()), [{ pattern: 'kernel-panic', count: 0, last: null, disabled: null }]);
});

test("a console chunk's lines, passed on as the chunk's own CRLF text, are matched line by line: anchors hold at each line's ends, and the line is reported without its CR", async () => {
  const { e, events, waitFor, nodes } = engine([
    { name: 'panic', regex: '^Kernel panic - not syncing: .*fs$' },
    // Looks behind, so it is never tested on the whole text, only line by line.
    { name: 'oops', regex: '(?<=^)Oops: \\d+$' },
  ]);
  nodes.set('n1', node());
  const chunks: Lines[] = [];
  const s = new LineSplitter({ maxBytes: 4096, idleMs: 60_000 }, (l) => chunks.push(l));
  s.push(Buffer.from('booting\r\nKernel panic - not syncing: VFS: Unable to mount root fs\r\nOops: 0002\r\nRebooting\r\n'));
  s.close();
  assert.equal(chunks.length, 1);
  assert.match(chunks[0].lineText, /\r\n/, 'the chunk went on unsplit');
  e.onLines('n1', chunks[0], new Date());
  await waitFor((all) => all.length >= 2, 'two matches');
  assert.deepEqual(events.map((x) => `${x.pattern}: ${x.line}`).sort(), ['oops: Oops: 0002', 'panic: Kernel panic - not syncing: VFS: Unable to mount root fs']);
});

test("a node's own patterns run beside the config's on that node only; a changed list is picked up at its next line", async () => {
  const { e, events, waitFor, nodes } = engine([{ name: 'panic', regex: 'panic' }]);
  const mce = { name: 'mce', regex: 'machine check', flags: 'i' };
  nodes.set('n1', node({}, [{ name: 'disk', regex: 'I/O error' }, mce]));
  nodes.set('n2', node());
  const t = new Date('2026-01-02T03:04:05Z');
  // One tick: one batch, whose matches are all reported together.
  e.onLines('n1', ['sda: I/O error', 'MACHINE CHECK event', 'panic'], t);
  e.onLines('n2', ['sda: I/O error', 'panic'], t);
  await waitFor((all) => all.length >= 4, 'four matches');
  assert.deepEqual(events.map((x) => `${x.node} ${x.pattern}: ${x.line}`).sort(), [
    'n1 disk: sda: I/O error', 'n1 mce: MACHINE CHECK event', 'n1 panic: panic', 'n2 panic: panic',
  ]);
  const one = (line: string) => ({ count: 1, last: { line, time: t.toISOString() }, disabled: null });
  assert.deepEqual(e.status('n1', nodes.get('n1')!), [
    { pattern: 'panic', ...one('panic') }, { pattern: 'disk', ...one('sda: I/O error') }, { pattern: 'mce', ...one('MACHINE CHECK event') },
  ]);
  assert.deepEqual(e.status('n2', nodes.get('n2')!).map((w) => w.pattern), ['panic']);

  // The node is changed: disk matches something else now, mce is as it was and keeps its count.
  nodes.set('n1', node({}, [{ name: 'disk', regex: 'EXT4-fs error' }, { ...mce }]));
  e.onLines('n1', ['sdb: I/O error', 'EXT4-fs error (device sda1)', 'Machine check again'], t);
  await waitFor((all) => all.length >= 6, 'two more matches');
  assert.deepEqual(events.slice(4).map((x) => `${x.pattern}: ${x.line}`).sort(), ['disk: EXT4-fs error (device sda1)', 'mce: Machine check again']);
  assert.deepEqual(e.status('n1', nodes.get('n1')!).map((w) => [w.pattern, w.count]), [['panic', 1], ['disk', 1], ['mce', 2]]);
  assert.equal(e.stats().restarts, 0, 'a worker replaced for a new pattern is not a failure');
});

test('a relabelled node is watched by the patterns its labels select from its next line on', async () => {
  const { e, events, waitFor, nodes } = engine([{ name: 'login', regex: 'login:', labels: { role: 'compute' } }, { name: 'mark', regex: '^mark' }]);
  const t = new Date();
  const sent = (n: number) => waitFor((all) => all.some((x) => x.line === `mark ${n}`), `mark ${n}`);
  nodes.set('n1', node());
  e.onLines('n1', ['host login: 1', 'mark 1'], t);
  await sent(1);
  nodes.set('n1', node({ role: 'compute' }));
  e.onLines('n1', ['host login: 2', 'mark 2'], t);
  await sent(2);
  nodes.set('n1', node({ role: 'storage' }));
  e.onLines('n1', ['host login: 3', 'mark 3'], t);
  await sent(3);
  assert.deepEqual(events.filter((x) => x.pattern === 'login').map((x) => x.line), ['host login: 2']);
});

test('thousands of lines in one tick are batched and every match is counted', async () => {
  const { e, waitFor } = engine([{ name: 'oops', regex: 'Oops:' }], { batchLines: 100 });
  const t = new Date();
  for (let i = 0; i < 3000; i++) e.onLine('n1', i % 3 === 0 ? `[ ${i}] Oops: 0002` : `line ${i}`, t);
  await waitFor((all) => all.length >= 1000, '1000 matches');
  assert.equal(e.status('n1', node())[0].count, 1000);
  assert.equal(e.stats().dropped, 0);
});

/** A pattern that backtracks for ages on 40 a's and a b, and one that does not. */
function slowAndPanic() {
  return engine([{ name: 'catastrophic', regex: '(a+)+$' }, { name: 'panic', regex: 'panic' }], { budgetMs: 200 });
}

test('a pathological pattern is disabled after the budget; the worker restarts and the other patterns keep matching', async () => {
  const { e, events, waitFor } = slowAndPanic();
  const t = new Date();
  e.onLine('n1', 'panic before', t);
  e.onLine('n1', `${'a'.repeat(40)}b`, t);
  e.onLine('n1', 'panic in the same batch', t);
  await waitFor((all) => all.some((x) => x.event === 'watch-disabled'), 'the pattern disabled');
  await waitFor((all) => all.filter((x) => x.pattern === 'panic' && x.event === 'watch').length === 2, 'both panic lines');
  const [bad] = e.status('n1', node());
  assert.equal(bad.pattern, 'catastrophic');
  assert.match(bad.disabled ?? '', /longer than 200 ms/);
  assert.equal(e.stats().restarts, 1);
  // The new worker runs the remaining pattern on later lines, and the bad one no more.
  e.onLine('n1', 'panic after the restart', t);
  e.onLine('n1', `${'a'.repeat(40)}b`, t);
  await waitFor((all) => all.some((x) => x.line === 'panic after the restart'), 'a match after the restart');
  assert.equal(events.filter((x) => x.pattern === 'panic').length, 3, 'no line matched twice after the re-run');
  assert.equal(e.stats().restarts, 1);
});

test('a slow pattern inside the combined prefilter is still found, disabled, and the others keep matching', async () => {
  const { e, events, waitFor } = slowAndPanic();
  const t = new Date();
  // The slow line comes first, so the prefilter of both patterns is what gets stuck, not one pattern.
  e.onLines('n1', [`${'a'.repeat(40)}b`, 'panic after the slow line'], t);
  await waitFor((all) => all.some((x) => x.event === 'watch-disabled'), 'the pattern disabled');
  await waitFor((all) => all.some((x) => x.event === 'watch' && x.pattern === 'panic'), 'the panic line');
  assert.equal(e.status('n1', node())[0].disabled !== null, true);
  assert.equal(e.status('n1', node())[1].disabled, null);
  e.onLines('n1', [`${'a'.repeat(40)}b`, 'panic again'], t);
  await waitFor((all) => all.some((x) => x.line === 'panic again'), 'a match after the restart');
  assert.deepEqual(events.filter((x) => x.event === 'watch').map((x) => x.line), ['panic after the slow line', 'panic again']);
});

test('patterns match exactly the lines they match one by one: anchors, flags, lookbehind, back references', async () => {
  const patterns: WatchPatternSpec[] = [
    { name: 'prompt', regex: '^login:\\s*$' },
    { name: 'at-start', regex: '(?<!\\s)panic' }, // at a line's start nothing precedes it; in joined text a newline would
    { name: 'xy', regex: '(x)y' },
    { name: 'double-a', regex: '(a)\\1' }, // in one alternation with the pattern above, \1 would be its group
    { name: 'oops', regex: 'oops', flags: 'i' },
    { name: 'end', regex: 'error$' },
    { name: 'dotall', regex: 'start.end', flags: 's' },
  ];
  const lines = ['host login: ', 'login:  ', 'panic at start', 'a panic', 'baab', 'OOPS', 'an error', 'error here', 'xy',
    'start', 'end', 'startXend', 'nothing'];
  // Each pattern alone (a prefilter of one cannot lean on another's hit), then all together.
  for (const set of [...patterns.map((p) => [p]), patterns]) {
    const expected = set.flatMap((p) => lines.filter((l) => new RegExp(p.regex, p.flags).test(l)).map((l) => `${p.name}:${l}`)).sort();
    const { e, events, waitFor } = engine([...set, { name: 'last', regex: '^the end$', flags: 'u' }]); // other flags: never in one prefilter with the set
    e.onLines('n1', lines, new Date());
    // One more batch whose match is known, so nothing of the first can still be on its way.
    e.onLines('n1', ['the end'], new Date());
    await waitFor((all) => all.some((x) => x.pattern === 'last'), 'the last match');
    assert.deepEqual(events.filter((x) => x.pattern !== 'last').map((x) => `${x.pattern}:${x.line}`).sort(), expected, set.map((p) => p.name).join());
  }
});

test('when matching falls behind, the oldest lines are dropped and counted, never the console', async () => {
  const { e, waitFor } = engine([{ name: 'n', regex: 'line' }], { maxQueuedLines: 10 });
  const t = new Date();
  for (let i = 0; i < 100; i++) e.onLine('n1', `line ${i}`, t);
  assert.equal(e.stats().dropped, 90);
  await waitFor((all) => all.length === 10, 'the ten newest lines');
  assert.equal(e.status('n1', node())[0].last?.line, 'line 99');
});

test('a flood the lines\' thread hands over in one burst (27 MB, 600,000 lines) is matched whole, its first line and its last', async () => {
  const { e, events, waitFor } = engine([{ name: 'oops', regex: '^Oops: ' }]);
  const t = new Date();
  // In console reads' worth (~4 KiB, 90 lines), all in one turn of the event loop, before the worker
  // has had a batch: what the daemon's thread gets when the lines' thread catches up at once.
  let chunk: string[] = ['Oops: first'];
  for (let i = 0; i < 600_000; i++) {
    chunk.push(`line ${i} of a console that floods as it boots`);
    if (chunk.length === 90) {
      e.onLines('n1', chunk, t);
      chunk = [];
    }
  }
  e.onLines('n1', [...chunk, 'Oops: last'], t);
  await waitFor((all) => all.some((x) => x.line === 'Oops: last'), 'the last line matched');
  assert.equal(e.stats().dropped, 0);
  assert.deepEqual(events.map((x) => x.line), ['Oops: first', 'Oops: last']);
});

test('beyond maxQueuedChars the oldest chunks are dropped whole and counted as lines', async () => {
  const { e, events, waitFor } = engine([{ name: 'n', regex: 'line' }], { maxQueuedChars: 100 });
  const t = new Date();
  // 18 characters a chunk, its two lines joined by a line end: five fit in 100.
  for (let i = 0; i < 10; i++) e.onLines('n1', [`line ${i}a..`, `line ${i}b.`], t);
  assert.equal(e.stats().dropped, 10);
  assert.equal(e.stats().queued, 10);
  await waitFor((all) => all.length === 10, 'the ten newest lines');
  assert.deepEqual(events.map((x) => x.line).slice(0, 2), ['line 5a..', 'line 5b.']);
  assert.equal(events.at(-1)?.line, 'line 9b.');
});

test('bad patterns are refused at config load with the pattern named', () => {
  assert.throws(() => checkWatchPatterns([{ name: 'ok', regex: 'x' }, { name: 'broken', regex: '(unclosed' }]), /watchPatterns\[1\] \(broken\): invalid regex: .*Unterminated group/);
  assert.throws(() => checkWatchPatterns([{ name: 'a', regex: 'x' }, { name: 'a', regex: 'y' }]), /watchPatterns\[1\] \(a\): the name is used/);
});

test('a webhook retries with backoff until the receiver takes it, and gives up after its tries', async () => {
  const bodies: unknown[] = [];
  let failures = 2;
  const bus = new EventEmitter();
  const { server, base } = await startHttpServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c));
    req.on('end', () => {
      const fail = req.url!.startsWith('/down') || failures-- > 0;
      if (!fail) bodies.push(JSON.parse(data));
      res.statusCode = fail ? 503 : 204;
      res.end();
      bus.emit('request');
    });
  });
  after(() => server.close());
  const ok = new WebhookSender(`${base}/hook`, logger, { minDelayMs: 20 });
  ok.send({ n: 1 });
  await waitUntil(() => bodies.length === 1 || undefined, { what: 'delivery', subscribe: onEvents(bus, 'request') });
  assert.deepEqual(bodies, [{ n: 1 }]);
  // Giving up is said in the log, naming the receiver by origin only: its path may be a secret.
  const logs: string[] = [];
  const captured = pino({ level: 'warn' }, { write: (line: string) => (logs.push(line), bus.emit('log')) });
  const down = new WebhookSender(`${base}/down?token=s3cret`, captured, { minDelayMs: 10, tries: 3 });
  down.send({ n: 2 });
  const line = await waitUntil(() => logs.find((l) => l.includes('gave up')), { what: 'giving up', subscribe: onEvents(bus, 'log') });
  assert.deepEqual(down.stats(), { sent: 0, failed: 1, dropped: 0, queued: 0 });
  assert.match(line, /"tries":3/);
  assert.doesNotMatch(line, /s3cret|\/down/);
});
