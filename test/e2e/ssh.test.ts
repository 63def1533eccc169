// ssh consoles through the real daemon: REST, WebSocket and TCP attach against a real sshd,
// and no secret in any API answer or log line.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { TcpConsole, WsConsole } from '../support/console-clients.js';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { runCli } from '../support/cli.js';
import { api, startDaemon, tempDir, type DaemonHandle } from '../support/daemon.js';
import { KEY_USER, PASSWORD, PASSWORD_USER, startSshd, type Sshd } from '../support/sshd.js';

let d: DaemonHandle;
let sshd: Sshd;
before(async () => {
  sshd = await startSshd();
  d = await startDaemon();
});

test('an ssh console is shared by WebSocket and TCP clients; secrets never leave the daemon', async () => {
  const created = await api(d, 'POST', '/api/v1/nodes', {
    name: 'bmc-pw', driver: 'ssh', params: { host: '127.0.0.1', port: sshd.port, user: PASSWORD_USER, password: PASSWORD },
  });
  assert.equal(created.status, 201, created.text);
  assert.equal(created.body.params.password, '***');
  const keyNode = await api(d, 'POST', '/api/v1/nodes', {
    name: 'bmc-key', driver: 'ssh', params: { host: '127.0.0.1', port: sshd.port, user: KEY_USER, privateKey: sshd.encryptedKey, passphrase: sshd.passphrase },
  });
  assert.equal(keyNode.status, 201, keyNode.text);
  assert.deepEqual([keyNode.body.params.privateKey, keyNode.body.params.passphrase], ['***', '***']);

  const ws = await WsConsole.open(d, 'bmc-pw');
  const tcp = await TcpConsole.open(d, { node: 'bmc-pw', token: d.token, mode: 'ro' });
  await ws.waitForNotice(/console up|attached read-write/);
  await d.waitForLog((l) => l.node === 'bmc-pw' && l.msg === 'session state' && l.state === 'connected', 'ssh connected');
  ws.type('echo over-ssh-$((40+2))\r');
  await ws.waitFor('over-ssh-42');
  await tcp.waitFor('over-ssh-42');

  const keyed = await WsConsole.open(d, 'bmc-key');
  await d.waitForLog((l) => l.node === 'bmc-key' && l.msg === 'session state' && l.state === 'connected', 'key login');
  keyed.type('echo i-am-$(id -un)\r');
  await keyed.waitFor('i-am-sbtest-key');

  // A PUT that sends the masked value back keeps the stored password.
  const view = (await api(d, 'GET', '/api/v1/nodes/bmc-pw')).body;
  const seen = ws.notices.length;
  const put = await api(d, 'PUT', '/api/v1/nodes/bmc-pw', { driver: 'ssh', params: { ...view.params, term: 'vt100' } });
  assert.equal(put.status, 200, put.text);
  await ws.waitForNotice(/console up/, 15_000, seen);
  ws.type('echo $TERM-again\r');
  await ws.waitFor('vt100-again');

  const list = await api(d, 'GET', '/api/v1/nodes');
  const everything = [JSON.stringify(list.body), ...d.rawOutput].join('\n');
  for (const secret of [PASSWORD, sshd.passphrase, sshd.encryptedKey.split('\n')[1], sshd.privateKey.split('\n')[1]]) {
    assert.ok(!everything.includes(secret), `a secret leaked: ${secret.slice(0, 12)}...`);
  }
  for (const c of [ws, tcp, keyed]) c.close();
});

test('a wrong password puts the node in error with the reason', async () => {
  await api(d, 'POST', '/api/v1/nodes', { name: 'bmc-bad', driver: 'ssh', params: { host: '127.0.0.1', port: sshd.port, user: PASSWORD_USER, password: 'nope' } });
  const line = await d.waitForLog((l) => l.node === 'bmc-bad' && l.msg === 'console failed', 'auth failure');
  assert.match(String(line.reason), /authentication failed for user 'sbtest-pw'/);
  const view = await api(d, 'GET', '/api/v1/nodes/bmc-bad');
  assert.match(view.body.session.lastError, /authentication failed/);
  assert.ok(!d.rawOutput.join('\n').includes('"nope"'));
});

test('ssh params are validated before anything connects', async () => {
  const none = await api(d, 'POST', '/api/v1/nodes', { name: 'bmc-x', driver: 'ssh', params: { host: 'h', user: 'u' } });
  assert.equal(none.status, 400);
  assert.match(none.body.message, /give password or privateKey/);
  const badPin = await api(d, 'POST', '/api/v1/nodes', { name: 'bmc-x', driver: 'ssh', params: { host: 'h', user: 'u', password: 'p', hostKeyFingerprint: 'MD5:aa' } });
  assert.equal(badPin.status, 400);
  assert.match(badPin.body.message, /hostKeyFingerprint/);
  const agent = await api(d, 'POST', '/api/v1/nodes', { name: 'bmc-x', driver: 'ssh', params: { host: 'h', user: 'u', password: 'p', agentForward: true } });
  assert.equal(agent.status, 400);
});

test('the CLI reads an ssh password from a file or from stdin, never from the command line', async () => {
  const file = path.join(tempDir('pw'), 'password');
  writeFileSync(file, `${PASSWORD}\n`, { mode: 0o600 });
  const common = ['--driver', 'ssh', '--param', 'host=127.0.0.1', '--param', `port=${sshd.port}`, '--param', `user=${PASSWORD_USER}`];
  const fromFile = await runCli(d, ['node', 'create', 'cli-ssh-file', ...common, '--param', `password-file=${file}`]);
  assert.equal(fromFile.code, 0, fromFile.stderr);
  const fromStdin = await runCli(d, ['node', 'create', 'cli-ssh-stdin', ...common, '--param', 'password-file=-'], { input: `${PASSWORD}\n` });
  assert.equal(fromStdin.code, 0, fromStdin.stderr);
  for (const n of ['cli-ssh-file', 'cli-ssh-stdin']) {
    await d.waitForLog((l) => l.node === n && l.msg === 'session state' && l.state === 'connected', `${n} logged in`);
  }
  const shown = await runCli(d, ['node', 'show', 'cli-ssh-file']);
  assert.match(shown.stdout, /^ {2}password\s+\*\*\*$/m);
  assert.match(shown.stdout, new RegExp(`^ {2}port\\s+${sshd.port}$`, 'm'));
  const missing = await runCli(d, ['node', 'create', 'cli-ssh-x', ...common, '--param', 'password-file=/nonexistent/pw']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--param password-file: cannot read \/nonexistent\/pw: ENOENT/);
});
