// The fleet on a locked-down nats-server: TLS with our own CA (client certificates required),
// the daemon logging in with a user and a password file, agents with nkeys and the per-node
// permissions `switchboard fleet nats-permissions` prints (docs/fleet-nats.md).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { before, describe, test } from 'node:test';
import { connect, nkeyAuthenticator, type NatsConnection } from 'nats';
import { runCli, runSwitchboard, type CliResult } from '../support/cli.js';
import { api, type DaemonHandle, startDaemon, tempDir } from '../support/daemon.js';
import { spawnNatsServer, tryStartAgent } from '../support/nats.js';
import { freePort } from '../support/ports.js';

const run = promisify(execFile);

/** A CA, a server certificate for 127.0.0.1 and a client certificate it signed; and a CA that signed nothing. */
async function makeCerts(dir: string) {
  const f = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => run('openssl', args, { cwd: dir });
  for (const ca of ['ca', 'other-ca']) {
    await openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', `/CN=switchboard test ${ca}`, '-keyout', f(`${ca}.key`), '-out', f(`${ca}.pem`));
  }
  for (const [name, ext] of [['server', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], ['client', 'extendedKeyUsage=clientAuth']]) {
    await openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${name}`, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`));
    writeFileSync(f(`${name}.ext`), `${ext}\n`);
    await openssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', f(`${name}.ext`), '-out', f(`${name}.pem`));
  }
  return { ca: f('ca.pem'), otherCa: f('other-ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key') };
}

async function ok(args: string[]): Promise<string> {
  const r = await runSwitchboard(args);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

describe('fleet over NATS with TLS, passwords, nkeys and per-node permissions', () => {
  const dir = tempDir('nats-auth');
  const prefix = 'tauth';
  const bare = 'tauthbare'; // a fleet whose daemon never started: no streams
  const password = 'pw-9f3c1e7d5b';
  const passwordFile = path.join(dir, 'controller.password');
  const nodeCPassword = 'pw-node-c-41aa07';
  const nodeCPasswordFile = path.join(dir, 'node-c.password');
  const seeds = { a: path.join(dir, 'node-a.nk'), b: path.join(dir, 'node-b.nk'), early: path.join(dir, 'early.nk') };
  const secrets: string[] = [password, nodeCPassword];
  const outputs: string[] = [];
  let certs: Awaited<ReturnType<typeof makeCerts>>;
  let url: string;
  let daemon: DaemonHandle;
  let signer: string;

  const tlsFlags = () => ['--nats-ca', certs.ca, '--nats-cert', certs.clientCert, '--nats-key', certs.clientKey];

  /** `switchboard agent` as an operator starts it; resolves once ready, or with its output if it exits first. */
  async function agent(node: string, args: string[], opts: { fleet?: string; env?: Record<string, string> } = {}): Promise<{ agent: DaemonHandle; ready: boolean }> {
    const started = await tryStartAgent({ node, nats: url, prefix: opts.fleet ?? prefix, allowSigner: signer, args, env: opts.env });
    outputs.push(...started.agent.rawOutput);
    return started;
  }

  const seedOf: Record<string, string> = {};
  function rawClient(seedFile: string, inboxPrefix: string): Promise<NatsConnection> {
    return connect({
      servers: url, authenticator: nkeyAuthenticator(new TextEncoder().encode(seedOf[seedFile])), inboxPrefix,
      tls: { caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey },
    });
  }

  before(async () => {
    certs = await makeCerts(dir);
    writeFileSync(passwordFile, `${password}\n`);
    writeFileSync(nodeCPasswordFile, `${nodeCPassword}\n`);
    const pub: Record<string, string> = {};
    for (const [name, file] of Object.entries(seeds)) {
      pub[name] = (await ok(['fleet', 'nkey', '--out', file])).trim();
      const seed = readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith('SU'))!;
      secrets.push(seed);
      seedOf[file] = seed;
    }
    const users = [
      await ok(['fleet', 'nats-permissions', '--controller', '--prefix', prefix, '--user', 'controller', '--password-file', passwordFile]),
      await ok(['fleet', 'nats-permissions', 'node-a', '--prefix', prefix, '--nkey', pub.a]),
      await ok(['fleet', 'nats-permissions', 'node-b', '--prefix', prefix, '--nkey', pub.b]),
      await ok(['fleet', 'nats-permissions', 'node-a', '--prefix', bare, '--nkey', pub.early]),
      await ok(['fleet', 'nats-permissions', 'node-c', '--prefix', prefix, '--user', 'node-c', '--password-file', nodeCPasswordFile]),
    ];
    const port = await freePort();
    const conf = path.join(dir, 'nats-server.conf');
    writeFileSync(conf, [
      `listen: "127.0.0.1:${port}"`,
      `jetstream { store_dir: ${JSON.stringify(path.join(dir, 'js'))} }`,
      `tls { cert_file: ${JSON.stringify(certs.serverCert)}, key_file: ${JSON.stringify(certs.serverKey)}, ca_file: ${JSON.stringify(certs.ca)}, verify: true }`,
      `authorization { users = [\n${users.join('')}] }`,
    ].join('\n'));
    await spawnNatsServer(['-c', conf]);
    url = `tls://127.0.0.1:${port}`;
    daemon = await startDaemon({
      args: ['--nats', url, '--fleet-prefix', prefix, '--nats-user', 'controller', '--nats-password-file', passwordFile, ...tlsFlags()],
    });
    signer = (await runCli(daemon, ['fleet', 'signer'])).stdout.trim();
  });

  test('daemon (user + password file) and agent node-a (nkey) run a command over TLS with the CA', async () => {
    const { agent: a, ready } = await agent('node-a', ['--nats-nkey', seeds.a, ...tlsFlags()]);
    assert.ok(ready, a.rawOutput.join('\n'));
    const r = await runCli(daemon, ['run', 'node-a', '--', 'sh', '-c', 'echo over tls; exit 4']);
    assert.equal(r.code, 4, r.stderr);
    assert.equal(r.stdout, 'over tls\n');
    await a.stop();
    outputs.push(...a.rawOutput);
  });

  test('agent node-c logs in with --nats-user and the password in SWITCHBOARD_NATS_PASSWORD, not in argv', async () => {
    const { agent: c, ready } = await agent('node-c', ['--nats-user', 'node-c', ...tlsFlags()], { env: { SWITCHBOARD_NATS_PASSWORD: nodeCPassword } });
    assert.ok(ready, c.rawOutput.join('\n'));
    const r = await runCli(daemon, ['run', 'node-c', '--', 'echo', 'by password']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'by password\n');
    await c.stop();
    outputs.push(...c.rawOutput);
  });

  test("node-a's nkey with --node node-b: the agent stops with a permission error and node-b's message stays queued", async () => {
    const { body: [{ id }] } = await api(daemon, 'POST', '/api/v1/fleet/messages', [{ toNode: 'node-b', method: 'cliCommand', methodArgs: ['true'], replyMethod: 'console' }]);
    const { agent: imposter, ready } = await agent('node-b', ['--nats-nkey', seeds.a, ...tlsFlags()]);
    assert.equal(ready, false);
    assert.equal((await imposter.exited()).code, 1);
    assert.match(imposter.rawOutput.join('\n'), /node node-b: the NATS user may not use this node's subjects \(.*Permissions Violation.*\); are --node and the credentials for the same node\?/);
    const { body } = await api(daemon, 'GET', `/api/v1/fleet/messages/${id}`);
    assert.equal(body.state, 'queued');
    // node-b's own agent takes it.
    const { agent: b, ready: bReady } = await agent('node-b', ['--nats-nkey', seeds.b, ...tlsFlags()]);
    assert.ok(bReady, b.rawOutput.join('\n'));
    assert.equal((await api(daemon, 'GET', `/api/v1/fleet/messages/${id}?wait=10`)).body.state, 'replied');
    await b.stop();
    outputs.push(...b.rawOutput);
  });

  test("a raw client with node-a's nkey reads its own consumer but not node-b's subject, consumer, replies or the controller's inbox", async () => {
    const nc = await rawClient(seeds.a, '_INBOX_node-a');
    try {
      const jsm = await nc.jetstreamManager();
      const stream = `fleet-${prefix}-cmd`;
      assert.equal((await jsm.consumers.info(stream, 'agent-node-a-cli')).name, 'agent-node-a-cli');
      await assert.rejects(jsm.consumers.info(stream, 'agent-node-b-cli'), /Permissions Violation for Publish to "\$JS\.API\.CONSUMER\.INFO\./);
      await assert.rejects(nc.request(`$JS.API.CONSUMER.MSG.NEXT.${stream}.agent-node-b-cli`, undefined, { timeout: 5000 }), /Permissions Violation/);
      // Its own consumer name, but filtered on node-b's subject: the filter is part of the permitted subject.
      await assert.rejects(jsm.consumers.add(stream, { durable_name: 'agent-node-a-cli', filter_subject: `${prefix}.cmd.node-b.cli` }), /Permissions Violation/);
      // It may reply for its own node only.
      await assert.rejects(nc.jetstream().publish(`${prefix}.reply.node-b.forged-1`, JSON.stringify({ id: 'forged-1', node: 'node-b', state: 'replied', at: 0 })), /Permissions Violation/);
      for (const subject of [`${prefix}.cmd.node-b.cli`, '_INBOX.>', '_INBOX_node-b.>']) {
        const sub = nc.subscribe(subject);
        await assert.rejects((async () => {
          for await (const _ of sub) { /* nothing may come */ }
        })(), /Permissions Violation for Subscription/, subject);
      }
    } finally {
      await nc.close();
    }
  });

  test('the agent may not make the streams: before the daemon ever ran, it says to start the daemon first', async () => {
    const { agent: early, ready } = await agent('node-a', ['--nats-nkey', seeds.early, ...tlsFlags()], { fleet: bare });
    assert.equal(ready, false);
    assert.match(early.rawOutput.join('\n'), /stream fleet-tauthbare-cmd does not exist yet and this NATS user may not create it: start the daemon with --nats first/);
  });

  test('a CA that did not sign the server certificate: agent and serve stop at start with a TLS error naming --nats-ca', async () => {
    const { agent: a, ready } = await agent('node-a', ['--nats-nkey', seeds.a, '--nats-ca', certs.otherCa, '--nats-cert', certs.clientCert, '--nats-key', certs.clientKey]);
    assert.equal(ready, false);
    assert.match(a.rawOutput.join('\n'), /cannot use NATS at tls:\/\/127\.0\.0\.1:\d+: TLS: the server's certificate is not trusted .*--nats-ca/);
    const serve = await runSwitchboard(['serve', '--listen', '127.0.0.1:0', '--console-port', '0', '--data-dir', tempDir('serve-ca'), '--nats', url, '--fleet-prefix', prefix,
      '--nats-user', 'controller', '--nats-password-file', passwordFile, '--nats-ca', certs.otherCa, '--nats-cert', certs.clientCert, '--nats-key', certs.clientKey]);
    outputs.push(serve.stdout, serve.stderr);
    assert.equal(serve.code, 1);
    assert.match(serve.stderr, /TLS: the server's certificate is not trusted .*--nats-ca/);
  });

  test('unreadable files, a bad seed and a wrong password stop the start naming the setting', async () => {
    const badSeed = path.join(dir, 'bad.nk');
    writeFileSync(badSeed, 'SUNOTAVALIDSEEDATALL\n');
    const cases: [string[], RegExp][] = [
      [['--nats-nkey', path.join(dir, 'missing.nk')], /--nats-nkey \(natsNkey\): cannot read .*missing\.nk: ENOENT/],
      [['--nats-nkey', badSeed], /--nats-nkey \(natsNkey\): .*bad\.nk holds no valid nkey user seed/],
      [['--nats-nkey', seeds.a, '--nats-ca', path.join(dir, 'nope.pem')], /--nats-ca \(natsCa\): cannot read .*nope\.pem: ENOENT/],
      [['--nats-nkey', seeds.a, '--nats-ca', passwordFile], /--nats-ca \(natsCa\): .* holds no PEM certificate/],
    ];
    for (const [args, expected] of cases) {
      const { agent: a, ready } = await agent('node-a', args);
      assert.equal(ready, false);
      assert.match(a.rawOutput.join('\n'), expected);
    }
    const wrong = path.join(dir, 'wrong.password');
    writeFileSync(wrong, 'not-the-password\n');
    const serve: CliResult = await runSwitchboard(['serve', '--listen', '127.0.0.1:0', '--console-port', '0', '--data-dir', tempDir('serve-pw'), '--nats', url, '--fleet-prefix', prefix,
      '--nats-user', 'controller', '--nats-password-file', wrong, ...tlsFlags()]);
    outputs.push(serve.stdout, serve.stderr);
    assert.equal(serve.code, 1);
    assert.match(serve.stderr, /the server refused these credentials/);
  });

  test('no password or seed appears in any output of the daemon, the agents or the CLI', () => {
    outputs.push(...daemon.rawOutput);
    assert.ok(outputs.length > 10);
    for (const secret of secrets) assert.equal(outputs.some((l) => l.includes(secret)), false, `a secret (${secret.slice(0, 2)}...) was printed`);
  });
});
