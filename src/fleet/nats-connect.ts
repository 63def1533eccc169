// How the controller and the agent reach NATS: the server address, one way of proving who they
// are (user/password, token, nkey seed or JWT creds file) and TLS (a CA to trust, a client
// certificate). Every file is read here, before connecting, so a missing file or a bad seed stops
// the start with the setting's name, not with a protocol error later.
// Secrets (passwords, tokens, seeds, creds) go into the connection options and nowhere else.
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  connect, credsAuthenticator, nkeyAuthenticator, nkeys,
  type ConnectionOptions, type NatsConnection, type TlsOptions,
} from 'nats';
import type { Logger } from 'pino';
import { errors } from '../errors.js';

/** The NATS settings the daemon (config keys) and the agent (flags of the same names) share. */
export interface NatsSettings {
  /** nats:// or tls://; may hold user:password or a token (the user part alone). */
  natsUrl: string;
  natsUser?: string;
  natsPassword?: string;
  natsPasswordFile?: string;
  /** A file holding an nkey user seed (SU...). */
  natsNkey?: string;
  /** A JWT user creds file (nsc, operator mode). */
  natsCreds?: string;
  /** PEM CA certificate(s) that signed the server's certificate; turns TLS on. */
  natsCa?: string;
  /** PEM client certificate and its key, for a server with `verify: true`. */
  natsCert?: string;
  natsKey?: string;
}

/** What each setting is called by the user: flag, env and config key. */
const NAMES: Record<keyof NatsSettings, string> = {
  natsUrl: '--nats (natsUrl)',
  natsUser: '--nats-user (natsUser)',
  natsPassword: 'SWITCHBOARD_NATS_PASSWORD (natsPassword)',
  natsPasswordFile: '--nats-password-file (natsPasswordFile)',
  natsNkey: '--nats-nkey (natsNkey)',
  natsCreds: '--nats-creds (natsCreds)',
  natsCa: '--nats-ca (natsCa)',
  natsCert: '--nats-cert (natsCert)',
  natsKey: '--nats-key (natsKey)',
};

export const NATS_SETTINGS = Object.keys(NAMES) as (keyof NatsSettings)[];

export interface NatsClient {
  /** For nats.js connect(). */
  options: ConnectionOptions;
  /** The server address without credentials, for logs and errors. */
  server: string;
  /** How it logs in (the setting and its file, never the secret), for a refusal to name. */
  login: string;
}

/** Reads the files the settings name and checks them; throws CONFIG naming the setting. */
export async function natsClientOptions(s: NatsSettings, name: string, extra: { inboxPrefix?: string } = {}): Promise<NatsClient> {
  const { server, user: urlUser, pass: urlPass, tlsScheme } = parseNatsUrl(s.natsUrl);
  const password = s.natsPassword ?? (s.natsPasswordFile === undefined ? undefined : await readSecretFile('natsPasswordFile', s.natsPasswordFile));
  if (password !== undefined && !s.natsUser) throw new errors.CONFIG(`${NAMES.natsPasswordFile}: a password needs ${NAMES.natsUser}`);
  if (s.natsUser && password === undefined) throw new errors.CONFIG(`${NAMES.natsUser}: give the password with ${NAMES.natsPasswordFile} or SWITCHBOARD_NATS_PASSWORD`);
  const ways = [
    urlUser && 'credentials in --nats URL',
    s.natsUser && NAMES.natsUser,
    s.natsNkey && NAMES.natsNkey,
    s.natsCreds && NAMES.natsCreds,
  ].filter(Boolean);
  if (ways.length > 1) throw new errors.CONFIG(`NATS: one way of logging in, please; got ${ways.join(' and ')}`);
  if (Boolean(s.natsCert) !== Boolean(s.natsKey)) throw new errors.CONFIG(`${NAMES.natsCert} and ${NAMES.natsKey} go together`);

  // noAsyncTraces: nats.js would otherwise make an Error (a stack trace) for every request it sends
  // (each JetStream publish, pull and ack), in case it times out; a timeout says what timed out anyway.
  const options: ConnectionOptions = { servers: server, name, maxReconnectAttempts: -1, noAsyncTraces: true, ...extra };
  if (urlUser) Object.assign(options, urlPass ? { user: urlUser, pass: urlPass } : { token: urlUser });
  if (s.natsUser) Object.assign(options, { user: s.natsUser, pass: password });
  if (s.natsNkey) options.authenticator = nkeyAuthenticator(await readSeed(s.natsNkey));
  if (s.natsCreds) options.authenticator = credsAuthenticator(await readCreds(s.natsCreds));
  const tls: TlsOptions = {};
  if (s.natsCa) tls.ca = await readPem('natsCa', s.natsCa, 'CERTIFICATE');
  if (s.natsCert && s.natsKey) {
    tls.cert = await readPem('natsCert', s.natsCert, 'CERTIFICATE');
    tls.key = await readPem('natsKey', s.natsKey, 'PRIVATE KEY');
  }
  if (tlsScheme || Object.keys(tls).length > 0) options.tls = tls;
  return { options, server, login: describeLogin(s, urlUser) };
}

/** The way of logging in, for a refusal to name: the setting and its file or user, never the secret. */
function describeLogin(s: NatsSettings, urlUser: string): string {
  if (s.natsCreds) return `${NAMES.natsCreds} ${s.natsCreds}`;
  if (s.natsNkey) return `${NAMES.natsNkey} ${s.natsNkey}`;
  if (s.natsUser) return `${NAMES.natsUser} ${s.natsUser} and its password`;
  if (urlUser) return `the credentials in ${NAMES.natsUrl}`;
  return `no login was given: ${NAMES.natsUser}, ${NAMES.natsNkey} or ${NAMES.natsCreds}`;
}

/** For a process that must outlast a link that is down (the agent on a ship): keep trying while the server is unreachable. */
export interface WaitForServer {
  /** After each failed try that deserves another (the server could not be reached), with the wait before the next. */
  onRetry(reason: string, retryMs: number): void;
  /** Stops waiting: the connect rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * A wait that says so in `log`: at warn when it starts and when the reason changes, each try
 * after that at debug (a link down for hours is one line, not hundreds), and remembers since when
 * and why, for whoever must tell.
 */
export class LoggedWait implements WaitForServer {
  since?: Date;
  reason?: string;

  constructor(private readonly log: Logger, private readonly message: string, readonly signal?: AbortSignal, private readonly onTry?: () => void) {}

  onRetry(reason: string, retryMs: number): void {
    this.since ??= new Date();
    this.log[reason === this.reason ? 'debug' : 'warn']({ err: reason, retryMs }, this.message);
    this.reason = reason;
    this.onTry?.();
  }

  /** How long it waited; undefined if the first try went through. */
  get waitedMs(): number | undefined {
    return this.since && Date.now() - this.since.getTime();
  }
}

/** The first retry after this long, doubling up to the most. */
export const WAIT_MIN_MS = 1000;
export const WAIT_MAX_MS = 30_000;

/**
 * The server could not be reached (refused, timed out, no route, no name): a link that is down. A
 * refusal of the credentials or of the server's certificate is not: it will not change by waiting.
 */
const UNREACHABLE = /^(CONNECTION_REFUSED|CONNECTION_TIMEOUT|TIMEOUT|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EHOSTDOWN|ENETDOWN|ENOTFOUND|EAI_AGAIN|EPIPE)$/;

/**
 * Connects; a refusal says what to check (the CA, the credentials), naming the server without
 * credentials. With `wait`, an unreachable server is tried again (1 s, doubling to 30 s) until it
 * answers; anything else still fails at once.
 */
export async function connectNats(client: NatsClient, wait?: WaitForServer): Promise<NatsConnection> {
  for (let delay = WAIT_MIN_MS; ; delay = Math.min(delay * 2, WAIT_MAX_MS)) {
    try {
      return await connect(client.options);
    } catch (err) {
      const e = err as Error & { code?: string };
      let why = explainConnectError(e, client.login);
      // A server that verifies clients drops a TLS client without a certificate: nats.js then only sees a timeout.
      if (client.options.tls && !client.options.tls.cert && /TIMEOUT/.test(why)) why += `; if the server verifies clients (verify: true), give ${NAMES.natsCert} and ${NAMES.natsKey}`;
      const failure = new errors.FLEET_UNAVAILABLE(`cannot use NATS at ${client.server}: ${why}`);
      if (!wait || !UNREACHABLE.test(e.code ?? '')) throw failure;
      wait.onRetry(failure.message, delay);
      await sleep(delay, undefined, { signal: wait.signal });
    }
  }
}

const TLS_TRUST = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS/;

function explainConnectError(err: Error & { code?: string }, login: string): string {
  if (err.code && TLS_TRUST.test(err.code)) {
    return `TLS: the server's certificate is not trusted (${err.code}: ${err.message}); give the CA that signed it with ${NAMES.natsCa}`;
  }
  if (/AUTHORIZATION_VIOLATION|AUTHENTICATION/i.test(err.code ?? '') || /authorization violation/i.test(err.message)) {
    return `the server refused these credentials (${err.message}); check ${login}`;
  }
  const what = [err.code, err.message].filter(Boolean).join(': ');
  if (/tls|certificate/i.test(what)) return `TLS: ${what}; check tls:// in ${NAMES.natsUrl}, ${NAMES.natsCa} and, if the server verifies clients, ${NAMES.natsCert}`;
  return what;
}

/** Is this a NATS permissions violation (the server's authorization refused a subject)? */
export function isPermissionError(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  return e?.code === 'PERMISSIONS_VIOLATION' || /permissions violation/i.test(e?.message ?? '');
}

interface ParsedUrl {
  server: string;
  user: string;
  pass: string;
  tlsScheme: boolean;
}

/** The credentials are taken out of the server address so they are never logged with it. */
function parseNatsUrl(url: string): ParsedUrl {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new errors.CONFIG(`${NAMES.natsUrl}: not a URL (nats://[user:password@]host:port or tls://...)`);
  }
  if (!/^(nats|tls):$/.test(parsed.protocol)) throw new errors.CONFIG(`${NAMES.natsUrl}: the scheme must be nats:// or tls://, got ${parsed.protocol}//`);
  const host = parsed.hostname.includes(':') ? `[${parsed.hostname}]` : parsed.hostname;
  return {
    server: `${parsed.protocol}//${host}:${parsed.port || 4222}`,
    user: decodeURIComponent(parsed.username),
    pass: decodeURIComponent(parsed.password),
    tlsScheme: parsed.protocol === 'tls:',
  };
}

/** The server address without credentials, for logs. */
export function redactNatsUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//');
}

async function readSetting(key: keyof NatsSettings, file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new errors.CONFIG(`${NAMES[key]}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** A password file holds the password on its first line; a trailing newline is not part of it. */
async function readSecretFile(key: keyof NatsSettings, file: string): Promise<string> {
  const secret = (await readSetting(key, file)).split(/\r?\n/)[0];
  if (!secret) throw new errors.CONFIG(`${NAMES[key]}: ${file} is empty`);
  return secret;
}

/** The file may hold comments or a public key besides the seed (as `switchboard fleet nkey` writes it). */
async function readSeed(file: string): Promise<Uint8Array> {
  const text = await readSetting('natsNkey', file);
  const seed = text.split(/\r?\n/).map((l) => l.trim()).find((l) => /^SU[A-Z2-7]+$/.test(l));
  if (!seed || !userSeedKey(seed)) throw new errors.CONFIG(`${NAMES.natsNkey}: ${file} holds no valid nkey user seed (a line SU..., from \`switchboard fleet nkey\`)`);
  return new TextEncoder().encode(seed);
}

/** The public key of a valid nkey user seed (SU...); undefined when it is not one. */
function userSeedKey(seed: string): string | undefined {
  if (!seed.startsWith('SU')) return undefined;
  try {
    return nkeys.fromSeed(new TextEncoder().encode(seed)).getPublicKey();
  } catch {
    return undefined;
  }
}

/**
 * The seed must be the key the user JWT was issued to: a JWT and a seed of two different users
 * would otherwise only show as the server refusing the login. Neither part goes into an error.
 */
async function readCreds(file: string): Promise<Uint8Array> {
  const text = await readSetting('natsCreds', file);
  const jwt = /-{3,}BEGIN NATS USER JWT-{3,}\s*(\S+)\s*-{3,}END NATS USER JWT/.exec(text)?.[1];
  const seed = /-{3,}BEGIN USER NKEY SEED-{3,}\s*(\S+)\s*-{3,}END USER NKEY SEED/.exec(text)?.[1];
  if (!jwt || !seed) throw new errors.CONFIG(`${NAMES.natsCreds}: ${file} is not a NATS creds file (a user JWT and its nkey seed, as nsc writes them)`);
  const key = userSeedKey(seed);
  if (!key) throw new errors.CONFIG(`${NAMES.natsCreds}: ${file} holds no valid nkey user seed`);
  if (jwtSubject(jwt) !== key) throw new errors.CONFIG(`${NAMES.natsCreds}: in ${file} the seed is not the key the user JWT was issued to`);
  return new TextEncoder().encode(text);
}

/** The `sub` claim of a JWT, unverified (the server verifies the signatures); undefined when it cannot be read. */
function jwtSubject(jwt: string): unknown {
  try {
    return (JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub?: unknown }).sub;
  } catch {
    return undefined;
  }
}

async function readPem(key: keyof NatsSettings, file: string, kind: 'CERTIFICATE' | 'PRIVATE KEY'): Promise<string> {
  const text = await readSetting(key, file);
  if (!new RegExp(`-----BEGIN [A-Z ]*${kind}-----`).test(text)) throw new errors.CONFIG(`${NAMES[key]}: ${file} holds no PEM ${kind.toLowerCase()}`);
  return text;
}
