// NATS decentralised auth (operator mode) for tests, without nsc: an operator, its system account,
// accounts and users as ed25519-signed JWTs (nats-io/jwt v2 claims), and a user's creds file.
// A JWT is base64url(header).base64url(claims).base64url(ed25519 signature of the first two by the
// issuer's nkey); the server checks the chain user <- account <- operator.
import { createHash, randomBytes } from 'node:crypto';
import { nkeys } from 'nats';

type KeyPair = ReturnType<typeof nkeys.createOperator>;

const b64url = (data: string | Uint8Array) => Buffer.from(data).toString('base64url');
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** `nats` holds the type-specific claims; jti is a hash of the claims, as nsc makes it. */
function signJwt(issuer: KeyPair, subject: string, name: string, nats: Record<string, unknown>): string {
  const claims = { jti: '', iat: Math.floor(Date.now() / 1000), iss: issuer.getPublicKey(), name, sub: subject, nats: { ...nats, version: 2 } };
  claims.jti = createHash('sha256').update(JSON.stringify(claims)).update(randomBytes(8)).digest('base64url');
  const signed = `${b64url(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }))}.${b64url(JSON.stringify(claims))}`;
  return `${signed}.${b64url(issuer.sign(new TextEncoder().encode(signed)))}`;
}

/** No limit on anything; JetStream only where `jetstream` is set (a system account may not have it). */
function accountLimits(jetstream: boolean) {
  return {
    subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1,
    ...(jetstream ? { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 } : { mem_storage: 0, disk_storage: 0 }),
  };
}

export interface Operator {
  /** The lines of a nats-server.conf that turn operator mode on, with every account preloaded. */
  serverConfig(): string;
  /**
   * A new user of the (JetStream) account, allowed everything or only `permissions` (what nsc's
   * --allow-pub / --allow-sub put in the JWT); returns the creds file's text and the user's seed.
   */
  user(name: string, permissions?: { publish: string[]; subscribe: string[] }): { creds: string; seed: string };
}

export function makeOperator(): Operator {
  const operator = nkeys.createOperator();
  const system = nkeys.createAccount();
  const account = nkeys.createAccount();
  const operatorJwt = signJwt(operator, operator.getPublicKey(), 'test-operator', { type: 'operator', system_account: system.getPublicKey() });
  const accounts = [
    [system.getPublicKey(), signJwt(operator, system.getPublicKey(), 'SYS', { type: 'account', limits: accountLimits(false) })],
    [account.getPublicKey(), signJwt(operator, account.getPublicKey(), 'fleet', { type: 'account', limits: accountLimits(true) })],
  ];
  return {
    serverConfig: () => [
      `operator: ${operatorJwt}`,
      `system_account: ${system.getPublicKey()}`,
      'resolver: MEMORY',
      `resolver_preload: {\n${accounts.map(([pub, jwt]) => `  ${pub}: ${jwt}`).join('\n')}\n}`,
    ].join('\n'),
    user(name, permissions) {
      const user = nkeys.createUser();
      const [pub, sub] = permissions ? [{ allow: permissions.publish }, { allow: permissions.subscribe }] : [{}, {}];
      const jwt = signJwt(account, user.getPublicKey(), name, { type: 'user', pub, sub, subs: -1, data: -1, payload: -1 });
      const seed = text(user.getSeed());
      return { creds: credsFile(jwt, seed), seed };
    },
  };
}

/** The layout nsc writes. */
function credsFile(jwt: string, seed: string): string {
  return [
    '-----BEGIN NATS USER JWT-----', jwt, '------END NATS USER JWT------', '',
    '************************* IMPORTANT *************************',
    'NKEY Seed printed below can be used to sign and prove identity.',
    'NKEYs are sensitive and should be treated as secrets.', '',
    '-----BEGIN USER NKEY SEED-----', seed, '------END USER NKEY SEED------', '',
    '*************************************************************', '',
  ].join('\n');
}
