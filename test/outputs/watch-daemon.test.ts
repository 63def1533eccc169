// Watch patterns through the real daemon: a cmd node's console lines, the node view, a webhook receiver.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import YAML from 'yaml';
import { WsConsole } from '../support/console-clients.js';
import { runSwitchboard } from '../support/cli.js';
import { api, catNode, startDaemon, tempDir, waitForLogFile, type DaemonHandle } from '../support/daemon.js';
import { startHttpServer } from '../support/http-server.js';
import { tcpReceiver } from '../support/record-receivers.js';
import { readScrape } from '../support/prometheus.js';
import { onEvents, waitUntil } from '../support/wait.js';

const daemons: DaemonHandle[] = [];
const consoles: WsConsole[] = [];
after(async () => {
  for (const c of consoles) c.close();
  await Promise.all(daemons.map((d) => d.stop()));
});

async function daemonWith(config: Record<string, unknown>): Promise<DaemonHandle> {
  const file = path.join(tempDir('watch-cfg'), 'switchboard.yaml');
  writeFileSync(file, YAML.stringify(config));
  const d = await startDaemon({ args: ['--config', file] });
  daemons.push(d);
  return d;
}

/** A webhook receiver that answers 503 to the first `failing` requests; `bodies` are those it took. */
async function webhookReceiver(failing = 0) {
  const hook = { bodies: [] as Record<string, unknown>[], requests: 0, base: '', bus: new EventEmitter() };
  const { server, base } = await startHttpServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c));
    req.on('end', () => {
      if (++hook.requests <= failing) res.statusCode = 503;
      else {
        hook.bodies.push(JSON.parse(data));
        res.statusCode = 204;
      }
      res.end();
      hook.bus.emit('request');
    });
  });
  after(() => server.close());
  hook.base = base;
  return hook;
}

test('a node printing a kernel panic raises a watch event, shows on the node view and reaches the webhook after retries', async () => {
  // The first two deliveries fail: the daemon must retry.
  const hook = await webhookReceiver(2);
  const { bodies, base } = hook;
  const sink = await tcpReceiver();
  const d = await daemonWith({
    watchPatterns: [{ name: 'kernel-panic', regex: 'Kernel panic - not syncing', webhook: `${base}/page-me` }, { name: 'oops', regex: 'Oops:' }],
    outputs: [{ name: 'logstash', type: 'tcp', address: `127.0.0.1:${sink.port}` }],
  });
  const created = await api(d, 'POST', '/api/v1/nodes', {
    // One write, so the panic is a line in the middle of one chunk (its lines end in CRLF, as a pty makes them).
    name: 'p1', driver: 'cmd', params: { cmd: ['/bin/sh', '-c', 'printf "booting\\nKernel panic - not syncing: VFS: Unable to mount root fs\\nRebooting in 10 seconds\\n"; exec cat'] },
  });
  assert.equal(created.status, 201, created.text);

  await waitUntil(() => bodies.length > 0 || undefined, { what: 'the webhook delivery', subscribe: onEvents(hook.bus, 'request'), timeoutMs: 20_000 });
  assert.equal(hook.requests, 3, 'delivered on the third try');
  assert.equal(bodies.length, 1);
  const body = bodies[0];
  assert.deepEqual({ ...body, time: undefined }, { node: 'p1', pattern: 'kernel-panic', line: 'Kernel panic - not syncing: VFS: Unable to mount root fs', time: undefined });
  assert.ok(Math.abs(Date.parse(String(body.time)) - Date.now()) < 60_000);

  const view = await api(d, 'GET', '/api/v1/nodes/p1');
  assert.equal(view.status, 200);
  assert.deepEqual(view.body.watch, [
    { pattern: 'kernel-panic', count: 1, last: { line: 'Kernel panic - not syncing: VFS: Unable to mount root fs', time: body.time }, disabled: null },
    { pattern: 'oops', count: 0, last: null, disabled: null },
  ]);
  // The event record, as the sinks get it.
  const ev = await sink.got.waitFor((r) => r.type === 'event' && r.event === 'watch' && r.node === 'p1', 'the watch event at the sink');
  assert.equal(ev.pattern, 'kernel-panic');
  assert.equal(ev.line, 'Kernel panic - not syncing: VFS: Unable to mount root fs');
  // ... and in the node's log, and counted in /metrics, with the sink's records.
  await waitForLogFile(d, 'p1', 'kernel-panic');
  const scrape = await (await fetch(`${d.url}/metrics`)).text();
  assert.match(scrape, /^switchboard_watch_matches_total\{pattern="kernel-panic"\} 1$/m);
  assert.match(scrape, /^switchboard_watch_lines_skipped_total 0$/m);
  assert.match(scrape, /^switchboard_sink_records_sent_total\{sink="logstash",type="tcp"\} [1-9]\d*$/m);
});

test('a pathological regex does not stall the console: typing echoes and the log grows until the pattern is disabled', async () => {
  // A long budget, so what follows provably happens while the worker is stuck in the regex.
  const sink = await tcpReceiver();
  const d = await daemonWith({
    // No time stamps in the log, so the typed line and cat's copy of it sit next to each other there.
    logTimestamps: false,
    watchBudgetMs: 4000, watchPatterns: [{ name: 'catastrophic', regex: '(a+)+$' }, { name: 'kernel-panic', regex: 'Kernel panic' }],
    outputs: [{ name: 'logstash', type: 'tcp', address: `127.0.0.1:${sink.port}` }],
  });
  assert.equal((await api(d, 'POST', '/api/v1/nodes', catNode('c1'))).status, 201);
  const con = await WsConsole.open(d, 'c1');
  consoles.push(con);
  const disabled = (l: { msg: string }) => l.msg.startsWith('watch pattern disabled');

  con.type(`${'a'.repeat(40)}b\r`);
  await con.waitFor(`${'a'.repeat(40)}b`);
  const logFile = path.join(d.dataDir, 'logs', 'c1.log');
  await waitForLogFile(d, 'c1', 'b\r\n');
  const sizeBefore = statSync(logFile).size;
  for (let i = 1; i <= 3; i++) {
    con.type(`still here ${i}\r`);
    await con.waitFor(new RegExp(`still here ${i}\\r\\n(.|\\r\\n)*still here ${i}\\r\\n`)); // the pty's echo, then cat's
  }
  await waitForLogFile(d, 'c1', 'still here 3\r\nstill here 3');
  assert.ok(!d.logs.some(disabled), 'all this happened while the worker was still stuck');
  assert.ok(statSync(logFile).size > sizeBefore);

  const log = await d.waitForLog(disabled, 'the pattern disabled');
  assert.equal(log.pattern, 'catastrophic');
  const view = await api(d, 'GET', '/api/v1/nodes/c1');
  const [bad, good] = view.body.watch;
  assert.equal(bad.pattern, 'catastrophic');
  assert.match(bad.disabled, /took longer than 4000 ms/);
  assert.equal(good.disabled, null);
  // The other pattern runs on in the replaced worker.
  con.type('Kernel panic - not syncing\r');
  await sink.got.waitFor((r) => r.event === 'watch' && r.pattern === 'kernel-panic', 'a match after the restart, at the sink');
  assert.ok(readFileSync(logFile, 'latin1').includes('still here 3'));
});

test("a node's own watch patterns: checked when written, matched beside the config's, changed with the node; relabelling changes which config patterns watch it", async () => {
  const hook = await webhookReceiver();
  const sink = await tcpReceiver();
  const d = await daemonWith({
    watchPatterns: [{ name: 'kernel-panic', regex: 'Kernel panic' }, { name: 'compute-login', regex: 'login:', labels: { role: 'compute' } }],
    outputs: [{ name: 'logstash', type: 'tcp', address: `127.0.0.1:${sink.port}` }],
  });
  const refused: [unknown[], RegExp][] = [
    [[{ name: 'broken', regex: 'Oops:(' }], /^watchPatterns\[0\] \(broken\): invalid regex: .*Unterminated group/],
    [[{ name: 'disk', regex: 'x' }, { name: 'disk', regex: 'y' }], /^watchPatterns\[1\] \(disk\): the name is used by an earlier pattern/],
    [[{ name: 'kernel-panic', regex: 'x' }], /^watchPatterns\[0\] \(kernel-panic\): the name is used by a pattern of the config/],
    [Array.from({ length: 51 }, (_, i) => ({ name: `p${i}`, regex: 'x' })), /watchPatterns: must NOT have more than 50 items/],
  ];
  for (const [watchPatterns, message] of refused) {
    const res = await api(d, 'POST', '/api/v1/nodes', catNode('w1', { watchPatterns }));
    assert.equal(res.status, 400, res.text);
    assert.match(res.body.message, message);
  }

  const created = await runSwitchboard(['node', 'create', 'w1', '--driver', 'cmd', '--param', 'cmd=/bin/cat', '--watch', 'disk-error=I/O error on dev \\w+'], {
    env: { ...process.env, SWITCHBOARD_URL: d.url, SWITCHBOARD_TOKEN: d.token },
  });
  assert.equal(created.code, 0, created.stderr);
  const view = await api(d, 'GET', '/api/v1/nodes/w1');
  assert.deepEqual(view.body.watchPatterns, [{ name: 'disk-error', regex: 'I/O error on dev \\w+' }]);
  assert.deepEqual(view.body.watch.map((w: { pattern: string }) => w.pattern), ['kernel-panic', 'disk-error']);
  const con = await WsConsole.open(d, 'w1');
  consoles.push(con);
  const watchEvent = (pattern: string, text: string) =>
    sink.got.waitFor((r) => r.event === 'watch' && r.node === 'w1' && r.pattern === pattern && String(r.line).includes(text), `${pattern} matching ${text}`);
  const seen = (pattern: string, text: string) => sink.got.records.some((r) => r.event === 'watch' && r.pattern === pattern && String(r.line).includes(text));

  con.type('I/O error on dev sda\r');
  await watchEvent('disk-error', 'sda');
  await waitForLogFile(d, 'w1', 'watch disk-error: I/O error on dev sda');
  const scrape = await (await fetch(`${d.url}/metrics`)).text();
  assert.match(scrape, /^switchboard_watch_matches_total\{pattern="disk-error"\} [1-9]$/m);
  // `node show` says what each pattern has seen.
  const shown = await runSwitchboard(['node', 'show', 'w1'], { env: { ...process.env, SWITCHBOARD_URL: d.url, SWITCHBOARD_TOKEN: d.token } });
  assert.equal(shown.code, 0, shown.stderr);
  // The pty echoes the typed line and cat prints it again: one or both matched by now.
  assert.match(shown.stdout, /^ {2}disk-error +(1 match|2 matches), last \d+s ago: I\/O error on dev sda$/m);
  assert.match(shown.stdout, /^ {2}kernel-panic +no match yet$/m);

  // Changed: the pattern matches something else now, and pages a webhook.
  const patched = await api(d, 'PATCH', '/api/v1/nodes/w1', { watchPatterns: [{ name: 'disk-error', regex: 'EXT4-fs error', webhook: `${hook.base}/hook` }] });
  assert.equal(patched.status, 200, patched.text);
  con.type('I/O error on dev sdb\r');
  con.type('EXT4-fs error on sdc\r');
  await watchEvent('disk-error', 'sdc');
  assert.ok(!seen('disk-error', 'sdb'), 'the old regex no longer runs');
  await waitUntil(() => hook.bodies.length > 0 || undefined, { what: 'the webhook', subscribe: onEvents(hook.bus, 'request') });
  assert.equal(hook.bodies[0].pattern, 'disk-error');
  assert.equal(hook.bodies[0].node, 'w1');

  // Relabelled: the compute-only config pattern watches it from its next line, and stops when the label goes.
  con.type('login: before\r');
  con.type('Kernel panic marker 1\r');
  await watchEvent('kernel-panic', 'marker 1'); // the line before has been matched (or not) by now
  assert.equal((await api(d, 'PATCH', '/api/v1/nodes/w1', { labels: { role: 'compute' } })).status, 200);
  con.type('login: while compute\r');
  await watchEvent('compute-login', 'while compute');
  assert.equal((await api(d, 'PATCH', '/api/v1/nodes/w1', { labels: { role: null } })).status, 200);
  con.type('login: after\r');
  con.type('Kernel panic marker 2\r');
  await watchEvent('kernel-panic', 'marker 2');
  assert.ok(!seen('compute-login', 'before') && !seen('compute-login', 'after'), 'only the line typed while labelled matched');

  // Removed: no pattern of its own any more.
  const removed = await runSwitchboard(['node', 'edit', 'w1', '--no-watch'], { env: { ...process.env, SWITCHBOARD_URL: d.url, SWITCHBOARD_TOKEN: d.token } });
  assert.equal(removed.code, 0, removed.stderr);
  con.type('EXT4-fs error on sdd\r');
  con.type('Kernel panic marker 3\r');
  await watchEvent('kernel-panic', 'marker 3');
  assert.ok(!seen('disk-error', 'sdd'));
  assert.deepEqual((await api(d, 'GET', '/api/v1/nodes/w1')).body.watch.map((w: { pattern: string }) => w.pattern), ['kernel-panic']);
});

test('a node\'s watch counters survive a restart of the daemon and count on from there', async () => {
  const dataDir = tempDir('watch-keep');
  const first = await startDaemon({ dataDir });
  daemons.push(first);
  // No echo, one panic line per line typed.
  const node = {
    name: 'keep1', driver: 'cmd', params: { cmd: ['sh', '-c', 'stty -echo; while read x; do echo "Kernel panic - not syncing: $x"; done'] },
    watchPatterns: [{ name: 'panic', regex: 'Kernel panic' }],
  };
  assert.equal((await api(first, 'POST', '/api/v1/nodes', node)).status, 201);
  /** Once keep1's console runs, type a line and wait for its panic to be counted (the event is in the log once it is); the node's watch view then. */
  const panic = async (d: DaemonHandle, text: string) => {
    await d.waitForLog((l) => l.msg === 'session state' && l.node === 'keep1' && l.state === 'connected', 'keep1 connected');
    const con = await WsConsole.open(d, 'keep1');
    await con.waitForNotice(/attached read-write/);
    con.type(`${text}\r`);
    await waitForLogFile(d, 'keep1', `watch panic: Kernel panic - not syncing: ${text}`);
    con.close();
    return (await api(d, 'GET', '/api/v1/nodes/keep1')).body.watch[0];
  };
  const before = await panic(first, 'first');
  assert.equal(before.count, 1);
  await first.stop();

  const second = await startDaemon({ dataDir });
  daemons.push(second);
  assert.deepEqual((await api(second, 'GET', '/api/v1/nodes/keep1')).body.watch[0], before, 'the counter as it was, before any new line');
  const next = await panic(second, 'second');
  assert.equal(next.count, 2);
  assert.match(next.last.line, /second$/);
});

test('a bad regex in the config stops the daemon at start, naming the pattern', async () => {
  const res = await runSwitchboard(['serve', '--listen', '127.0.0.1:0', '--console-port', '-1', '--data-dir', tempDir('watch-bad')], {
    env: { ...process.env, SWITCHBOARD_WATCH_PATTERNS: JSON.stringify([{ name: 'panic', regex: 'Kernel panic' }, { name: 'broken', regex: 'Oops:(' }]) },
  });
  assert.notEqual(res.code, 0);
  assert.match(res.stderr + res.stdout, /watchPatterns\[1\] \(broken\): invalid regex: .*Unterminated group/);
});

test('a console that floods from its first line has every line watched: the first match is not lost while the matching starts up', async () => {
  const hook = await webhookReceiver();
  const d = await daemonWith({ watchPatterns: [{ name: 'oops', regex: '^Oops: ', webhook: `${hook.base}/oops` }] });
  // ~27 MB at once (600,000 lines), the first of them a match: the lines reach the patterns in a
  // burst, before the threads that split and match them would be up if started only now.
  const flood = `awk 'BEGIN { print "Oops: first"; for (i = 0; i < 600000; i++) print "line " i " of a console that floods as it boots"; print "Oops: last" }'`;
  const created = await api(d, 'POST', '/api/v1/nodes', { name: 'burst', driver: 'cmd', params: { cmd: ['/bin/sh', '-c', `${flood}; exec cat`] } });
  assert.equal(created.status, 201, created.text);
  await waitUntil(() => hook.bodies.find((b) => b.line === 'Oops: last'), { what: 'the last line matched', subscribe: onEvents(hook.bus, 'request'), timeoutMs: 60_000 });
  const scrape = readScrape(await (await fetch(`${d.url}/metrics`)).text());
  assert.equal(scrape.value('switchboard_watch_lines_skipped_total'), 0, 'lines the patterns skipped');
  assert.deepEqual(hook.bodies.map((b) => b.line), ['Oops: first', 'Oops: last']);
});
