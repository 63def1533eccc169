// Who is calling: the admin token (Bearer, or HTTP Basic user `admin` as OBMd accepts).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';

export interface Identity {
  /** 'admin' now; scoped token ids later. */
  id: string;
  admin: boolean;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export class Authenticator {
  private readonly adminDigest: Buffer;

  constructor(adminToken: string) {
    this.adminDigest = digest(adminToken);
  }

  /** Constant-time: compares digests, so neither content nor length leaks through timing. */
  check(token: string | undefined): Identity | undefined {
    if (!token) return undefined;
    return timingSafeEqual(digest(token), this.adminDigest) ? { id: 'admin', admin: true } : undefined;
  }

  /**
   * The token a request carries: Authorization header, X-Auth-Token (what OpenStack clients such
   * as ironic's send), or `?token=` when the route allows it.
   */
  fromRequest(req: FastifyRequest, allowQuery: boolean): Identity | undefined {
    return this.check(
      tokenFromHeader(req.headers.authorization)
      ?? singleHeader(req.headers['x-auth-token'])
      ?? (allowQuery ? tokenFromQuery(req.url) : undefined),
    );
  }
}

export function tokenFromHeader(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const [scheme, value] = header.split(' ', 2);
  if (!value) return undefined;
  if (scheme.toLowerCase() === 'bearer') return value.trim();
  if (scheme.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0 && decoded.slice(0, colon) === 'admin') return decoded.slice(colon + 1);
  }
  return undefined;
}

function singleHeader(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' && value.trim() ? value.trim() : undefined;
}

function tokenFromQuery(url: string): string | undefined {
  const q = url.indexOf('?');
  return q < 0 ? undefined : (new URLSearchParams(url.slice(q + 1)).get('token') ?? undefined);
}

/** A URL fit for a log line: any token in the query string is replaced. */
export function redactUrl(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/gi, '$1[redacted]');
}
