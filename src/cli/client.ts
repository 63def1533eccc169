// The CLI's view of a daemon: where it is, which token to send, which CA to trust, and JSON
// over HTTP(S).
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { ADMIN_TOKEN_FILE } from '../daemon/admin-token.js';

export const DEFAULT_URL = 'http://127.0.0.1:7860';

export interface ClientOptions {
  url?: string;
  token?: string;
  dataDir?: string;
  /** PEM file of the CA (or the self-signed certificate itself) that the daemon's certificate must chain to. */
  ca?: string;
}

/** A failure the CLI reports as `switchboard: CODE: message` and exit status 1. */
export class CliError extends Error {
  constructor(readonly code: string, message: string, readonly exitCode = 1) {
    super(message);
  }
}

export class ApiClient {
  readonly baseUrl: string;
  readonly token: string | undefined;
  /** Trusted instead of the system's CAs when set (--ca / SWITCHBOARD_CA). */
  readonly ca: Buffer | undefined;
  private readonly caFile: string | undefined;
  // One agent per client: its connections (and TLS sessions) are reused across requests.
  private readonly agent: http.Agent;

  constructor(opts: ClientOptions = {}, env: NodeJS.ProcessEnv = process.env) {
    // An empty setting counts as unset.
    this.baseUrl = (opts.url || env.SWITCHBOARD_URL || DEFAULT_URL).replace(/\/+$/, '');
    if (!/^https?:\/\//i.test(this.baseUrl)) throw new CliError('USAGE', `the daemon URL must start with http:// or https://, got '${this.baseUrl}'`, 2);
    this.token = opts.token || env.SWITCHBOARD_TOKEN || readLocalToken(opts.dataDir || env.SWITCHBOARD_DATA_DIR || './data');
    this.caFile = opts.ca || env.SWITCHBOARD_CA || undefined;
    this.ca = this.caFile ? readCaFile(this.caFile) : undefined;
    this.agent = this.secure ? new https.Agent({ keepAlive: true, ca: this.ca }) : new http.Agent({ keepAlive: true });
  }

  get secure(): boolean {
    return /^https:/i.test(this.baseUrl);
  }

  authHeader(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  async request<T>(method: string, route: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    let res: HttpReply;
    try {
      res = await exchange(new URL(`${this.baseUrl}/api/v1${route}`), this.agent, {
        method,
        headers: { ...this.authHeader(), ...(body === undefined ? {} : { 'content-type': contentType }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw this.connectError(err, `cannot reach ${this.baseUrl}`, "(is 'switchboard serve' running? set --url or SWITCHBOARD_URL)");
    }
    if (res.status < 200 || res.status > 299) throw this.replyError(res);
    return (res.text ? safeJson(res.text) : undefined) as T;
  }

  /** An error reply as the CLI reports it: the daemon's {error, message}, or the status. */
  private replyError(res: HttpReply): CliError {
    const e = (res.text ? safeJson(res.text) : undefined) as { error?: string; message?: string } | undefined;
    if (res.status === 401 && !this.token) return new CliError('UNAUTHORIZED', 'no token: set --token or SWITCHBOARD_TOKEN (the admin token is in <data-dir>/admin-token)');
    return new CliError(e?.error ?? `HTTP_${res.status}`, e?.message ?? (res.text.slice(0, 200) || res.statusText));
  }

  /** A GET whose reply is read as it arrives (log search, tail -f); an error reply throws as `request` does. */
  async stream(route: string): Promise<http.IncomingMessage> {
    const url = new URL(`${this.baseUrl}/api/v1${route}`);
    let res: http.IncomingMessage;
    try {
      res = await new Promise((resolve, reject) => {
        const req = (url.protocol === 'https:' ? https : http).request(url, { method: 'GET', headers: this.authHeader(), agent: this.agent }, resolve);
        req.on('error', reject);
        req.end();
      });
    } catch (err) {
      throw this.connectError(err, `cannot reach ${this.baseUrl}`, "(is 'switchboard serve' running? set --url or SWITCHBOARD_URL)");
    }
    if (res.statusCode! >= 200 && res.statusCode! <= 299) return res;
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    throw this.replyError({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', text: Buffer.concat(chunks).toString('utf8') });
  }

  /**
   * A failed connection as the user should read it: TLS trouble says what to do about it,
   * anything else is `what: CODE hint`.
   */
  connectError(err: unknown, what: string, hint = ''): CliError {
    const e = err as NodeJS.ErrnoException & { reason?: string };
    const tls = this.tlsProblem(e);
    if (tls) return new CliError('TLS', tls);
    // A TLS daemon hangs up on a plaintext request without a word.
    const why = e.code === 'ECONNRESET' && !this.secure ? '(does the daemon use TLS? try an https:// URL)' : hint;
    return new CliError('UNREACHABLE', `${what}: ${e.code ?? e.message}${why ? ` ${why}` : ''}`);
  }

  private tlsProblem(e: NodeJS.ErrnoException & { reason?: string }): string | undefined {
    const cert = `certificate for ${this.baseUrl}`;
    if (e.code && UNTRUSTED.has(e.code)) {
      return this.caFile
        ? `${cert} is not signed by the CA in ${this.caFile} (the wrong file?)`
        : `${cert} is not trusted (self-signed?): pass --ca FILE or set SWITCHBOARD_CA`;
    }
    if (e.code === 'CERT_HAS_EXPIRED') return `${cert} has expired (make a new one, e.g. switchboard gen-cert --force)`;
    if (e.code === 'CERT_NOT_YET_VALID') return `${cert} is not valid yet (are the clocks right?)`;
    if (e.code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `${cert} does not cover this name: ${e.reason ?? e.message} (switchboard gen-cert --host NAME adds names)`;
    if (this.secure && (e.code === 'EPROTO' || e.code?.startsWith('ERR_SSL_'))) {
      return /wrong version number|packet length too long/.test(e.message)
        ? `${this.baseUrl} does not speak TLS (a plaintext daemon? try an http:// URL)`
        : `handshake with ${this.baseUrl} failed: ${e.message.split('\n')[0]}`;
    }
    return undefined;
  }
}

/** OpenSSL's ways of saying that nothing we trust signed the certificate. */
const UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
]);

interface HttpReply {
  status: number;
  statusText: string;
  text: string;
}

/**
 * One request through node:http(s). Not global fetch: in Node 20 fetch cannot be given a CA
 * without the undici package, and the agent here carries it.
 */
function exchange(url: URL, agent: http.Agent, req: { method: string; headers: Record<string, string>; body?: string }): Promise<HttpReply> {
  const transport = url.protocol === 'https:' ? https : http;
  const headers = req.body === undefined ? req.headers : { ...req.headers, 'content-length': String(Buffer.byteLength(req.body)) };
  return new Promise((resolve, reject) => {
    const outgoing = transport.request(url, { method: req.method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', text: Buffer.concat(chunks).toString('utf8') }));
    });
    outgoing.on('error', reject);
    outgoing.end(req.body);
  });
}

function readCaFile(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new CliError('TLS', `cannot read the CA file ${file} (--ca / SWITCHBOARD_CA): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The admin token a local daemon wrote, so `switchboard` works beside `switchboard serve` with no setup. */
function readLocalToken(dataDir: string): string | undefined {
  try {
    return readFileSync(path.join(dataDir, ADMIN_TOKEN_FILE), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
