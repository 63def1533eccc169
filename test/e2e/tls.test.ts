// TLS end to end: `gen-cert` through the real CLI, a daemon serving that pair on every listener
// (HTTPS, WSS, the TCP console port), clients that verify it, and the refusals: plaintext off
// loopback, and a certificate and key that do not belong together.
import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { checkPlaintextListen, isLoopbackHost, type TlsMaterial } from '../../src/daemon/tls.js';
import { runCli, runSwitchboard } from '../support/cli.js';
import { escapeRegExp, TcpConsole, WsConsole } from '../support/console-clients.js';
import { startDaemon, tempDir, TOKEN, type DaemonHandle } from '../support/daemon.js';
import { freePort } from '../support/ports.js';
import { onEvents, waitUntil } from '../support/wait.js';

/** An environment with no SWITCHBOARD_* settings leaking in from the one running the tests. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('SWITCHBOARD_')) delete env[k];
  return { ...env, ...extra };
}

async function genCert(dir: string, ...args: string[]): Promise<{ cert: string; key: string; stdout: string }> {
  const res = await runSwitchboard(['gen-cert', '--out', dir, ...args], { env: cleanEnv() });
  assert.equal(res.code, 0, res.stderr);
  return { cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem'), stdout: res.stdout };
}

/** `switchboard serve` that must refuse to start: its exit status and what it said. */
async function serveRefused(args: string[]): Promise<{ code: number | null; stderr: string; dataDir: string }> {
  const dataDir = path.join(tempDir('refused'), 'data');
  const res = await runSwitchboard(['serve', '--console-port', '0', '--data-dir', dataDir, '--admin-token', TOKEN, ...args], { env: cleanEnv() });
  assert.ok(!res.stdout.includes('switchboard ready'), `the daemon started: ${res.stdout}`);
  return { code: res.code, stderr: res.stderr, dataDir };
}

const mode = (file: string) => statSync(file).mode & 0o777;

describe('switchboard gen-cert', () => {
  test('writes cert.pem (0644) and key.pem (0600) for localhost, 127.0.0.1, ::1 and every --host', async () => {
    const dir = path.join(tempDir('gen'), 'certs');
    const { cert, key, stdout } = await genCert(dir, '--host', 'sb.example.test', '192.0.2.7', '--host', '[2001:db8::7]', '--days', '30');
    assert.equal(mode(cert), 0o644);
    assert.equal(mode(key), 0o600);
    const x509 = new X509Certificate(readFileSync(cert));
    for (const name of ['DNS:localhost', 'IP Address:127.0.0.1', 'IP Address:0:0:0:0:0:0:0:1', 'DNS:sb.example.test', 'IP Address:192.0.2.7', 'IP Address:2001:DB8:0:0:0:0:0:7']) {
      assert.ok(x509.subjectAltName?.split(', ').includes(name), `${name} missing from ${x509.subjectAltName}`);
    }
    assert.equal(x509.ca, false);
    const days = (Date.parse(x509.validTo) - Date.now()) / 86_400_000;
    assert.ok(days > 29 && days <= 30, `valid for ${days} days`);
    assert.ok(stdout.includes(`switchboard serve --tls-cert ${cert} --tls-key ${key}`), stdout);
    assert.ok(stdout.includes(`switchboard --url https://sb.example.test:7860 --ca ${cert}`), stdout);
    assert.ok(!stdout.includes('PRIVATE KEY'), 'the key was printed');
  });

  test('refuses to overwrite without --force; --force makes a new pair with the same modes', async () => {
    const dir = tempDir('gen');
    const { cert, key } = await genCert(dir);
    const before = readFileSync(cert, 'utf8');
    const again = await runSwitchboard(['gen-cert', '--out', dir], { env: cleanEnv() });
    assert.equal(again.code, 1);
    assert.ok(again.stderr.startsWith(`switchboard: EXISTS: ${cert} already exists; --force replaces it`), again.stderr);
    assert.equal(readFileSync(cert, 'utf8'), before);
    await genCert(dir, '--force');
    assert.notEqual(readFileSync(cert, 'utf8'), before);
    assert.equal(mode(cert), 0o644);
    assert.equal(mode(key), 0o600);
  });

  test('without --out it writes into the data dir, creating it (0700)', async () => {
    const cwd = tempDir('gen-cwd');
    const res = await runSwitchboard(['gen-cert'], { env: cleanEnv(), cwd });
    assert.equal(res.code, 0, res.stderr);
    assert.equal(mode(path.join(cwd, 'data')), 0o700);
    assert.equal(mode(path.join(cwd, 'data', 'key.pem')), 0o600);
  });

  test('a bad --host or --days is a usage error', async () => {
    const bad = await runSwitchboard(['gen-cert', '--out', tempDir('gen'), '--host', 'not a name'], { env: cleanEnv() });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--host 'not a name' is neither an IP address nor a DNS name/);
    const days = await runSwitchboard(['gen-cert', '--out', tempDir('gen'), '--days', '0'], { env: cleanEnv() });
    assert.equal(days.code, 2);
  });
});

describe('a daemon with a certificate', () => {
  let d: DaemonHandle;
  let pair: { cert: string; key: string };

  before(async () => {
    pair = await genCert(tempDir('pair'));
    d = await startDaemon({ args: ['--tls-cert', pair.cert, '--tls-key', pair.key], ca: readFileSync(pair.cert) });
  });

  test('serves https and the CLI trusts it with --ca or SWITCHBOARD_CA', async () => {
    assert.match(d.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const created = await runCli(d, ['node', 'create', 'tls1', '--driver', 'cmd', '--param', 'cmd=/bin/cat'], { env: { SWITCHBOARD_CA: pair.cert } });
    assert.equal(created.code, 0, created.stderr);
    const list = await runCli(d, ['node', 'list', '--ca', pair.cert]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^tls1\s+cmd\s/m);
  });

  test('without the CA the CLI says the certificate is not trusted and what to do (exit 1)', async () => {
    const res = await runCli(d, ['node', 'list']);
    assert.equal(res.code, 1);
    assert.equal(res.stderr, `switchboard: TLS: certificate for ${d.url} is not trusted (self-signed?): pass --ca FILE or set SWITCHBOARD_CA\n`);
    const attach = await runCli(d, ['console', 'tls1']);
    assert.equal(attach.code, 1);
    assert.equal(attach.stderr, res.stderr);
    assert.equal(attach.stdout, '');
  });

  test('the wrong CA, a plain http URL, a missing CA file: each a clear error', async () => {
    const other = await genCert(tempDir('other'));
    const wrong = await runCli(d, ['node', 'list', '--ca', other.cert]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, new RegExp(escapeRegExp(`TLS: certificate for ${d.url} is not signed by the CA in ${other.cert}`)));
    const plain = await runCli(d, ['node', 'list', '--ca', pair.cert], { env: { SWITCHBOARD_URL: d.url.replace('https:', 'http:') } });
    assert.equal(plain.code, 1);
    assert.match(plain.stderr, /UNREACHABLE: .*ECONNRESET \(does the daemon use TLS\? try an https:\/\/ URL\)/);
    const missing = await runCli(d, ['node', 'list', '--ca', path.join(other.cert, 'nope')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /TLS: cannot read the CA file .*nope \(--ca \/ SWITCHBOARD_CA\)/);
  });

  test('WebSocket attach over wss: output and round trip; the CLI console works with --ca', async () => {
    const ws = await WsConsole.open(d, 'tls1');
    ws.type('over-wss\r');
    // The pty echoes the line and cat prints it again.
    await ws.waitFor(/over-wss\r\n[^]*over-wss\r\n/);
    const cli = await runCli(d, ['--ca', pair.cert, 'console', 'tls1', '--no-replay', '--linger', '300'], { input: 'from-the-cli\r' });
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /from-the-cli\r\n/);
    await ws.waitFor('from-the-cli');
    ws.close();
  });

  test('TCP attach speaks TLS: handshake, output and round trip', async () => {
    const t = await TcpConsole.open(d, { node: 'tls1', token: d.token, mode: 'rw' });
    assert.equal(t.hello?.ok, true, JSON.stringify(t.hello));
    t.type('over-tls-tcp\r');
    await t.waitFor(/over-tls-tcp\r\n[^]*over-tls-tcp\r\n/);
    t.close();
  });

  test('a raw console port speaks TLS too: output and round trip with the CA, nothing for a plaintext client', async () => {
    const port = await freePort();
    const made = await runCli(d, ['node', 'create', 'tls-raw', '--driver', 'cmd', '--param', 'cmd=/bin/cat', '--console-port', String(port)], { env: { SWITCHBOARD_CA: pair.cert } });
    assert.equal(made.code, 0, made.stderr);
    const sock = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(pair.cert), servername: 'localhost' });
    let out = '';
    sock.on('data', (c: Buffer) => (out += c.toString('latin1')));
    await new Promise<void>((resolve, reject) => sock.once('secureConnect', resolve).once('error', reject));
    sock.write('over-raw-tls\r');
    await waitUntil(() => /over-raw-tls\r\n[^]*over-raw-tls\r\n/.test(out) || undefined, { what: 'raw TLS echo', subscribe: onEvents(sock, 'data'), describe: () => out });
    sock.end();
    const plain = net.connect(port, '127.0.0.1');
    let plainOut = '';
    plain.on('data', (c: Buffer) => (plainOut += c.toString('latin1')));
    plain.write('hello\r');
    await new Promise((resolve) => plain.once('close', resolve));
    assert.ok(!plainOut.includes('hello'), 'a plaintext client reached the console');
  });

  test('the console port: a plaintext client gets nothing useful, an untrusting TLS client refuses it', async () => {
    const plain = net.connect(d.consolePort, '127.0.0.1');
    let received = '';
    plain.on('data', (c: Buffer) => (received += c.toString('latin1')));
    plain.on('error', () => { /* a reset is as good as a close here */ });
    plain.write(`${JSON.stringify({ node: 'tls1', token: d.token })}\n`);
    await waitUntil(() => plain.destroyed || plain.readableEnded, { what: 'the daemon to drop the plaintext client', subscribe: onEvents(plain, 'close', 'end') });
    plain.destroy();
    assert.ok(!received.includes('"ok"'), `a plaintext client got a handshake answer: ${JSON.stringify(received)}`);

    const untrusting = tls.connect({ port: d.consolePort, host: '127.0.0.1' });
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => untrusting.once('error', resolve));
    assert.equal(err.code, 'DEPTH_ZERO_SELF_SIGNED_CERT');

    // The daemon is none the worse for either.
    const t = await TcpConsole.open(d, { node: 'tls1', token: d.token });
    assert.equal(t.hello?.ok, true);
    t.close();
  });

  // Last in this group: it stops the daemon.
  test('stopping: attached TLS clients and a client stuck before its TLS handshake are closed at once', async () => {
    const attached = await TcpConsole.open(d, { node: 'tls1', token: d.token });
    const stuck = net.connect(d.consolePort, '127.0.0.1');
    stuck.on('error', () => { /* reset on stop */ });
    await new Promise((resolve) => stuck.once('connect', resolve));
    const stuckClosed = new Promise((resolve) => stuck.once('close', resolve));
    const started = Date.now();
    assert.deepEqual(await d.stop(), { code: 0, signal: null });
    await stuckClosed;
    await attached.waitClosed();
    // Without it the stuck one would hold the stop for the TLS handshake timeout (10 s).
    assert.ok(Date.now() - started < 5000, `stop took ${Date.now() - started} ms`);
  });
});

describe('refusals', () => {
  let pair: { cert: string; key: string };
  let other: { cert: string; key: string };
  before(async () => {
    [pair, other] = await Promise.all([genCert(tempDir('pair')), genCert(tempDir('other'))]);
  });

  test('plaintext on a non-loopback address: refused before anything is written', async () => {
    const port = await freePort();
    for (const host of ['0.0.0.0', 'localhost']) {
      const res = await serveRefused(['--listen', `${host}:${port}`]);
      assert.equal(res.code, 1);
      assert.equal(
        res.stderr,
        `switchboard: CONFIG: configuration: listening on a non-loopback address (${host}) in plaintext: `
        + "give --tls-cert/--tls-key (try `switchboard gen-cert`) or --insecure; note 'localhost' is not enough, use 127.0.0.1\n",
      );
      assert.equal(existsSync(res.dataDir), false, 'the refused daemon created its data dir');
    }
  });

  test('a certificate and a key that are not a pair, half a pair, files that are not PEM', async () => {
    const mismatch = await serveRefused(['--listen', '127.0.0.1:0', '--tls-cert', pair.cert, '--tls-key', other.key]);
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.stderr, new RegExp(escapeRegExp(`CONFIG: configuration: tlsKey ${other.key} does not belong to the certificate in tlsCert ${pair.cert}`)));

    // A key of another type: OpenSSL itself would not notice, and every handshake would fail.
    const rsaKey = path.join(tempDir('rsa'), 'rsa.pem');
    writeFileSync(rsaKey, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const rsa = await serveRefused(['--listen', '127.0.0.1:0', '--tls-cert', pair.cert, '--tls-key', rsaKey]);
    assert.match(rsa.stderr, /does not belong to the certificate/);

    const half = await serveRefused(['--listen', '127.0.0.1:0', '--tls-cert', pair.cert]);
    assert.match(half.stderr, /tlsCert is set but tlsKey is not: TLS needs both \(--tls-cert and --tls-key\)/);
    const missing = await serveRefused(['--listen', '127.0.0.1:0', '--tls-cert', pair.cert, '--tls-key', `${pair.key}.missing`]);
    assert.match(missing.stderr, /cannot read tlsKey .*key\.pem\.missing: no such file/);
    const swapped = await serveRefused(['--listen', '127.0.0.1:0', '--tls-cert', pair.key, '--tls-key', pair.cert]);
    assert.match(swapped.stderr, /tlsCert .*key\.pem is not a PEM certificate/);
    for (const res of [rsa, half, missing, swapped]) assert.equal(res.code, 1);
  });

  test('the CLI against a plaintext daemon with an https URL says it does not speak TLS', async () => {
    const plain = await startDaemon();
    const res = await runCli(plain, ['node', 'list', '--ca', pair.cert], { env: { SWITCHBOARD_URL: plain.url.replace('http:', 'https:') } });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /TLS: https:\/\/127\.0\.0\.1:\d+ does not speak TLS \(a plaintext daemon\? try an http:\/\/ URL\)/);
    await plain.stop();
  });
});

describe('the listen rule', () => {
  const warnings: unknown[] = [];
  const logger = { warn: (...args: unknown[]) => warnings.push(args) } as unknown as Logger;
  const material = { cert: Buffer.alloc(0), key: Buffer.alloc(0), validTo: new Date() } satisfies TlsMaterial;

  test('only literal loopback addresses count as loopback', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) assert.equal(isLoopbackHost(host), true, host);
    for (const host of ['localhost', '0.0.0.0', '::', '10.0.0.1', '::ffff:10.0.0.1', 'sb.example.test']) assert.equal(isLoopbackHost(host), false, host);
  });

  test('plaintext off loopback needs insecure (and is logged); with TLS insecure changes nothing', () => {
    assert.throws(() => checkPlaintextListen('0.0.0.0', undefined, false, logger), { code: 'CONFIG', message: /in plaintext/ });
    checkPlaintextListen('127.0.0.1', undefined, false, logger);
    checkPlaintextListen('0.0.0.0', material, false, logger);
    checkPlaintextListen('0.0.0.0', material, true, logger);
    assert.equal(warnings.length, 0);
    checkPlaintextListen('0.0.0.0', undefined, true, logger);
    assert.equal(warnings.length, 1);
  });
});
