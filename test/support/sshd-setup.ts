// The parts of a private OpenSSH sshd that need no test runner: the two local users, the keys
// and the sshd_config. Shared by test/support/sshd.ts (tests) and bench/peers/sshd.ts (bench),
// so nothing here may import node:test.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const PASSWORD_USER = 'sbtest-pw';
export const KEY_USER = 'sbtest-key';
export const PASSWORD = 'correct horse battery staple';
export const PASSPHRASE = 'open sesame';

function ensureUser(name: string): void {
  try {
    execFileSync('id', [name], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--create-home', '--shell', '/bin/sh', name], { stdio: 'inherit' });
  }
  // A new account is locked ('!'), and sshd without PAM refuses even key logins to locked accounts.
  if (name === KEY_USER) execFileSync('usermod', ['-p', '*', name]);
}

/** Both users (created if missing, the password set, the key user unlocked) and sshd's privsep dir. Needs root. */
export function ensureSshUsers(): void {
  for (const u of [PASSWORD_USER, KEY_USER]) ensureUser(u);
  execFileSync('chpasswd', { input: `${PASSWORD_USER}:${PASSWORD}\n` });
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege separation dir
}

export function keygen(file: string, passphrase = ''): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', 'switchboard-test', '-f', file], { stdio: 'ignore' });
}

/** A public key file's fingerprint as `ssh-keygen -lf` prints it (SHA256:...). */
export function fingerprintOf(pubFile: string): string {
  return execFileSync('ssh-keygen', ['-lf', pubFile], { encoding: 'utf8' }).split(' ')[1];
}

export interface SshdKeys {
  /** sshd's host key (private; `.pub` next to it). */
  hostKey: string;
  /** The key user's key, unencrypted (OpenSSH format). */
  userKey: string;
  /** The same user's second key, encrypted with PASSPHRASE. */
  encKey: string;
  /** authorized_keys holding both user keys. */
  authorized: string;
}

/** Host key, user keys and authorized_keys in `dir`; the dir is made readable for the user logging in. */
export function writeSshdKeys(dir: string): SshdKeys {
  chmodSync(dir, 0o755); // sshd reads authorized_keys as the user logging in
  const hostKey = path.join(dir, 'host_ed25519');
  keygen(hostKey);
  const userKey = path.join(dir, 'user_ed25519');
  keygen(userKey);
  const encKey = path.join(dir, 'user_enc_ed25519');
  keygen(encKey, PASSPHRASE);
  const authorized = path.join(dir, 'authorized_keys');
  writeFileSync(authorized, readFileSync(`${userKey}.pub`, 'utf8') + readFileSync(`${encKey}.pub`, 'utf8'), { mode: 0o644 });
  return { hostKey, userKey, encKey, authorized };
}

export interface SshdConfigOptions {
  dir: string;
  port: number;
  keys: SshdKeys;
  /** Default VERBOSE (the tests read connection details from it). */
  logLevel?: string;
  /** More sshd_config lines, appended (e.g. MaxStartups, ForceCommand). */
  extra?: string[];
}

/** Writes `dir`/sshd_config for a loopback-only sshd; returns its path. */
export function writeSshdConfig(o: SshdConfigOptions): string {
  const config = path.join(o.dir, 'sshd_config');
  writeFileSync(config, [
    `Port ${o.port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${o.keys.hostKey}`,
    `PidFile ${path.join(o.dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${o.keys.authorized}`,
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
    `LogLevel ${o.logLevel ?? 'VERBOSE'}`,
    ...(o.extra ?? []),
    '',
  ].join('\n'));
  return config;
}
