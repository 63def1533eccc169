// `switchboard gen-cert`: a self-signed certificate and key for `serve --tls-cert/--tls-key`, so
// that TLS is one command away. The certificate is its own CA: the CLI trusts it with --ca.
import { X509Certificate } from 'node:crypto';
import { chmod, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { generate } from 'selfsigned';
import { CliError } from './client.js';

export const CERT_FILE = 'cert.pem';
export const KEY_FILE = 'key.pem';

/** Names every certificate covers, so a local daemon works however it is addressed. */
const ALWAYS = ['localhost', '127.0.0.1', '::1'];
const DNS_NAME = /^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const MAX_DAYS = 3650;
// A client whose clock is a little behind would refuse a certificate made a moment ago.
const CLOCK_SKEW_MS = 5 * 60_000;

export interface GenCertOptions {
  out?: string;
  host?: string[];
  days: string;
  force: boolean;
}

export async function genCert(o: GenCertOptions): Promise<void> {
  const dir = path.resolve(o.out || process.env.SWITCHBOARD_DATA_DIR || './data');
  const hosts = certHosts(o.host ?? []);
  const days = parseDays(o.days);
  const certFile = path.join(dir, CERT_FILE);
  const keyFile = path.join(dir, KEY_FILE);
  if (!o.force) await refuseExisting([certFile, keyFile]);

  const pems = await selfSigned(hosts, days);
  // The data dir also holds the admin token: only its owner may look inside.
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Key first: a certificate on disk always has its key beside it.
  await writeFresh(keyFile, pems.private, 0o600, o.force);
  await writeFresh(certFile, pems.cert, 0o644, o.force);
  process.stdout.write(usage(hosts, days, certFile, keyFile, new X509Certificate(pems.cert).fingerprint256));
}

/** localhost, 127.0.0.1, ::1 and the --host names, each once; IPv6 may come in brackets. */
export function certHosts(extra: string[]): string[] {
  const out: string[] = [];
  for (const raw of [...ALWAYS, ...extra]) {
    const host = raw.replace(/^\[(.*)\]$/, '$1');
    const name = net.isIP(host) ? host : host.toLowerCase();
    if (!net.isIP(name) && !DNS_NAME.test(name)) {
      throw new CliError('USAGE', `--host '${raw}' is neither an IP address nor a DNS name`, 2);
    }
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

function parseDays(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > MAX_DAYS) throw new CliError('USAGE', `--days must be a whole number from 1 to ${MAX_DAYS}`, 2);
  return n;
}

async function refuseExisting(files: string[]): Promise<void> {
  for (const file of files) {
    if (await exists(file)) throw alreadyThere(file);
  }
}

function alreadyThere(file: string): CliError {
  return new CliError('EXISTS', `${file} already exists; --force replaces it (clients that trust the old cert.pem need the new one)`);
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

function selfSigned(hosts: string[], days: number) {
  const now = Date.now();
  return generate([{ name: 'commonName', value: hosts[ALWAYS.length] ?? hosts[0] }, { name: 'organizationName', value: 'Switchboard' }], {
    // P-256: every TLS client speaks it, and it is made in milliseconds (RSA takes up to seconds).
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now - CLOCK_SKEW_MS),
    notAfterDate: new Date(now + days * 86_400_000),
    extensions: [
      // Not a CA: browsers refuse a CA certificate used as a server's own.
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: hosts.map((h) => (net.isIP(h) ? { type: 7 as const, ip: h } : { type: 2 as const, value: h })) },
    ],
  });
}

/**
 * A new file with exactly `mode`. An existing one (--force) is removed first rather than
 * overwritten: overwriting keeps the old file's mode, which could leave the new key readable by others.
 */
async function writeFresh(file: string, data: string, mode: number, replace: boolean): Promise<void> {
  if (replace) await rm(file, { force: true });
  try {
    await writeFile(file, data, { mode, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw alreadyThere(file);
    throw err;
  }
  // The umask may have taken bits off the cert (0644 is meant: clients need to read it).
  await chmod(file, mode);
}

function usage(hosts: string[], days: number, certFile: string, keyFile: string, fingerprint: string): string {
  const extra = hosts.slice(ALWAYS.length);
  const first = extra[0] ?? '127.0.0.1';
  const url = `https://${net.isIPv6(first) ? `[${first}]` : first}:7860`;
  const serve = ['switchboard', 'serve', '--tls-cert', certFile, '--tls-key', keyFile, ...(extra.length ? ['--listen', '0.0.0.0:7860'] : [])];
  return [
    `wrote a self-signed certificate for ${hosts.join(', ')}, valid ${days} days`,
    `  certificate  ${certFile}`,
    `  private key  ${keyFile} (mode 0600; keep it secret)`,
    `  SHA-256      ${fingerprint}`,
    '',
    'run the daemon with TLS:',
    `  ${shellLine(serve)}`,
    'point the CLI at it (the certificate is its own CA):',
    `  ${shellLine(['switchboard', '--url', url, '--ca', certFile, 'node', 'list'])}`,
    `  or: export ${shellLine([`SWITCHBOARD_URL=${url}`, `SWITCHBOARD_CA=${certFile}`])}`,
    '',
  ].join('\n');
}

/** Words a shell reads back as given; quoted only when needed, so the common case stays readable. */
function shellLine(words: string[]): string {
  return words.map((w) => (/^[\w./:=@,+-]+$/.test(w) ? w : `'${w.replaceAll("'", "'\\''")}'`)).join(' ');
}
