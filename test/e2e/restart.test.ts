// The daemon's life cycle: clean stop on SIGTERM, persistence across restarts, the admin token.
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { WsConsole } from '../support/console-clients.js';
import { api, startDaemon, tempDir } from '../support/daemon.js';
import { isAlive } from '../support/processes.js';

test('SIGTERM stops the consoles and exits 0; a restart brings back the node, its session and its log', async () => {
  const dataDir = tempDir('restart');
  const first = await startDaemon({ dataDir });
  const created = await api(first, 'POST', '/api/v1/nodes', {
    name: 'persist1', driver: 'cmd', params: { cmd: ['/bin/sh', '-c', 'echo "console started as pid $$"; exec cat'] }, labels: { keep: 'yes' },
  });
  assert.equal(created.status, 201);
  const c1 = await WsConsole.open(first, 'persist1');
  const pid1 = (await c1.waitFor(/console started as pid (\d+)/)).match(/\d+/)![0];
  c1.type('typed-in-run-one\r');
  await c1.waitFor(/typed-in-run-one\r\n[^]*typed-in-run-one\r\n/);
  const consolePid = (await api(first, 'GET', '/api/v1/nodes/persist1')).body.session.info.pid as number;

  const status = await first.stop();
  assert.deepEqual(status, { code: 0, signal: null });
  assert.ok(!isAlive(consolePid), 'the console process outlived the daemon');
  await c1.waitClosed();
  assert.match(c1.notices.join('\n'), /daemon stopping/);

  const second = await startDaemon({ dataDir, listen: first.listen });
  assert.equal(second.url, first.url);
  const view = await api(second, 'GET', '/api/v1/nodes/persist1');
  assert.equal(view.status, 200);
  assert.deepEqual(view.body.labels, { keep: 'yes' });
  const c2 = await WsConsole.open(second, 'persist1');
  await c2.waitFor(/console started as pid \d+/);
  assert.ok(!c2.output.includes('typed-in-run-one'), 'replay is in memory only and starts empty after a restart');
  await second.waitForLog((l) => l.node === 'persist1' && l.msg === 'session state' && l.state === 'connected', 'session up again');
  c2.type('typed-in-run-two\r');
  await c2.waitFor(/typed-in-run-two\r\n[^]*typed-in-run-two\r\n/);
  c2.close();
  assert.deepEqual(await second.stop(), { code: 0, signal: null });

  const log = readFileSync(path.join(dataDir, 'logs', 'persist1.log'), 'utf8');
  assert.match(log, new RegExp(`console started as pid ${pid1}`));
  assert.equal(log.match(/console started as pid \d+/g)?.length, 2, 'one start line per run');
  assert.match(log, /typed-in-run-one[^]*console down: daemon stopping \(SIGTERM\)[^]*typed-in-run-two/);
});

test('without --admin-token one is generated, stored 0600, printed once and kept across restarts', async () => {
  const dataDir = tempDir('token');
  const first = await startDaemon({ dataDir, token: null });
  const printed = first.rawOutput.join('\n').match(/generated admin token ([0-9a-f]{32})/)?.[1];
  assert.ok(printed, 'the token was not printed');
  const file = path.join(dataDir, 'admin-token');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(readFileSync(file, 'utf8').trim(), printed);
  const asAdmin = { authorization: `Bearer ${printed}` };
  assert.equal((await api(first, 'GET', '/api/v1/nodes', undefined, asAdmin)).status, 200);
  await first.stop();

  const second = await startDaemon({ dataDir, token: null });
  assert.ok(!second.rawOutput.join('\n').includes(printed), 'the token was printed again');
  assert.equal((await api(second, 'GET', '/api/v1/nodes', undefined, asAdmin)).status, 200);
  await second.stop();
});

test('SIGINT (Ctrl-C on the daemon) stops it as cleanly as SIGTERM', async () => {
  const d = await startDaemon();
  await api(d, 'POST', '/api/v1/nodes', { name: 'int1', driver: 'cmd', params: { cmd: '/bin/cat' } });
  await d.waitForLog((l) => l.node === 'int1' && l.msg === 'session state' && l.state === 'connected', 'console up');
  const pid = (await api(d, 'GET', '/api/v1/nodes/int1')).body.session.info.pid as number;
  process.kill(d.pid, 'SIGINT');
  assert.deepEqual(await d.exited(), { code: 0, signal: null });
  assert.ok(!isAlive(pid), 'the console process outlived the daemon');
  assert.ok(d.logs.some((l) => l.msg === 'switchboard stopped'));
});

test('a bad setting stops the daemon at start with a message naming it', async () => {
  const { spawnTracked, exited } = await import('../support/processes.js');
  const { BIN } = await import('../support/daemon.js');
  const proc = spawnTracked(process.execPath, [BIN, 'serve', '--listen', 'nowhere', '--data-dir', tempDir('bad')]);
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => (stderr += c));
  const status = await exited(proc);
  assert.equal(status.code, 1);
  assert.match(stderr, /CONFIG: configuration: listen: 'nowhere' is not host:port/);
});
