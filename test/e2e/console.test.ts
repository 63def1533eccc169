// Shared console sessions through the real daemon: WebSocket and TCP clients on one console.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { TcpConsole, WsConsole } from '../support/console-clients.js';
import { api, catNode, startDaemon, type DaemonHandle } from '../support/daemon.js';
import { isAlive } from '../support/processes.js';

let d: DaemonHandle;
before(async () => {
  d = await startDaemon({ env: { SWITCHBOARD_ONDEMAND_GRACE_MS: '300' } });
});

async function connectedNode(name: string, extra: Record<string, unknown> = {}): Promise<number> {
  const res = await api(d, 'POST', '/api/v1/nodes', catNode(name, extra));
  assert.equal(res.status, 201, res.text);
  return res.status;
}

describe('shared console', () => {
  test('two WebSocket clients and one TCP client see each other\'s typing; a spy cannot type', async () => {
    await connectedNode('share1');
    const a = await WsConsole.open(d, 'share1');
    const b = await WsConsole.open(d, 'share1');
    const t = await TcpConsole.open(d, { node: 'share1', token: d.token, mode: 'rw' });
    assert.equal(t.hello?.ok, true);
    const spy = await WsConsole.open(d, 'share1', { mode: 'ro' });
    await a.waitForNotice(/attached read-write/);
    await spy.waitForNotice(/read-only/);

    a.type('hello-from-ws\r');
    // The pty echoes the line and cat prints it again: both copies reach every client.
    for (const c of [a, b, t, spy]) await c.waitFor(/hello-from-ws\r\n[^]*hello-from-ws\r\n/);

    t.type('and-from-tcp\r');
    for (const c of [a, b, t, spy]) await c.waitFor('and-from-tcp');

    spy.type('spy-was-here\r');
    await spy.waitForNotice(/read-only \(spy\): input dropped/);
    b.type('after-spy\r');
    for (const c of [a, b, t, spy]) await c.waitFor('after-spy');
    for (const c of [a, b, t, spy]) assert.ok(!c.output.includes('spy-was-here'), 'spy input reached the console');

    // Everyone is told who came and went.
    await a.waitForNotice(/attached ro/);
    a.type('\x05c.');
    const closed = await a.waitClosed();
    assert.equal(closed.code, 1000);
    await b.waitForNotice(/detached/);
    const view = await api(d, 'GET', '/api/v1/nodes/share1');
    assert.equal(view.body.session.clients, 3);
    for (const c of [b, spy, t]) c.close();
  });

  test('a late joiner first gets a replay of recent output', async () => {
    await connectedNode('replay1');
    const first = await WsConsole.open(d, 'replay1');
    first.type('before-you-came\r');
    await first.waitFor(/before-you-came\r\n[^]*before-you-came\r\n/);
    const late = await WsConsole.open(d, 'replay1');
    await late.waitFor('before-you-came');
    const quiet = await WsConsole.open(d, 'replay1', { replay: 'false' });
    first.type('now\r');
    await quiet.waitFor('now');
    assert.ok(!quiet.output.includes('before-you-came'));
    for (const c of [first, late, quiet]) c.close();
  });

  test('killing the console process: clients are told on a line of their own, and it comes back', async () => {
    await connectedNode('kill1');
    const c = await WsConsole.open(d, 'kill1');
    const t = await TcpConsole.open(d, { node: 'kill1', token: d.token });
    c.type('partial-line');
    await t.waitFor('partial-line');
    const before = await api(d, 'GET', '/api/v1/nodes/kill1');
    const pid = before.body.session.info.pid as number;
    assert.ok(pid > 0 && isAlive(pid));
    process.kill(pid, 'SIGKILL');
    const down = await c.waitForNotice(/console down: .*reconnecting in/);
    // The client may have been told "console up" once already, when the node first connected.
    await c.waitForNotice(/console up/, 15_000, c.notices.indexOf(down) + 1);
    // On the byte stream the notice starts on a new line even though the console was mid-line.
    await t.waitFor(/partial-line\r\n\[console down: [^\]]*reconnecting[^\]]*\]\r\n/);
    const after = await api(d, 'GET', '/api/v1/nodes/kill1');
    assert.equal(after.body.session.state, 'connected');
    assert.notEqual(after.body.session.info.pid, pid);
    c.type('\rback-again\r');
    await c.waitFor('back-again');
    c.close();
    t.close();
  });

  test('force (Ctrl-E c f) makes other writers read-only and tells them', async () => {
    await connectedNode('force1');
    const a = await WsConsole.open(d, 'force1');
    const b = await WsConsole.open(d, 'force1');
    b.type('\x05cf');
    await b.waitForNotice(/exclusive write access/);
    await a.waitForNotice(/forced write access; you are read-only/);
    assert.ok(a.controls.some((m) => m.type === 'mode' && m.mode === 'ro'));
    a.type('blocked\r');
    await a.waitForNotice(/input dropped/);
    const told = a.notices.length;
    a.type('\x05ca');
    await a.waitForNotice(/attached read-write/, 15_000, told);
    a.type('allowed\r');
    await b.waitFor('allowed');
    assert.ok(!b.output.includes('blocked'));
    for (const c of [a, b]) c.close();
  });

  test('who, help and notes answer the asking client; a note lands in the log', async () => {
    await connectedNode('esc1');
    const a = await WsConsole.open(d, 'esc1');
    a.type('\x05cw');
    const who = await a.waitForNotice(/who is attached to esc1/);
    assert.match(who, /rw {2}admin@127\.0\.0\.1/);
    a.type('\x05c?');
    await a.waitForNotice(/escape commands/);
    a.type('\x05cnswapped the disk\r');
    await a.waitForNotice(/note by admin@127\.0\.0\.1: swapped the disk/);
    a.close();
  });

  test('attach errors: unknown node 404, disabled console 409, bad token 401', async () => {
    await assert.rejects(WsConsole.open(d, 'ghost'), { status: 404 });
    await api(d, 'POST', '/api/v1/nodes', catNode('off1', { consoleEnabled: false }));
    await assert.rejects(WsConsole.open(d, 'off1'), { status: 409 });
    await assert.rejects(WsConsole.open(d, 'off1', {}, 'wrong-token'), { status: 401 });
    const tq = await WsConsole.open(d, 'share1', { token: d.token! }, undefined);
    tq.close();
    for (const hello of [{ node: 'ghost', token: d.token }, { node: 'share1', token: 'nope' }, { node: 'share1' }]) {
      const t = await TcpConsole.open(d, hello);
      assert.equal(t.hello?.ok, false, JSON.stringify(hello));
      await t.waitClosed();
    }
  });

  test('the window size of a read-write client reaches the console program', async () => {
    await connectedNode('size1', { params: { cmd: ['/bin/sh', '-c', 'while read line; do stty size; done'] } });
    const c = await WsConsole.open(d, 'size1', { cols: '132', rows: '43' });
    c.type('\r');
    await c.waitFor('43 132');
    c.control({ type: 'resize', cols: 100, rows: 30 });
    c.type('\r');
    await c.waitFor('30 100');
    c.close();
  });

  test('the window size reaches a console program that starts with the attachment (ondemand)', async () => {
    // The program is started by this attachment, so the size comes while it is still starting.
    await connectedNode('size2', { ondemand: true, params: { cmd: ['/bin/sh', '-c', 'while read line; do stty size; done'] } });
    const c = await WsConsole.open(d, 'size2', { cols: '132', rows: '43' });
    await c.waitForNotice(/console up/);
    c.type('\r');
    await c.waitFor('43 132');
    c.close();
  });

  test('break sequences: l2 sends conserver\'s "\\r~^b" bytes; a driver without BREAK says so', async () => {
    await connectedNode('brk1');
    const c = await WsConsole.open(d, 'brk1');
    c.type('\x05cl2');
    await c.waitForNotice(/break sequence 2 sent/);
    await c.waitFor('~^B'); // the pty echoes Ctrl-B as ^B
    c.type('\x05cl1');
    await c.waitForNotice(/driver cmd cannot send a BREAK/);
    c.close();
  });

  test('a WebSocket client that vanishes mid-frame is detached and harms nothing', async () => {
    const net = await import('node:net');
    await connectedNode('midframe1');
    const s = net.connect(Number(new URL(d.url).port), '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    s.write([
      `GET /api/v1/nodes/midframe1/console?token=${d.token} HTTP/1.1`, `Host: ${d.listen}`, 'Upgrade: websocket', 'Connection: Upgrade',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13', '', '',
    ].join('\r\n'));
    await new Promise<void>((resolve) => s.on('data', (c: Buffer) => c.toString().startsWith('HTTP/1.1 101') && resolve()));
    await d.waitForLog((l) => l.node === 'midframe1' && l.msg === 'client attached', 'raw client attached');
    // A masked binary frame announcing 100 bytes, of which only 3 arrive.
    s.write(Buffer.from([0x82, 0x80 | 100, 1, 2, 3, 4, 0x61, 0x62, 0x63]));
    s.destroy();
    await d.waitForLog((l) => l.node === 'midframe1' && l.msg === 'client detached', 'raw client detached');
    const view = await api(d, 'GET', '/api/v1/nodes/midframe1');
    assert.equal(view.body.session.clients, 0);
    assert.equal(view.body.session.state, 'connected');
  });

  test('TCP attach: a client that sends garbage or hangs up mid-handshake does no harm', async () => {
    const net = await import('node:net');
    for (const junk of ['not json\n', '\u0000\u0001\u0002', '{"node":']) {
      const s = net.connect(d.consolePort, '127.0.0.1');
      await new Promise((r) => s.once('connect', r));
      s.resume(); // read (and drop) the refusal, so the end of the stream is seen
      s.end(junk);
      await new Promise((r) => s.once('close', r));
    }
    assert.equal((await api(d, 'GET', '/healthz')).status, 200);
  });
});

describe('ondemand', () => {
  test('connects on the first attach and disconnects a grace period after the last detach', async () => {
    await connectedNode('od1', { ondemand: true });
    const idle = await api(d, 'GET', '/api/v1/nodes/od1');
    assert.equal(idle.body.session.state, 'disconnected');
    assert.equal(idle.body.session.info.pid, undefined);
    const c = await WsConsole.open(d, 'od1');
    await c.waitForNotice(/console up/);
    const up = await api(d, 'GET', '/api/v1/nodes/od1');
    assert.equal(up.body.session.state, 'connected');
    const pid = up.body.session.info.pid as number;
    c.close();
    await waitForState('od1', 'disconnected');
    assert.ok(!isAlive(pid), 'the ondemand console process is still running');
  });
});

/** Wait for a node's session state through the daemon's own log of state changes. */
async function waitForState(name: string, state: string): Promise<void> {
  await d.waitForLog((l) => l.node === name && l.msg === 'session state' && l.state === state, `${name} ${state}`);
}
