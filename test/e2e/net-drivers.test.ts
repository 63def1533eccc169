// telnet and tcp consoles through the real daemon, against real peers: ser2net serving a
// machine's serial port (a shell on a pty) in telnet and raw mode, and socat serving a shell.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { runCli } from '../support/cli.js';
import { WsConsole } from '../support/console-clients.js';
import { api, startDaemon, type DaemonHandle } from '../support/daemon.js';
import { freePort, startBlackhole, startSer2net, startSerialMachine, startSocatShell, type Ser2net, type SocatShell } from '../support/peers.js';

let d: DaemonHandle;
let ser2net: Ser2net;
let socat: SocatShell;
let telnetPort: number;
let rawPort: number;

before(async () => {
  const [ttyS0, ttyS1] = await Promise.all([startSerialMachine('ttyS0'), startSerialMachine('ttyS1')]);
  [ser2net, socat, d] = await Promise.all([
    startSer2net([{ mode: 'telnet', device: ttyS0.device }, { mode: 'raw', device: ttyS1.device }]),
    startSocatShell(),
    startDaemon(),
  ]);
  [telnetPort, rawPort] = ser2net.ports;
});

async function createNode(name: string, driver: string, params: Record<string, unknown>): Promise<void> {
  const res = await api(d, 'POST', '/api/v1/nodes', { name, driver, params });
  assert.equal(res.status, 201, res.text);
}

function connected(name: string) {
  return d.waitForLog((l) => l.node === name && l.msg === 'session state' && l.state === 'connected', `${name} connected`);
}

/** Attach once the console is up, so what is typed reaches it. */
async function attach(name: string): Promise<WsConsole> {
  await connected(name);
  return WsConsole.open(d, name);
}

/** Type two bytes and Enter; the shell on the far side shows in hex (od) the three it read. */
async function machineReads(c: WsConsole, typed: string, hex: string): Promise<void> {
  c.type('od -An -tx1 -N3\r');
  await c.waitFor('od -An -tx1 -N3\r\n'); // the line reached the shell; the next one is od's input
  c.type(`${typed}\r`);
  await c.waitFor(hex);
}

describe('telnet through ser2net', () => {
  test('typing reaches the shell on the serial side; 0xFF passes both ways; BREAK is sent', async () => {
    await createNode('tel1', 'telnet', { host: '127.0.0.1', port: telnetPort });
    const c = await attach('tel1');
    c.type('echo via-telnet-$((6*7))\r');
    await c.waitFor('via-telnet-42');

    // ser2net offers BINARY both ways and we take it, so bytes are not NVT-translated.
    const view = await api(d, 'GET', '/api/v1/nodes/tel1');
    assert.equal(view.body.session.info.remote, `127.0.0.1:${telnetPort}`);
    assert.deepEqual(view.body.session.info.telnetOptions, { local: ['binary', 'sga'], remote: ['binary', 'echo', 'sga'] });

    // 0xFF typed goes out as IAC IAC and reaches the machine as one byte...
    await machineReads(c, '\xffA', ' ff 41 0a');
    // ...and 0xFF printed by the machine comes back as one byte.
    c.type("printf 'x\\377y\\n'\r");
    await c.waitFor('x\xffy\r\n');

    // No window size here: ser2net never asks for NAWS (test/drivers/telnet.test.ts covers it).
    c.control({ type: 'resize', cols: 132, rows: 43 });
    c.type('\x05cl1');
    await c.waitForNotice(/break sequence 1 sent/);
    c.type('echo after-break-$((1+1))\r');
    await c.waitFor('after-break-2');
    c.close();
  });
});

describe('tcp', () => {
  test('through ser2net in raw mode: bytes as they are, 0xFF included', async () => {
    await createNode('raw1', 'tcp', { host: '127.0.0.1', port: rawPort });
    const c = await attach('raw1');
    c.type('echo via-raw-$((6*7))\r');
    await c.waitFor('via-raw-42');
    await machineReads(c, '\xffB', ' ff 42 0a');
    c.close();
  });

  test('through socat, with the node made by the CLI (--param port=N arrives as a string)', async () => {
    const res = await runCli(d, ['node', 'create', 'sock1', '--driver', 'tcp', '--param', 'host=127.0.0.1', '--param', `port=${socat.port}`]);
    assert.equal(res.code, 0, res.stderr);
    const view = await api(d, 'GET', '/api/v1/nodes/sock1');
    assert.equal(view.body.params.port, socat.port, 'stored as a number');
    const c = await attach('sock1');
    c.type('echo via-socat-$((6*7))\r');
    await c.waitFor('via-socat-42');
    c.close();
  });
});

describe('peers going away and coming back', () => {
  test('ser2net stopped: both its consoles go down with the reason, and come back when it returns', async () => {
    const tel = await attach('tel1');
    const raw = await attach('raw1');
    // Shell state on the serial side survives: it is the machine, not the connection.
    tel.type('MARK=kept-$((1+1))\r');
    raw.type('MARK=raw-$((2+2))\r');
    await tel.waitFor(/MARK=kept-\$\(\(1\+1\)\)\r\n\$ /); // the next prompt: the shell took it
    await raw.waitFor(/MARK=raw-\$\(\(2\+2\)\)\r\n\$ /);
    const since = [tel.notices.length, raw.notices.length];
    await ser2net.stop();
    await tel.waitForNotice(/^console down: closed by peer; reconnecting in/, 15_000, since[0]);
    await raw.waitForNotice(/^console down: closed by peer; reconnecting in/, 15_000, since[1]);
    const refused = [tel.notices.length, raw.notices.length];
    await tel.waitForNotice(new RegExp(`^console failed: connection refused by 127\\.0\\.0\\.1:${telnetPort}; reconnecting in`), 15_000, refused[0]);
    await raw.waitForNotice(new RegExp(`^console failed: connection refused by 127\\.0\\.0\\.1:${rawPort}; reconnecting in`), 15_000, refused[1]);
    const down = await api(d, 'GET', '/api/v1/nodes/tel1');
    assert.equal(down.body.session.lastError, `connection refused by 127.0.0.1:${telnetPort}`);

    await ser2net.start();
    await tel.waitForNotice(/^console up$/, 15_000, refused[0]);
    await raw.waitForNotice(/^console up$/, 15_000, refused[1]);
    tel.type('echo mark-$MARK\r');
    await tel.waitFor('mark-kept-2');
    raw.type('echo mark-$MARK\r');
    await raw.waitFor('mark-raw-4');
    tel.close();
    raw.close();
  });

  test('socat stopped: the console goes down, and comes back when socat listens on the port again', async () => {
    const c = await attach('sock1');
    const since = c.notices.length;
    await socat.stop();
    await c.waitForNotice(/^console down: closed by peer; reconnecting in/, 15_000, since);
    const refused = c.notices.length;
    await c.waitForNotice(new RegExp(`^console failed: connection refused by 127\\.0\\.0\\.1:${socat.port}; `), 15_000, refused);
    await socat.start();
    await c.waitForNotice(/^console up$/, 15_000, refused);
    c.type('echo socat-again-$((3*3))\r');
    await c.waitFor('socat-again-9');
    c.close();
  });
});

describe('connect failures', () => {
  async function errorReason(name: string): Promise<string> {
    const line = await d.waitForLog((l) => l.node === name && l.msg === 'session state' && l.state === 'error', `${name} in error`);
    const view = await api(d, 'GET', `/api/v1/nodes/${name}`);
    assert.equal(view.body.session.lastError, line.reason);
    return line.reason as string;
  }

  test('a refused port, an unknown host and a connect timeout put the node in error with the reason', async () => {
    const closed = await freePort();
    const blackhole = await startBlackhole();
    await createNode('refused1', 'tcp', { host: '127.0.0.1', port: closed });
    await createNode('nodns1', 'telnet', { host: 'no-such-host.invalid' });
    await createNode('slow1', 'telnet', { host: '127.0.0.1', port: blackhole.port, connectTimeoutMs: 500 });
    assert.equal(await errorReason('refused1'), `connection refused by 127.0.0.1:${closed}`);
    assert.equal(await errorReason('nodns1'), 'cannot resolve no-such-host.invalid (DNS)');
    assert.equal(await errorReason('slow1'), `timed out after 0.5s connecting to 127.0.0.1:${blackhole.port}`);
  });

  test('params are checked before anything connects', async () => {
    for (const [params, field] of [
      [{ host: '127.0.0.1', port: 70000 }, /params\.port/],
      [{ host: '127.0.0.1', port: '23x' }, /params\.port/],
      [{ host: '', port: 23 }, /params\.host/],
      [{ host: 'h', port: 23, colour: 'blue' }, /params/],
    ] as const) {
      const res = await api(d, 'POST', '/api/v1/nodes', { name: 'badparams1', driver: 'tcp', params });
      assert.equal(res.status, 400, JSON.stringify(params));
      assert.equal(res.body.error, 'BAD_PARAMS');
      assert.match(res.body.message, field);
    }
  });
});
