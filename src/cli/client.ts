// The CLI's view of a daemon: where it is, which token to send, and JSON over HTTP.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ADMIN_TOKEN_FILE } from '../daemon/admin-token.js';

export const DEFAULT_URL = 'http://127.0.0.1:7860';

export interface ClientOptions {
  url?: string;
  token?: string;
  dataDir?: string;
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

  constructor(opts: ClientOptions = {}, env: NodeJS.ProcessEnv = process.env) {
    // An empty setting counts as unset.
    this.baseUrl = (opts.url || env.SWITCHBOARD_URL || DEFAULT_URL).replace(/\/+$/, '');
    this.token = opts.token || env.SWITCHBOARD_TOKEN || readLocalToken(opts.dataDir || env.SWITCHBOARD_DATA_DIR || './data');
  }

  authHeader(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  async request<T>(method: string, route: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}/api/v1${route}`, {
        method,
        headers: { ...this.authHeader(), ...(body === undefined ? {} : { 'content-type': contentType }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError('UNREACHABLE', `cannot reach ${this.baseUrl}: ${cause?.code ?? cause?.message ?? (err as Error).message} (is 'switchboard serve' running? set --url or SWITCHBOARD_URL)`);
    }
    const text = await res.text();
    const parsed = text ? safeJson(text) : undefined;
    if (!res.ok) {
      const e = parsed as { error?: string; message?: string } | undefined;
      if (res.status === 401 && !this.token) throw new CliError('UNAUTHORIZED', 'no token: set --token or SWITCHBOARD_TOKEN (the admin token is in <data-dir>/admin-token)');
      throw new CliError(e?.error ?? `HTTP_${res.status}`, e?.message ?? (text.slice(0, 200) || res.statusText));
    }
    return parsed as T;
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
