// A real OpenSSH sshd on a free loopback port, with its own host key and config, and two
// local users: one logs in with a password, one with a key. Stopped by PID when the file ends.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { tempDir } from './daemon.js';
import { descendantPids, spawnTracked, stopProcess } from './processes.js';
import { waitUntil } from './wait.js';

export const PASSWORD_USER = 'sbtest-pw';
export const KEY_USER = 'sbtest-key';
export const PASSWORD = 'correct horse battery staple';

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function ensureUser(name: string): void {
  try {
    execFileSync('id', [name], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--create-home', '--shell', '/bin/sh', name], { stdio: 'inherit' });
  }
  // A new account is locked ('!'), and sshd without PAM refuses even key logins to locked accounts.
  if (name === KEY_USER) execFileSync('usermod', ['-p', '*', name]);
}

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

function keygen(file: string, passphrase = ''): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', 'switchboard-test', '-f', file], { stdio: 'ignore' });
}

function fingerprintOf(pubFile: string): string {
  return execFileSync('ssh-keygen', ['-lf', pubFile], { encoding: 'utf8' }).split(' ')[1];
}

export async function startSshd(): Promise<Sshd> {
  for (const u of [PASSWORD_USER, KEY_USER]) ensureUser(u);
  execFileSync('chpasswd', { input: `${PASSWORD_USER}:${PASSWORD}\n` });
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege separation dir

  const dir = tempDir('sshd');
  chmodSync(dir, 0o755); // sshd reads authorized_keys as the user logging in
  const hostKey = path.join(dir, 'host_ed25519');
  keygen(hostKey);
  const userKey = path.join(dir, 'user_ed25519');
  keygen(userKey);
  const passphrase = 'open sesame';
  const encKey = path.join(dir, 'user_enc_ed25519');
  keygen(encKey, passphrase);
  const authorized = path.join(dir, 'authorized_keys');
  writeFileSync(authorized, readFileSync(`${userKey}.pub`, 'utf8') + readFileSync(`${encKey}.pub`, 'utf8'), { mode: 0o644 });

  const port = await freePort();
  const config = path.join(dir, 'sshd_config');
  writeFileSync(config, [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${hostKey}`,
    `PidFile ${path.join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${authorized}`,
    'StrictModes no',
    'UsePAM no',
    'PasswordAuthentication yes',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    `AllowUsers ${PASSWORD_USER} ${KEY_USER}`,
    'AllowAgentForwarding no',
    'X11Forwarding no',
    'PrintMotd no',
    'PrintLastLog no',
    'ClientAliveInterval 0',
    'LogLevel VERBOSE',
    '',
  ].join('\n'));

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
