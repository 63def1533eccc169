import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { sshDriver, fingerprint } from '../../src/drivers/ssh.js';
import pino from 'pino';
import { SqliteStore } from '../../src/store/sqlite.js';
import { descendantPids } from '../support/processes.js';
import { escapeRegExp } from '../support/console-clients.js';
import { freePort } from '../support/ports.js';
import { KEY_USER, startSshd, PASSWORD, PASSWORD_USER, type Sshd } from '../support/sshd.js';
import { onEvents, waitUntil } from '../support/wait.js';
import { driverContract } from './contract.js';

let sshd: Sshd;
before(async () => {
  sshd = await startSshd();
});

driverContract('ssh', () => ({
  driver: sshDriver,
  params: async () => ({ host: '127.0.0.1', port: sshd.port, user: PASSWORD_USER, password: PASSWORD }),
  sizeProbe: 'stty size\r',
  async dropPeer() {
    await sshd.stop();
  },
  async restorePeer() {
    await sshd.start();
  },
  badParams: async () => ({ host: '127.0.0.1', port: sshd.port, user: PASSWORD_USER, password: 'wrong password' }),
  badReason: /authentication failed for user 'sbtest-pw' at 127\.0\.0\.1:\d+/,
}));

describe('ssh fingerprints', () => {
  test('match what ssh-keygen -lf prints', async () => {
    const { readFileSync } = await import('node:fs');
    const pub = readFileSync(`${sshd.dir}/host_ed25519.pub`, 'utf8').split(' ')[1];
    assert.equal(fingerprint(Buffer.from(pub, 'base64')), sshd.fingerprint);
  });
});

describe('ssh driver', () => {
  const store = new SqliteStore(':memory:');
  const ctx = (node: string) => ({ node, cols: 80, rows: 24, logger: pino({ level: 'silent' }), hostKeys: store.hostKeys });

  async function openAndRun(params: Record<string, unknown>, node = 'ssh-unit'): Promise<string> {
    const console = sshDriver.create(params as never, ctx(node));
    await console.open();
    let out = '';
    console.on('data', (c: Buffer) => (out += c.toString()));
    console.write(Buffer.from('echo logged-in-as-$(id -un)\r'));
    await waitUntil(() => /logged-in-as-\w/.test(out.replace(/echo logged-in-as-\$\(id -un\)/, '')) && out, {
      what: 'command output',
      subscribe: onEvents(console, 'data'),
      describe: () => out,
    });
    await console.close();
    return out;
  }

  test('logs in with a private key, and with an encrypted key and its passphrase', async () => {
    const base = { host: '127.0.0.1', port: sshd.port, user: KEY_USER, hostKeyFingerprint: sshd.fingerprint };
    assert.match(await openAndRun({ ...base, privateKey: sshd.privateKey }), /logged-in-as-sbtest-key/);
    assert.match(await openAndRun({ ...base, privateKey: sshd.encryptedKey, passphrase: sshd.passphrase }), /logged-in-as-sbtest-key/);
    const noPass = sshDriver.create({ ...base, privateKey: sshd.encryptedKey } as never, ctx('ssh-unit'));
    await assert.rejects(noPass.open(), /private key: .*passphrase/i);
  });

  test('trust on first use: the key is recorded; a changed key is refused, never accepted', async () => {
    const params = { host: '127.0.0.1', port: sshd.port, user: PASSWORD_USER, password: PASSWORD };
    await store.hostKeys.forget(`127.0.0.1:${sshd.port}`);
    await openAndRun(params);
    assert.equal(await store.hostKeys.get(`127.0.0.1:${sshd.port}`), sshd.fingerprint);
    const old = sshd.fingerprint;
    await sshd.stop();
    const fresh = sshd.rotateHostKey();
    await sshd.start();
    const c = sshDriver.create(params as never, ctx('ssh-unit'));
    await assert.rejects(c.open(), new RegExp(`host key mismatch for 127\\.0\\.0\\.1:${sshd.port}: first seen ${escapeRegExp(old)}, now ${escapeRegExp(fresh)}`));
    assert.equal(await store.hostKeys.get(`127.0.0.1:${sshd.port}`), old, 'the recorded key was replaced');
    // Pinning the new key is how an operator accepts a change.
    assert.match(await openAndRun({ ...params, hostKeyFingerprint: fresh }), /logged-in-as-sbtest-pw/);
    const wrongPin = sshDriver.create({ ...params, hostKeyFingerprint: old } as never, ctx('ssh-unit'));
    await assert.rejects(wrongPin.open(), /host key mismatch .*expected .* \(pinned\)/);
  });

  test('keepalives notice a link that stopped answering', async () => {
    const before = new Set(descendantPids(sshd.pid()));
    const c = sshDriver.create({
      host: '127.0.0.1', port: sshd.port, user: PASSWORD_USER, password: PASSWORD, hostKeyFingerprint: sshd.fingerprint, keepaliveIntervalMs: 200, keepaliveCountMax: 2,
    } as never, ctx('ssh-ka'));
    await c.open();
    const closed = new Promise<string>((resolve) => c.once('close', resolve));
    // Freeze this connection's sshd processes: the TCP link stays up but nothing answers.
    // A process may exit between the scan and the signal (ESRCH): it has nothing left to answer.
    const signal = (pids: number[], sig: NodeJS.Signals) => pids.filter((pid) => {
      try {
        process.kill(pid, sig);
        return true;
      } catch {
        return false;
      }
    });
    let frozen: number[] = [];
    try {
      frozen = signal(descendantPids(sshd.pid()).filter((p) => !before.has(p)), 'SIGSTOP');
      assert.ok(frozen.length > 0);
      assert.match(await closed, /no answer from 127\.0\.0\.1:\d+ to keepalives/);
    } finally {
      // Always thaw and close, or a failed test leaves a stopped sshd holding the run open.
      signal(frozen, 'SIGCONT');
      await c.close();
    }
  });

  test('connection refused and unresolvable hosts give clear reasons', async () => {
    const closedPort = await freePort();
    const refused = sshDriver.create({ host: '127.0.0.1', port: closedPort, user: 'x', password: 'y' } as never, ctx('ssh-unit'));
    await assert.rejects(refused.open(), new RegExp(`connection refused by 127\\.0\\.0\\.1:${closedPort}`));
    const dns = sshDriver.create({ host: 'no-such-host.invalid', user: 'x', password: 'y' } as never, ctx('ssh-unit'));
    await assert.rejects(dns.open(), /cannot resolve no-such-host\.invalid \(DNS\)/);
  });
});

