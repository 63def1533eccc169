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

test('a node printing a kernel panic raises a watch event, shows on the node view and reaches the webhook after retries', async () => {
  const bodies: Record<string, unknown>[] = [];
  let requests = 0;
  const bus = new EventEmitter();
  const { server, base } = await startHttpServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c));
    req.on('end', () => {
      requests++;
      // The first two deliveries fail: the daemon must retry.
      if (requests <= 2) res.statusCode = 503;
      else {
        bodies.push(JSON.parse(data));
        res.statusCode = 204;
      }
      res.end();
      bus.emit('request');
    });
  });
  after(() => server.close());
  const sink = await tcpReceiver();
  const d = await daemonWith({
    watchPatterns: [{ name: 'kernel-panic', regex: 'Kernel panic - not syncing', webhook: `${base}/page-me` }, { name: 'oops', regex: 'Oops:' }],
    outputs: [{ name: 'logstash', type: 'tcp', address: `127.0.0.1:${sink.port}` }],
  });
  const created = await api(d, 'POST', '/api/v1/nodes', {
    name: 'p1', driver: 'cmd', params: { cmd: ['/bin/sh', '-c', 'echo booting; echo "Kernel panic - not syncing: VFS: Unable to mount root fs"; exec cat'] },
  });
  assert.equal(created.status, 201, created.text);

  await waitUntil(() => bodies.length > 0 || undefined, { what: 'the webhook delivery', subscribe: onEvents(bus, 'request'), timeoutMs: 20_000 });
  assert.equal(requests, 3, 'delivered on the third try');
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

test('a bad regex in the config stops the daemon at start, naming the pattern', async () => {
  const res = await runSwitchboard(['serve', '--listen', '127.0.0.1:0', '--console-port', '-1', '--data-dir', tempDir('watch-bad')], {
    env: { ...process.env, SWITCHBOARD_WATCH_PATTERNS: JSON.stringify([{ name: 'panic', regex: 'Kernel panic' }, { name: 'broken', regex: 'Oops:(' }]) },
  });
  assert.notEqual(res.code, 0);
  assert.match(res.stderr + res.stdout, /watchPatterns\[1\] \(broken\): invalid regex: .*Unterminated group/);
});
