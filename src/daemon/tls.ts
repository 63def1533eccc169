// TLS for every listener: the operator's certificate and key, checked once at start, and the rule
// that plaintext stays on loopback unless the operator explicitly says --insecure.
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { errors } from '../errors.js';
import type { Config } from './config.js';

/** A certificate (chain) and its private key, PEM, as every listener needs them. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** When the (leaf) certificate stops being valid. */
  validTo: Date;
}

// A handshake that has not finished by then is a port scanner or a plaintext client; the
// default (120 s) would hold such sockets open for two minutes.
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Read and check tlsCert/tlsKey; undefined when neither is set (plaintext). */
export async function loadTlsMaterial(config: Pick<Config, 'tlsCert' | 'tlsKey'>): Promise<TlsMaterial | undefined> {
  const { tlsCert, tlsKey } = config;
  if (!tlsCert && !tlsKey) return undefined;
  if (!tlsCert || !tlsKey) {
    const [given, missing] = tlsCert ? ['tlsCert', 'tlsKey'] : ['tlsKey', 'tlsCert'];
    throw new errors.CONFIG(`${given} is set but ${missing} is not: TLS needs both (--tls-cert and --tls-key)`);
  }
  const [cert, key] = await Promise.all([readSetting('tlsCert', tlsCert), readSetting('tlsKey', tlsKey)]);
  const leaf = parseCertificate(tlsCert, cert);
  // OpenSSL only notices a mismatched key of the same type; an RSA key beside an EC certificate
  // would pass createSecureContext and fail every handshake. Compare the keys ourselves.
  if (!leaf.checkPrivateKey(parsePrivateKey(tlsKey, key))) {
    throw new errors.CONFIG(`tlsKey ${tlsKey} does not belong to the certificate in tlsCert ${tlsCert} (they are not a pair)`);
  }
  try {
    tls.createSecureContext({ cert, key });
  } catch (err) {
    throw new errors.CONFIG(`tlsCert ${tlsCert} / tlsKey ${tlsKey}: ${(err as Error).message}`);
  }
  return { cert, key, validTo: new Date(leaf.validTo) };
}

async function readSetting(setting: string, file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new errors.CONFIG(`cannot read ${setting} ${file}: ${why}`);
  }
}

function parseCertificate(file: string, pem: Buffer): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw new errors.CONFIG(`tlsCert ${file} is not a PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
}

function parsePrivateKey(file: string, pem: Buffer): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch {
    // The daemon starts unattended: there is nobody to ask for a passphrase.
    const encrypted = /ENCRYPTED/.test(pem.toString('latin1'));
    throw new errors.CONFIG(`tlsKey ${file} is not ${encrypted ? 'an unencrypted' : 'a PEM'} private key${encrypted ? ' (remove the passphrase, e.g. openssl pkey -in KEY -out KEY.plain)' : ''}`);
  }
}

const loopback = new net.BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/**
 * Whether a listen host is a loopback address. Only literal addresses count: a name such as
 * 'localhost' may resolve to anything, so it is treated as reachable from outside.
 */
export function isLoopbackHost(host: string): boolean {
  const family = net.isIP(host);
  // BlockList matches IPv4-mapped IPv6 (::ffff:127.0.0.1) against the IPv4 rule.
  return family !== 0 && loopback.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Tokens and console bytes must not cross a network in the clear by accident: refuse plaintext
 * off loopback unless `insecure`, and warn when the operator chose it. With TLS, `insecure`
 * changes nothing (it permits plaintext, it does not ask for it).
 */
export function checkPlaintextListen(host: string, material: TlsMaterial | undefined, insecure: boolean, logger: Logger): void {
  if (material || isLoopbackHost(host)) return;
  if (!insecure) {
    throw new errors.CONFIG(
      `listening on a non-loopback address (${host}) in plaintext: give --tls-cert/--tls-key (try \`switchboard gen-cert\`) or --insecure; `
      + "note 'localhost' is not enough, use 127.0.0.1",
    );
  }
  logger.warn({ host }, 'plaintext on a non-loopback address (--insecure): tokens and console bytes cross the network unencrypted');
}

/**
 * The fleet's TCP input asks nobody who they are (TLS or not): whoever reaches it submits messages
 * the daemon signs. Off loopback only with `insecure`, and then with a warning.
 */
export function checkFleetTcpListen(host: string, insecure: boolean, logger: Logger): void {
  if (isLoopbackHost(host)) return;
  if (!insecure) {
    throw new errors.CONFIG(
      `fleetTcpListen on a non-loopback address (${host}): anyone who can reach it can submit fleet messages, with no token; `
      + "use 127.0.0.1 (note 'localhost' is not enough) or give --insecure",
    );
  }
  logger.warn({ host }, 'fleet TCP input on a non-loopback address (--insecure): anyone who can reach it can submit fleet messages');
}

/**
 * A stream listener that speaks TLS when there is TLS material and plain TCP otherwise.
 * `onConnection` sees only sockets that finished the TLS handshake; they are plain net.Socket
 * to the caller. Failed handshakes are dropped by Node (listen to 'tlsClientError' to see them).
 */
export function createStreamServer(material: TlsMaterial | undefined, onConnection: (socket: net.Socket) => void, opts: { allowHalfOpen?: boolean } = {}): net.Server {
  if (!material) return net.createServer(opts, onConnection);
  return tls.createServer({ ...opts, cert: material.cert, key: material.key, handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS }, onConnection);
}
