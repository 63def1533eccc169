// The README's first command: `serve --demo` gives a node with a simulated serial console.
// This follows the README's tour with the real binary.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { WsConsole } from '../support/console-clients.js';
import { runCli } from '../support/cli.js';
import { startDaemon, tempDir } from '../support/daemon.js';
import { fleetPrefix, natsUrl } from '../support/nats.js';

test('the demo node boots, shows a login prompt and echoes what is typed; the tour commands work', async () => {
  const cwd = tempDir('demo');
  const d = await startDaemon({ args: ['--demo'], token: null, dataDir: path.join(cwd, 'data') });
  // Run from the daemon's folder, the CLI finds the generated token in ./data/admin-token.
  const env = { SWITCHBOARD_TOKEN: undefined };
  const list = await runCli(d, ['node', 'list'], { env, cwd });
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /demo\s+cmd\s+(connected|connecting)/);

  const token = readFileSync(path.join(d.dataDir, 'admin-token'), 'utf8').trim();
  const c = await WsConsole.open(d, 'demo', {}, token);
  await c.waitFor(/serial8250: ttyS0/);
  await c.waitFor('demo login: ');
  c.type('operator\r');
  await c.waitFor('Password: ');
  c.type('secret\r');
  await c.waitFor('[operator@demo ~]# ');
  assert.ok(!c.output.includes('secret'), 'the password was echoed');
  c.type('echo hello switchboard\r');
  await c.waitFor(/echo hello switchboard\r\nhello switchboard\r\n/);
  // Typed UTF-8 comes back as typed, and a backspace takes one character, not one byte.
  // (type() sends, and output holds, each byte as one character.)
  const bytes = (text: string) => Buffer.from(text).toString('latin1');
  c.type(`${bytes('echo grüße ✓✗')}\x7f\r`);
  await c.waitFor(`\r\n${bytes('grüße ✓')}\r\n`);
  c.type('\x05c.');
  await c.waitClosed();

  const created = await runCli(d, ['node', 'create', 'web1', '--driver', 'cmd', '--param', "cmd=/bin/sh -c 'echo web1 is up; exec cat'", '--label', 'rack=r1'], { env, cwd });
  assert.equal(created.code, 0, created.stderr);
  const piped = await runCli(d, ['console', 'web1', '--linger', '300'], { env, cwd, input: 'uptime\r' });
  assert.match(piped.stdout, /web1 is up/);
  assert.equal((await runCli(d, ['node', 'delete', 'web1'], { env, cwd })).code, 0);
  assert.match(readFileSync(path.join(d.dataDir, 'logs', 'web1.log'), 'utf8'), /web1 is up[^]*uptime/);
  // What was typed at the prompt is logged after it (an attach note may come in between).
  assert.match(readFileSync(path.join(d.dataDir, 'logs', 'demo.log'), 'utf8'), /demo login: [^]*operator\r\n/);
});

test('with --nats the demo node has its own agent: the README\'s `switchboard run demo -- ...` works', async () => {
  const cwd = tempDir('demo-fleet');
  const prefix = fleetPrefix('demo');
  const d = await startDaemon({ args: ['--demo', '--nats', await natsUrl(), '--fleet-prefix', prefix], token: null, dataDir: path.join(cwd, 'data') });
  const env = { SWITCHBOARD_TOKEN: undefined };
  const r = await runCli(d, ['run', 'demo', '--', 'sh', '-c', 'echo "hello from $(hostname)"; exit 5'], { env, cwd });
  assert.equal(r.code, 5, r.stderr);
  assert.equal(r.stdout, `hello from ${hostname()}\n`);
  const agents = await runCli(d, ['fleet', 'agents'], { env, cwd });
  assert.match(agents.stdout, /^demo\s+\d+s ago/m);
  await d.stop();
});
