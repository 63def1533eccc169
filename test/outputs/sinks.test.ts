// Output sinks end to end: a real daemon ships a `cmd` node's console lines and session events as
// JSON records to real receivers (TCP, TLS, UDP, a NATS subscriber), by label selector; a
// receiver that stops reading costs dropped records, never the console or the log file.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import type { NatsConnection } from 'nats';
import { runCli, runSwitchboard } from '../support/cli.js';
import { WsConsole } from '../support/console-clients.js';
import { api, startDaemon, tempDir, waitForLogFile, type DaemonHandle } from '../support/daemon.js';
import { natsConnection } from '../support/nats.js';
import { freePort, freeUdpPort } from '../support/ports.js';
import { closeAtEnd, Received, tcpReceiver, udpReceiver } from '../support/record-receivers.js';
import { waitUntil } from '../support/wait.js';

function configFile(settings: Record<string, unknown>): string {
  const file = path.join(tempDir('outputs-cfg'), 'switchboard.yaml');
  writeFileSync(file, JSON.stringify(settings)); // JSON is YAML
  return file;
}

/** Prints known lines (CRLF, ANSI colour, a prompt without a newline), then echoes what it is sent. */
const PRINTER = ['sh', '-c', 'echo "hello one"; printf "two\\r\\n"; printf "\\033[1mbold\\033[0m three\\n"; printf "login: "; exec cat'];
const EXPECTED = ['hello one', 'two', 'bold three', 'login:'];

describe('sinks receive console lines and events as JSON records', () => {
  let d: DaemonHandle;
  let tcp: { port: number; got: Received };
  let secure: { port: number; got: Received };
  let udp: { port: number; got: Received };
  let rack2: { port: number; got: Received };
  let nc: NatsConnection;
  const fromNats = new Received();

  before(async () => {
    const certDir = tempDir('outputs-cert');
    const gen = await runSwitchboard(['gen-cert', '--out', certDir]);
    assert.equal(gen.code, 0, gen.stderr);
    const cert = path.join(certDir, 'cert.pem');
    [tcp, secure, udp, rack2] = await Promise.all([
      tcpReceiver(),
      tcpReceiver({ cert: readFileSync(cert, 'utf8'), key: readFileSync(path.join(certDir, 'key.pem'), 'utf8') }),
      udpReceiver(),
      tcpReceiver(),
    ]);
    nc = await natsConnection();
    const sub = nc.subscribe('switchboard.console.>');
    void (async () => {
      for await (const m of sub) fromNats.add(`${JSON.stringify({ subject: m.subject, ...JSON.parse(m.string()) })}`);
    })();
    await nc.flush();
    const { natsUrl } = await import('../support/nats.js');
    d = await startDaemon({
      args: ['--config', configFile({
        outputIdleFlushMs: 100,
        outputs: [
          { name: 'logstash', type: 'tcp', address: `127.0.0.1:${tcp.port}` },
          { name: 'secure', type: 'tcp', address: `127.0.0.1:${secure.port}`, tls: { ca: cert } },
          { name: 'syslog', type: 'udp', address: `127.0.0.1:${udp.port}` },
          { name: 'bus', type: 'nats', url: await natsUrl() },
          { name: 'rack2', type: 'tcp', address: `127.0.0.1:${rack2.port}`, labels: { rack: '2' } },
        ],
      })],
    });
    for (const [name, rack] of [['web.1', '1'], ['db2', '2']]) {
      const res = await api(d, 'POST', '/api/v1/nodes', { name, driver: 'cmd', params: { cmd: PRINTER }, labels: { rack } });
      assert.equal(res.status, 201, res.text);
    }
  });

  after(async () => {
    await nc?.close();
  });

  test('TCP, TLS, UDP and NATS receivers each get the lines, in order, ANSI stripped, the prompt after idle', async () => {
    for (const [what, got] of [['tcp', tcp.got], ['tls', secure.got], ['udp', udp.got], ['nats', fromNats]] as const) {
      for (const node of ['web.1', 'db2']) {
        await got.waitFor((r) => r.node === node && r.message === 'login:', `${what}: ${node}'s prompt`);
        assert.deepEqual(got.lines(node).slice(0, 4), EXPECTED, `${what} ${node}`);
      }
      const rec = got.records.find((r) => r.node === 'web.1' && r.message === 'hello one')!;
      assert.equal(rec.type, 'console');
      assert.ok(Math.abs(Date.parse(rec.time) - Date.now()) < 60_000, rec.time);
    }
    // '.' would split a NATS subject token: web.1 publishes as web~1.
    assert.ok(fromNats.records.some((r) => r.subject === 'switchboard.console.web~1' && r.node === 'web.1'));
    assert.ok(fromNats.records.some((r) => r.subject === 'switchboard.console.db2' && r.node === 'db2'));
  });

  test("the lines' thread (records for the sinks) runs at a lower priority than the thread that reads the consoles", () => {
    const nice = (tid: number | string) => {
      const stat = readFileSync(`/proc/${d.pid}/task/${tid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]); // field 19 of proc(5)
    };
    const main = nice(d.pid);
    const others = readdirSync(`/proc/${d.pid}/task`).map(nice);
    assert.ok(others.includes(Math.min(19, main + 10)), `a thread at nice ${main} + 10 (threads: ${others.join(' ')})`);
  });

  test('a label selector sends an output only the matching nodes', async () => {
    await rack2.got.waitFor((r) => r.node === 'db2' && r.message === 'login:', "rack2: db2's prompt");
    await tcp.got.waitFor((r) => r.node === 'web.1' && r.message === 'login:', "web.1's prompt elsewhere");
    assert.deepEqual(rack2.got.lines('db2').slice(0, 4), EXPECTED);
    assert.equal(rack2.got.records.filter((r) => r.node === 'web.1').length, 0);
  });

  test('session events are records: console up, attach and detach with the identity and mode, notes', async () => {
    const up = await tcp.got.waitFor((r) => r.node === 'web.1' && r.type === 'event' && r.event === 'session-up', 'session-up');
    assert.equal(up.message, 'console up');

    const ws = await WsConsole.open(d, 'web.1');
    await ws.waitForNotice(/attached read-write/);
    const attach = await tcp.got.waitFor((r) => r.node === 'web.1' && r.event === 'attach', 'attach event');
    assert.equal(attach.type, 'event');
    assert.equal(attach.client, 'admin');
    assert.equal(attach.mode, 'rw');
    ws.type('typed after attach\r');
    await tcp.got.waitFor((r) => r.node === 'web.1' && r.type === 'console' && r.message === 'typed after attach', 'typed line');
    ws.close();
    const detach = await udp.got.waitFor((r) => r.node === 'web.1' && r.event === 'detach', 'detach event');
    assert.equal(detach.client, 'admin');

    const note = await runCli(d, ['note', 'web.1', 'rebooting', 'for', 'the', 'kernel', 'update']);
    assert.equal(note.code, 0, note.stderr);
    const rec = await secure.got.waitFor((r) => r.node === 'web.1' && r.event === 'note', 'note event');
    assert.equal(rec.text, 'rebooting for the kernel update');
    assert.equal(rec.message, 'note by admin: rebooting for the kernel update');
    await fromNats.waitFor((r) => r.node === 'web.1' && r.event === 'note', 'note on nats');
    await waitForLogFile(d, 'web.1', 'note by admin: rebooting for the kernel update');
    // No token reaches a record.
    assert.ok(!JSON.stringify(tcp.got.records).includes(d.token!));

    const stats = await api(d, 'GET', '/api/v1/outputs');
    assert.equal(stats.status, 200);
    const byName = Object.fromEntries(stats.body.outputs.map((o: { name: string }) => [o.name, o]));
    assert.deepEqual(Object.keys(byName).sort(), ['bus', 'logstash', 'rack2', 'secure', 'syslog']);
    for (const name of ['logstash', 'secure', 'bus']) {
      assert.equal(byName[name].connected, true, name);
      assert.ok(byName[name].sent >= 8, `${name}: ${JSON.stringify(byName[name])}`);
      assert.equal(byName[name].dropped, 0);
    }
  });

  test('a note written through the API reaches the clients attached to the console, as one typed there does', async () => {
    const ws = await WsConsole.open(d, 'web.1');
    await ws.waitForNotice(/attached read-write/);
    // The escape-sequence note first: the API's must reach the client the same way.
    ws.type('\x05cntyped at the console\r');
    await ws.waitForNotice(/^note by admin@127\.0\.0\.1: typed at the console$/);
    const res = await api(d, 'POST', '/api/v1/nodes/web.1/notes', { text: 'maintenance at 14:00' });
    assert.equal(res.status, 200, res.text);
    await ws.waitForNotice(/^note by admin: maintenance at 14:00$/);
    await tcp.got.waitFor((r) => r.node === 'web.1' && r.event === 'note' && r.text === 'maintenance at 14:00', 'the note at the sink');
    await waitForLogFile(d, 'web.1', 'note by admin: maintenance at 14:00');
    ws.close();
  });

  test('a client the daemon detaches (its session stopped) is a detach event with the reason', async () => {
    const res = await api(d, 'POST', '/api/v1/nodes', { name: 'doomed', driver: 'cmd', params: { cmd: ['/bin/cat'] } });
    assert.equal(res.status, 201, res.text);
    const ws = await WsConsole.open(d, 'doomed');
    await ws.waitForNotice(/attached read-write/);
    assert.equal((await api(d, 'DELETE', '/api/v1/nodes/doomed')).status, 204);
    const detach = await tcp.got.waitFor((r) => r.node === 'doomed' && r.event === 'detach', 'the detach event');
    assert.equal(detach.client, 'admin');
    assert.equal(detach.reason, 'node deleted');
    assert.match(detach.message, /^admin@127\.0\.0\.1 detached: node deleted$/);
  });

  test('notes: a read-only console token may not write one; an empty or multi-line note is refused', async () => {
    const tok = await api(d, 'POST', '/api/v1/tokens', { node: 'web.1', rights: ['console:ro'], ttl: '1h' });
    assert.equal(tok.status, 201, tok.text);
    const ro = await api(d, 'POST', '/api/v1/nodes/web.1/notes', { text: 'hi' }, { authorization: `Bearer ${tok.body.token}` });
    assert.equal(ro.status, 403);
    assert.equal((await api(d, 'POST', '/api/v1/nodes/web.1/notes', { text: '' })).status, 400);
    assert.equal((await api(d, 'POST', '/api/v1/nodes/web.1/notes', { text: 'a\nb' })).status, 400);
    assert.equal((await api(d, 'POST', '/api/v1/nodes/nope/notes', { text: 'x' })).status, 404);
  });
});

describe('power actions', () => {
  test('an action that ended is an event in the log, at the sinks and on the attached consoles, failed ones with the reason', async () => {
    const got = await tcpReceiver();
    const d = await startDaemon({ args: ['--config', configFile({ outputs: [{ name: 'ls', type: 'tcp', address: `127.0.0.1:${got.port}` }] })] });
    // A BMC address where nothing answers: the action fails fast, as with a BMC that is down.
    const power = { driver: 'ipmi', params: { host: '127.0.0.1', port: await freeUdpPort(), user: 'u', password: 'secret-bmc-pw', timeoutMs: 300 } };
    const res = await api(d, 'POST', '/api/v1/nodes', { name: 'pw1', driver: 'cmd', params: { cmd: ['/bin/cat'] }, power });
    assert.equal(res.status, 201, res.text);
    await got.got.waitFor((r) => r.node === 'pw1' && r.event === 'session-up', 'session up');
    const ws = await WsConsole.open(d, 'pw1');
    await ws.waitForNotice(/attached read-write/);
    const on = await api(d, 'POST', '/api/v1/nodes/pw1/power', { action: 'on' });
    assert.equal(on.status, 504, on.text);
    const rec = await got.got.waitFor((r) => r.node === 'pw1' && r.event === 'power', 'power event');
    assert.equal(rec.action, 'on');
    assert.equal(rec.ok, false);
    assert.equal(rec.client, 'admin');
    assert.match(rec.message, /^power on by admin failed: /);
    await waitForLogFile(d, 'pw1', 'power on by admin failed');
    await ws.waitForNotice(/^power on by admin failed: /);
    ws.close();
    // A scoped token is named by its id, never its value.
    const tok = await api(d, 'POST', '/api/v1/tokens', { node: 'pw1', rights: ['power'], ttl: '1h' });
    assert.equal(tok.status, 201, tok.text);
    const off = await api(d, 'POST', '/api/v1/nodes/pw1/power', { action: 'off' }, { authorization: `Bearer ${tok.body.token}` });
    assert.equal(off.status, 504, off.text);
    const byToken = await got.got.waitFor((r) => r.node === 'pw1' && r.event === 'power' && r.action === 'off', 'the token holder\'s power event');
    assert.equal(byToken.client, `token:${tok.body.id}`);
    assert.match(byToken.message, new RegExp(`^power off by token:${tok.body.id} failed: `));
    assert.ok(!JSON.stringify(got.got.records).includes('secret-bmc-pw'));
    assert.ok(!JSON.stringify(got.got.records).includes(tok.body.token));
  });
});

describe('a receiver that stops reading', () => {
  test('never holds the console or the log file back: records are dropped and counted', async () => {
    const stuck: net.Socket[] = [];
    const server = net.createServer((s) => {
      s.pause(); // accepts, never reads: the kernel buffers fill, then nothing moves
      stuck.push(s);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closeAtEnd({ close: () => { for (const s of stuck) s.destroy(); server.close(); } });
    const port = (server.address() as net.AddressInfo).port;
    const d = await startDaemon({
      args: ['--config', configFile({ outputs: [{ name: 'stuck', type: 'tcp', address: `127.0.0.1:${port}`, maxQueued: 1000 }] })],
    });
    await waitUntil(() => stuck.length > 0 || undefined, { what: 'the sink connected', subscribe: (wake) => { server.on('connection', wake); return () => server.off('connection', wake); } });
    // 300,000 lines, ~8 MB of records: far more than the socket buffers hold.
    const res = await api(d, 'POST', '/api/v1/nodes', {
      name: 'flood', driver: 'cmd', params: { cmd: ['sh', '-c', 'seq 1 300000 | sed "s/^/flood line number /"; echo FLOOD-DONE; exec cat'] },
    });
    assert.equal(res.status, 201, res.text);
    const ws = await WsConsole.open(d, 'flood', { replay: 'false' });
    await ws.waitFor('FLOOD-DONE', 60_000);
    await waitForLogFile(d, 'flood', 'FLOOD-DONE');
    assert.match(readFileSync(path.join(d.dataDir, 'logs', 'flood.log'), 'utf8'), /flood line number 300000\r?\n/);
    const { body } = await api(d, 'GET', '/api/v1/outputs');
    const s = body.outputs[0];
    assert.equal(s.name, 'stuck');
    assert.ok(s.dropped > 200_000, JSON.stringify(s));
    assert.ok(s.queued <= 1000, JSON.stringify(s));
    assert.equal(s.connected, true);
    ws.close();
  });
});

describe('a receiver that is down', () => {
  test('is retried with backoff; what was said meanwhile arrives once it listens', async () => {
    const port = await freePort(); // nobody listens yet
    const d = await startDaemon({ args: ['--config', configFile({ outputs: [{ name: 'late', type: 'tcp', address: `127.0.0.1:${port}` }] })] });
    await d.waitForLog((l) => l.msg === 'output unreachable; retrying' && l.output === 'late', 'the sink failing to connect');
    const res = await api(d, 'POST', '/api/v1/nodes', { name: 'early', driver: 'cmd', params: { cmd: ['sh', '-c', 'echo said while away; exec cat'] } });
    assert.equal(res.status, 201, res.text);
    const ws = await WsConsole.open(d, 'early');
    await ws.waitFor('said while away');
    ws.close();
    const queued = await api(d, 'GET', '/api/v1/outputs');
    assert.equal(queued.body.outputs[0].connected, false);
    assert.ok(queued.body.outputs[0].queued >= 1, JSON.stringify(queued.body));

    const { got } = await tcpReceiver(undefined, port);
    await got.waitFor((r) => r.node === 'early' && r.message === 'said while away', 'the queued line after reconnecting');
    await d.waitForLog((l) => l.msg === 'output connected' && l.output === 'late', 'output connected');
  });
});
