// A real OpenSSH sshd on a free loopback port, with its own host key and config, and two
// local users: one logs in with a password, one with a key. Stopped by PID when the file ends.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tempDir } from './daemon.js';
import { freePort } from './ports.js';
import { descendantPids, spawnTracked, stopProcess } from './processes.js';
import { ensureSshUsers, fingerprintOf, keygen, PASSPHRASE, writeSshdConfig, writeSshdKeys } from './sshd-setup.js';
import { waitUntil } from './wait.js';

export { KEY_USER, PASSWORD, PASSWORD_USER } from './sshd-setup.js';


export interface Sshd {
  port: number;
  dir: string;
  /** The host key's fingerprint as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  /** The key user's private key (OpenSSH format). */
  privateKey: string;
  /** The same key, encrypted with `passphrase`. */
  encryptedKey: string;
  passphrase: string;
  logs: string[];
  /** PID of the listening sshd (connections are its children). */
  pid(): number;
  stop(): Promise<void>;
  /** Start again on the same port with the same keys (after stop). */
  start(): Promise<void>;
  /** Replace the host key (as a reinstalled BMC would); takes effect on the next start. */
  rotateHostKey(): string;
}

export async function startSshd(): Promise<Sshd> {
  ensureSshUsers();
  const dir = tempDir('sshd');
  const keys = writeSshdKeys(dir);
  const { hostKey, userKey, encKey } = keys;
  const passphrase = PASSPHRASE;
  const port = await freePort();
  const config = writeSshdConfig({ dir, port, keys });

  const logs: string[] = [];
  let proc: ReturnType<typeof spawnTracked> | undefined;
  const start = async () => {
    const p = spawnTracked('/usr/sbin/sshd', ['-D', '-e', '-f', config]);
    proc = p;
    const from = logs.length; // only this run's lines count
    const wakers = new Set<() => void>();
    createInterface({ input: p.stderr! }).on('line', (l) => {
      logs.push(l);
      for (const w of wakers) w();
    });
    await waitUntil(() => logs.slice(from).some((l) => l.includes(`Server listening on 127.0.0.1 port ${port}`)), {
      what: 'sshd to listen',
      subscribe: (wake) => {
        wakers.add(wake);
        return () => wakers.delete(wake);
      },
      failIf: () => (p.exitCode !== null ? `sshd exited: ${logs.slice(-3).join(' | ')}` : undefined),
    });
  };
  await start();
  const sshd: Sshd = {
    port,
    dir,
    fingerprint: fingerprintOf(`${hostKey}.pub`),
    privateKey: readFileSync(userKey, 'utf8'),
    encryptedKey: readFileSync(encKey, 'utf8'),
    passphrase,
    logs,
    pid: () => proc!.pid!,
    async stop() {
      if (!proc) return;
      // Open sessions run in sshd processes forked from the listener: end them too, by PID.
      const sessions = descendantPids(proc.pid!);
      await stopProcess(proc);
      for (const pid of sessions) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch { /* already gone */ }
      }
    },
    start,
    rotateHostKey() {
      execFileSync('rm', ['-f', hostKey, `${hostKey}.pub`]);
      keygen(hostKey);
      sshd.fingerprint = fingerprintOf(`${hostKey}.pub`);
      return sshd.fingerprint;
    },
  };
  return sshd;
}
