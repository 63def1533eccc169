// The CLI through its binary: node verbs with pipes, and `console` under a real pty.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { WsConsole } from '../support/console-clients.js';
import { BIN, startDaemon, tempDir, type DaemonHandle } from '../support/daemon.js';
import { cliEnv, PtySession, runCli } from '../support/cli.js';
import { freePort } from '../support/ports.js';

let d: DaemonHandle;

before(async () => {
  d = await startDaemon();
});

describe('switchboard node', () => {
  test('create, list, show, edit and delete', async () => {
    const created = await runCli(d, ['node', 'create', 'cli1', '--driver', 'cmd', '--param', 'cmd=/bin/cat -u', '--label', 'rack=r7', '--label', 'role=web']);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /created node cli1 \(cmd\)/);

    const list = await runCli(d, ['node', 'list']);
    assert.equal(list.code, 0);
    assert.match(list.stdout, /NAME\s+DRIVER\s+STATE/);
    assert.match(list.stdout, /cli1\s+cmd\s+(connected|connecting)\s+0\s+\S+\s+rack=r7,role=web/);

    const json = await runCli(d, ['-o', 'json', 'node', 'list', '--label', 'rack=r7']);
    assert.deepEqual(JSON.parse(json.stdout).map((n: { name: string }) => n.name), ['cli1']);

    const edited = await runCli(d, ['node', 'edit', 'cli1', '--unset-label', 'role', '--label', 'rack=r8', '--ondemand', '-o', 'json']);
    assert.equal(edited.code, 0, edited.stderr);
    const view = JSON.parse(edited.stdout);
    assert.deepEqual(view.labels, { rack: 'r8' });
    assert.equal(view.ondemand, true);
    assert.deepEqual(view.params, { cmd: '/bin/cat -u' });

    const shown = await runCli(d, ['node', 'show', 'cli1']);
    assert.match(shown.stdout, /^name\s+cli1$/m);
    assert.match(shown.stdout, /^ondemand\s+true$/m);

    const deleted = await runCli(d, ['node', 'delete', 'cli1', 'ghost']);
    assert.equal(deleted.code, 1, 'a failed item makes the exit status non-zero');
    assert.match(deleted.stdout, /cli1: deleted/);
    assert.match(deleted.stderr, /ghost: NODE_NOT_FOUND/);
  });

  test('gen-token prints a fresh 128-bit hex token each time', async () => {
    const a = await runCli(d, ['gen-token']);
    const b = await runCli(d, ['gen-token']);
    assert.match(a.stdout, /^[0-9a-f]{32}\n$/);
    assert.notEqual(a.stdout, b.stdout);
  });

  test('errors are one readable line and a non-zero exit', async () => {
    const missing = await runCli(d, ['node', 'show', 'ghost']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, "switchboard: NODE_NOT_FOUND: node 'ghost' does not exist\n");
    const badToken = await runCli(d, ['node', 'list'], { env: { SWITCHBOARD_TOKEN: 'wrong' } });
    assert.equal(badToken.code, 1);
    assert.match(badToken.stderr, /UNAUTHORIZED/);
    const badParam = await runCli(d, ['node', 'create', 'x1', '--driver', 'cmd', '--param', 'novalue']);
    assert.equal(badParam.code, 2);
    assert.match(badParam.stderr, /--param must be KEY=VALUE/);
    const port = await freePort();
    const down = await runCli(d, ['node', 'list'], { env: { SWITCHBOARD_URL: `http://127.0.0.1:${port}` } });
    assert.equal(down.code, 1);
    assert.match(down.stderr, new RegExp(`cannot reach http://127\\.0\\.0\\.1:${port}: ECONNREFUSED`));
  });

  test('import creates nodes from YAML and reports the bad ones', async () => {
    const file = path.join(tempDir('import'), 'nodes.yaml');
    writeFileSync(file, [
      'nodes:',
      '  - {name: imp1, driver: cmd, params: {cmd: /bin/cat}, ondemand: true}',
      '  - name: imp2',
      '    driver: cmd',
      '    params: {cmd: [/bin/cat]}',
      '    ondemand: true',
      '  - {name: "bad/name", driver: cmd, params: {cmd: /bin/cat}}',
    ].join('\n'));
    const res = await runCli(d, ['node', 'import', file]);
    assert.equal(res.code, 1);
    assert.match(res.stdout, /imp1: created\nimp2: created\n/);
    assert.match(res.stderr, /bad\/name: BAD_NODE_NAME/);
    assert.match(res.stdout, /2 created, 1 failed/);
  });
});

describe('switchboard console', () => {
  test('under a pty: shared with a WebSocket client, escapes work, detach restores the terminal', async () => {
    await runCli(d, ['node', 'create', 'tty1', '--driver', 'cmd', '--param', 'cmd=/bin/cat']);
    const watcher = await WsConsole.open(d, 'tty1', { mode: 'ro' });
    // After the CLI exits, stty shows whether it left the terminal as it found it.
    const shell = new PtySession('/bin/sh', ['-c', `stty -a | grep -o ' -\\?icanon '; "${process.execPath}" "${BIN}" console tty1; echo "exit=$?"; stty -a | grep -o ' -\\?icanon '`], cliEnv(d));
    await shell.waitFor(/ icanon /);
    await shell.waitForNotice(/tty1: attached read-write/);
    shell.type('typed-at-the-cli\r');
    await watcher.waitFor(/typed-at-the-cli\r\n[^]*typed-at-the-cli\r\n/);
    await shell.waitFor(/typed-at-the-cli\r\n[^]*typed-at-the-cli\r\n/);
    shell.type('\x05cw');
    const who = await shell.waitFor(/who is attached to tty1:[^\]]*\]/);
    assert.match(who, /rw {2}admin@127\.0\.0\.1 +ws/);
    assert.match(who, /ro {2}admin@127\.0\.0\.1 +ws/);
    shell.type('\x05c.');
    await shell.waitFor(/\[disconnected\]\r\nexit=0/);
    await shell.waitFor(/exit=0[^]* icanon /);
    assert.ok(!/exit=0[^]*-icanon/.test(shell.output), 'the terminal was left in raw mode');
    assert.equal(await shell.exit, 0);
    await watcher.waitForNotice(/detached/);
    watcher.close();
  });

  test('when the daemon stops, the CLI says why, exits 1 and restores the terminal', async () => {
    const own = await startDaemon();
    await runCli(own, ['node', 'create', 'bye1', '--driver', 'cmd', '--param', 'cmd=/bin/cat']);
    const shell = new PtySession('/bin/sh', ['-c', `"${process.execPath}" "${BIN}" console bye1; echo "exit=$?"; stty -a | grep -o ' -\\?icanon '`], cliEnv(own));
    await shell.waitForNotice(/bye1: attached read-write/);
    await own.stop();
    // Said once: the daemon's own notice, not a second "[disconnected: ...]" line repeating it.
    await shell.waitFor(/\[daemon stopping \(SIGTERM\)\]\r\nexit=1/);
    await shell.waitFor(/exit=1[^]* icanon /);
    assert.ok(!/exit=1[^]*-icanon/.test(shell.output), 'the terminal was left in raw mode');
  });

  test('with a pipe for scripts: sends the input, prints the output, detaches', async () => {
    await runCli(d, ['node', 'create', 'pipe1', '--driver', 'cmd', '--param', 'cmd=/bin/cat']);
    const res = await runCli(d, ['console', 'pipe1', '--no-replay', '--linger', '300'], { input: 'from-a-script\r' });
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /from-a-script\r\n/);
  });

  test('an unknown node is a clear error', async () => {
    const res = await runCli(d, ['console', 'ghost']);
    assert.equal(res.code, 1);
    assert.equal(res.stderr, "switchboard: NODE_NOT_FOUND: node 'ghost' does not exist\n");
  });
});
