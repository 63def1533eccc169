// Who is calling, and may they do this: the admin token (Bearer, HTTP Basic user `admin` as OBMd
// accepts, or ironic's X-Auth-Token) or a scoped token (one node, some rights, an expiry).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { errors } from '../errors.js';
import type { TokenRecord, TokenRight } from '../store/types.js';
import type { TokenService } from '../tokens/service.js';

export interface Identity {
  /** 'admin', or `token:<id>` for a scoped token. */
  id: string;
  admin: boolean;
  token?: TokenRecord;
}

/** What a route lets a scoped token do; routes without a scope are admin-only. */
export type Need = 'console' | 'power' | 'read';

export const digest = (s: string) => createHash('sha256').update(s).digest();

export class Authenticator {
  private readonly adminDigest: Buffer;

  constructor(adminToken: string, private readonly tokens: TokenService) {
    this.adminDigest = digest(adminToken);
  }

  /** Constant-time for the admin token (digests compared, so no length leaks); scoped tokens are looked up by hash. */
  async check(token: string | undefined): Promise<Identity | undefined> {
    if (!token) return undefined;
    if (timingSafeEqual(digest(token), this.adminDigest)) return { id: 'admin', admin: true };
    const rec = await this.tokens.check(token);
    return rec && { id: `token:${rec.id}`, admin: false, token: rec };
  }

  /** The token a request carries: Authorization or X-Auth-Token header, or `?token=` when the route allows it. */
  fromRequest(req: FastifyRequest, allowQuery: boolean): Promise<Identity | undefined> {
    return this.check(requestToken(req, allowQuery));
  }
}

export function requestToken(req: FastifyRequest, allowQuery: boolean): string | undefined {
  // X-Auth-Token is what OpenStack clients (ironic's) send.
  return tokenFromHeader(req.headers.authorization)
    ?? singleHeader(req.headers['x-auth-token'])
    ?? (allowQuery ? tokenFromQuery(req.url) : undefined);
}

/**
 * May this identity do `need` on `node`? Throws FORBIDDEN with the reason. A console right of
 * either mode allows attaching; whether it may write is `canWrite`.
 */
export function authorize(identity: Identity, node: string, need: Need | undefined): void {
  if (identity.admin) return;
  const tok = identity.token!;
  if (!need) throw new errors.FORBIDDEN('this needs the admin token');
  if (tok.node !== node) throw new errors.FORBIDDEN(`this token is for another node, not '${node.slice(0, 64)}'`);
  const wanted: TokenRight[] = need === 'power' ? ['power'] : need === 'console' ? ['console:rw', 'console:ro'] : [...tok.rights];
  if (!wanted.some((r) => tok.rights.includes(r))) throw new errors.FORBIDDEN(`this token does not grant ${need} on '${node}'`);
}

export function canWrite(identity: Identity): boolean {
  return identity.admin || identity.token!.rights.includes('console:rw');
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
