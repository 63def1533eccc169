// The fleet's stream inputs end to end: a daemon with --nats, its unix socket (written with the
// real socat and with node's net) and its TCP listener, a real agent, a real nats-server.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { closeSync, existsSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { runSwitchboard } from '../support/cli.js';
import { api, startDaemon, tempDir, type DaemonHandle } from '../support/daemon.js';
import { FIXTURES } from '../support/fleet-fixtures.js';
import { fleetPrefix, natsUrl, startAgent } from '../support/nats.js';
import { freePort } from '../support/ports.js';
import { exited, spawnTracked } from '../support/processes.js';

const BODY_LIMIT = 64 * 1024;

interface Reply {
  ok: boolean;
  messages?: { id: string; node: string; index: number }[];
  error?: { code: string; message: string; field?: string };
}

/** Writes `chunks` one by one on a fresh connection, half-closes, and returns the reply lines until the daemon hangs up. */
async function exchange(to: net.NetConnectOpts, chunks: (string | Buffer)[]): Promise<Reply[]> {
  const socket = net.connect(to);
  await once(socket, 'connect');
  let text = '';
  socket.on('data', (c: Buffer) => (text += c.toString()));
  const ended = once(socket, 'end');
  for (const chunk of chunks) await new Promise<void>((resolve, reject) => socket.write(chunk, (err) => (err ? reject(err) : resolve())));
  socket.end();
  await ended;
  socket.destroy();
  assert.ok(text.endsWith('\n'), `reply lines end with a newline: ${JSON.stringify(text)}`);
  return text.trimEnd().split('\n').map((l) => JSON.parse(l) as Reply);
}

/** `socat ARGS < file`, as a user would; returns its stdout. */
async function socatFrom(file: string, args: string[]): Promise<string> {
  const stdin = openSync(file, 'r');
  const proc = spawnTracked('socat', args, { stdio: [stdin, 'pipe', 'pipe'] });
  closeSync(stdin);
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (c: Buffer) => (stdout += c));
  proc.stderr!.on('data', (c: Buffer) => (stderr += c));
  const closed = once(proc, 'close');
  const { code } = await exited(proc);
  await closed;
  assert.equal(code, 0, stderr);
  return stdout;
}

function auditLines(d: DaemonHandle): { event: string; id: string; by?: string }[] {
  return readFileSync(path.join(d.dataDir, 'fleet', 'audit.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
}

async function messageCount(d: DaemonHandle): Promise<number> {
  const { body } = await api(d, 'GET', '/api/v1/fleet/messages?limit=10000');
  return body.messages.length;
}

const echo = (node: string, text: string) => ({ toNode: node, method: 'REQCliCommand', data: ['echo', text], replyMethod: 'REQToConsole' });

describe('fleet inputs: unix socket and TCP listener', () => {
  const prefix = fleetPrefix('inputs');
  let env: Record<string, string>;
  let daemon: DaemonHandle;
  let socketPath: string;
  let tcpPort: number;

  before(async () => {
    env = { SWITCHBOARD_NATS_URL: await natsUrl(), SWITCHBOARD_FLEET_PREFIX: prefix, SWITCHBOARD_BODY_LIMIT: String(BODY_LIMIT) };
    tcpPort = await freePort();
    daemon = await startDaemon({ env, args: ['--fleet-tcp', `127.0.0.1:${tcpPort}`] });
    socketPath = path.join(daemon.dataDir, 'fleet.sock');
    const { body } = await api(daemon, 'GET', '/api/v1/fleet/signer');
    await startAgent({ node: 'web-1', prefix, allowSigner: body.publicKey });
  });

  test('a message file written with socat is answered with its id, and the agent runs it', async () => {
    const file = path.join(tempDir('inputs-msgs'), 'msgs.json');
    writeFileSync(file, JSON.stringify([echo('web-1', 'via the socket')], null, 2));
    const out = await socatFrom(file, ['-t', '30', '-', `UNIX-CONNECT:${socketPath}`]);
    const [reply, ...rest] = out.trimEnd().split('\n').map((l) => JSON.parse(l) as Reply);
    assert.deepEqual(rest, []);
    assert.equal(reply.ok, true, out);
    assert.equal(reply.messages!.length, 1);
    const [{ id, node, index }] = reply.messages!;
    assert.deepEqual({ node, index }, { node: 'web-1', index: 0 });
    const { body } = await api(daemon, 'GET', `/api/v1/fleet/messages/${id}?wait=20`);
    assert.equal(body.state, 'replied', JSON.stringify(body));
    assert.equal(body.reply.stdout, 'via the socket\n');
    assert.ok(auditLines(daemon).some((l) => l.event === 'submitted' && l.id === id && l.by === 'socket'), 'the audit log says it came by the socket');
  });

  test("steward's own two-message fixture is taken as it is: one id per message, in order", async () => {
    const out = await socatFrom(path.join(FIXTURES, 'steward', 'two-messages.json'), ['-t', '30', '-', `UNIX-CONNECT:${socketPath}`]);
    const reply = JSON.parse(out) as Reply;
    assert.equal(reply.ok, true, out);
    assert.deepEqual(reply.messages!.map((m) => [m.node, m.index]), [['ship1', 0], ['ship2', 1]]);
    for (const m of reply.messages!) {
      const { body } = await api(daemon, 'GET', `/api/v1/fleet/messages/${m.id}`);
      assert.equal(body.state, 'queued'); // no agent for ship1/ship2: waiting on NATS
      assert.equal(body.method, 'cliCommand');
    }
  });

  test('two arrays on one connection, the second split across writes and no newline between, are both taken', async () => {
    const second = JSON.stringify([echo('web-1', 'second [with] "brackets" \\" in it'), echo('web-1', 'third')]);
    const cut = second.indexOf('brackets');
    const replies = await exchange({ path: socketPath }, [JSON.stringify([echo('web-1', 'first')]) + second.slice(0, cut), second.slice(cut)]);
    assert.equal(replies.length, 2, JSON.stringify(replies));
    assert.ok(replies.every((r) => r.ok), JSON.stringify(replies));
    assert.equal(replies[0].messages!.length, 1);
    assert.equal(replies[1].messages!.length, 2);
    const outputs = [];
    for (const { id } of [...replies[0].messages!, ...replies[1].messages!]) {
      const { body } = await api(daemon, 'GET', `/api/v1/fleet/messages/${id}?wait=20`);
      outputs.push(body.reply?.stdout);
    }
    assert.deepEqual(outputs, ['first\n', 'second [with] "brackets" \\" in it\n', 'third\n']);
  });

  test('invalid JSON and an invalid message each get an error line naming the problem; nothing of them is recorded', async () => {
    const before = await messageCount(daemon);
    const badMessage = [echo('web-1', 'fine on its own'), { ...echo('web-1', 'x'), retries: -1 }];
    const replies = await exchange({ path: socketPath }, [
      '[{"toNode": "web-1", "method": "REQCliCommand",}]\n',
      `${JSON.stringify(badMessage)}\n`,
      `${JSON.stringify([echo('web-1', 'after the errors')])}\n`,
    ]);
    assert.equal(replies.length, 3, JSON.stringify(replies));
    assert.equal(replies[0].ok, false);
    assert.equal(replies[0].error!.code, 'BAD_JSON');
    assert.equal(replies[1].ok, false);
    assert.equal(replies[1].error!.code, 'FLEET_MESSAGE');
    assert.match(replies[1].error!.message, /^message 1: field 'retries'/);
    assert.equal(replies[1].error!.field, 'retries');
    // The connection goes on: the array after the errors is taken, and only it is recorded.
    assert.equal(replies[2].ok, true, JSON.stringify(replies[2]));
    assert.equal(await messageCount(daemon), before + 1);
  });

  test('a connection that ends inside an array, or sends more than bodyLimit without completing one, is told so and nothing is taken', async () => {
    const before = await messageCount(daemon);
    const [cut] = await exchange({ path: socketPath }, [JSON.stringify([echo('web-1', 'never finished')]).slice(0, -1)]);
    assert.equal(cut.ok, false);
    assert.equal(cut.error!.code, 'BAD_JSON');
    assert.match(cut.error!.message, /ended inside an array/);

    // The daemon answers and hangs up; the client's end() may race it, so read until the end ourselves.
    const socket = net.connect({ path: socketPath });
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString()));
    socket.on('error', () => {}); // our writes after its hang-up may fail: that is the point
    const ended = once(socket, 'close');
    socket.write(`[${JSON.stringify(echo('web-1', 'x'.repeat(BODY_LIMIT)))}`);
    await ended;
    const reply = JSON.parse(text) as Reply;
    assert.equal(reply.ok, false);
    assert.equal(reply.error!.code, 'BODY_TOO_LARGE');
    assert.match(reply.error!.message, new RegExp(String(BODY_LIMIT)));
    assert.equal(await messageCount(daemon), before);
  });

  test('a client that writes and goes without reading (socat -u, as steward) still has its messages taken', async () => {
    const file = path.join(tempDir('inputs-oneway'), 'msgs.json');
    writeFileSync(file, JSON.stringify([echo('web-1', 'one way')]));
    const seen = daemon.logs.length;
    assert.equal(await socatFrom(file, ['-u', '-', `UNIX-CONNECT:${socketPath}`]), '');
    await daemon.waitForLog((l) => daemon.logs.indexOf(l) >= seen && l.msg === 'fleet input: messages taken', 'the one-way submission taken');
    const { body } = await api(daemon, 'GET', '/api/v1/fleet/messages?node=web-1&limit=1');
    const { body: done } = await api(daemon, 'GET', `/api/v1/fleet/messages/${body.messages[0].id}?wait=20`);
    assert.equal(done.reply.stdout, 'one way\n');
  });

  test('the socket is mode 0600', () => {
    const st = statSync(socketPath);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
  });

  test('the TCP listener takes arrays like the socket; the audit log names the client address', async () => {
    const socket = net.connect({ host: '127.0.0.1', port: tcpPort });
    await once(socket, 'connect');
    const clientPort = socket.localPort;
    const lines: Reply[] = [];
    let text = '';
    const gotLine = new Promise<void>((resolve) => socket.on('data', (c: Buffer) => {
      text += c.toString();
      if (text.endsWith('\n')) resolve();
    }));
    socket.write(`${JSON.stringify([echo('web-1', 'via tcp')])}\n`);
    await gotLine; // answered before the client half-closes: a client may keep its connection
    lines.push(...text.trimEnd().split('\n').map((l) => JSON.parse(l) as Reply));
    socket.end();
    await once(socket, 'close');
    assert.equal(lines.length, 1);
    assert.equal(lines[0].ok, true, text);
    const [{ id }] = lines[0].messages!;
    const { body } = await api(daemon, 'GET', `/api/v1/fleet/messages/${id}?wait=20`);
    assert.equal(body.state, 'replied');
    assert.equal(body.reply.stdout, 'via tcp\n');
    const submitted = auditLines(daemon).find((l) => l.event === 'submitted' && l.id === id);
    assert.equal(submitted?.by, `tcp:127.0.0.1:${clientPort}`);
  });
});

describe('fleet inputs: starting and stopping', () => {
  const prefix = fleetPrefix('inputstart');
  let env: Record<string, string>;

  before(async () => {
    env = { SWITCHBOARD_NATS_URL: await natsUrl(), SWITCHBOARD_FLEET_PREFIX: prefix };
  });

  /** `switchboard serve` expected to refuse to start. */
  function serveFails(dataDir: string, args: string[]) {
    return runSwitchboard(['serve', '--listen', '127.0.0.1:0', '--console-port', '-1', '--data-dir', dataDir, '--admin-token', 'test-admin-token-0123456789abcdef', ...args], {
      env: { ...process.env, ...env },
    });
  }

  test('a regular file at the socket path stops the daemon from starting, and the file is left as it was', async () => {
    const dataDir = tempDir('inputs-file');
    const file = path.join(dataDir, 'fleet.sock');
    writeFileSync(file, 'my notes\n');
    const r = await serveFails(dataDir, []);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /fleetSocket .*fleet\.sock exists and is not a socket; it is left as it is/);
    assert.equal(readFileSync(file, 'utf8'), 'my notes\n');
  });

  test('a socket left by a killed daemon is replaced; a socket a live daemon listens on is refused; stop removes it', async () => {
    const dataDir = tempDir('inputs-stale');
    const file = path.join(dataDir, 'fleet.sock');
    const first = await startDaemon({ dataDir, env });
    process.kill(first.pid, 'SIGKILL');
    await first.exited();
    assert.ok(statSync(file).isSocket(), 'the killed daemon left its socket behind');

    const second = await startDaemon({ dataDir, env });
    await second.waitForLog((l) => l.msg === 'stale fleet socket replaced', 'stale socket replaced');
    const [reply] = await exchange({ path: file }, [JSON.stringify([echo('nobody-1', 'x')])]);
    assert.equal(reply.ok, true, JSON.stringify(reply));

    const third = await serveFails(tempDir('inputs-third'), ['--fleet-socket', file]);
    assert.notEqual(third.code, 0);
    assert.match(third.stderr, /fleetSocket .*fleet\.sock: another process listens on it/);
    const [still] = await exchange({ path: file }, [JSON.stringify([echo('nobody-1', 'y')])]);
    assert.equal(still.ok, true, 'the live daemon keeps its socket');

    await second.stop();
    assert.equal(existsSync(file), false, 'the socket is removed on stop');
  });

  test('--fleet-socket off: no socket', async () => {
    const daemon = await startDaemon({ env, args: ['--fleet-socket', 'off'] });
    const ready = daemon.logs.find((l) => l.msg === 'switchboard ready')!;
    assert.equal(ready.fleetSocket, null);
    assert.equal(existsSync(path.join(daemon.dataDir, 'fleet.sock')), false);
    await daemon.stop();
  });

  test('a non-loopback TCP host is refused at start without --insecure, and nothing listens', async () => {
    const port = await freePort();
    const dataDir = tempDir('inputs-tcp');
    const r = await serveFails(dataDir, ['--fleet-tcp', `0.0.0.0:${port}`]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /fleetTcpListen on a non-loopback address \(0\.0\.0\.0\): anyone who can reach it can submit fleet messages.*--insecure/);
    assert.equal(existsSync(path.join(dataDir, 'fleet.sock')), false);
    const probe = net.connect({ host: '127.0.0.1', port });
    const [err] = (await once(probe, 'error')) as [NodeJS.ErrnoException];
    assert.equal(err.code, 'ECONNREFUSED');
  });
});
