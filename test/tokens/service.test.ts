// TokenService rules that need a clock: the policy cap, renewal, OBMd tokens that never expire.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { SqliteStore } from '../../src/store/sqlite.js';
import { parseTtl, TokenService } from '../../src/tokens/service.js';

const H = 3600_000;

function service(maxTtlMs?: number) {
  const store = new SqliteStore(':memory:');
  let now = Date.parse('2026-11-23T10:00:00.000Z');
  const tokens = new TokenService({ store: store.tokens, logger: pino({ level: 'silent' }), maxTtlMs, now: () => now });
  return { tokens, advance: (ms: number) => (now += ms), close: () => store.close() };
}

test('ttl: durations such as 30m, 2h, 7d; anything else is a clear error', () => {
  assert.equal(parseTtl('30m'), 30 * 60_000);
  assert.equal(parseTtl('7d'), 7 * 24 * H);
  for (const bad of ['', '2', 'two hours', '-1h', '0s', '1y', '400d']) assert.throws(() => parseTtl(bad), { code: 'VALIDATION' }, bad);
});

test('policy: no token is made longer than tokenMaxTtl, and renewals stop at the cap', async () => {
  const { tokens, advance, close } = service(3 * H);
  try {
    await assert.rejects(tokens.create({ node: 'n1', rights: ['console:rw'], ttl: '4h' }), { code: 'VALIDATION', message: /at most 3 hours/ });
    const { token, record } = await tokens.create({ node: 'n1', rights: ['console:rw'], ttl: '2h' });
    assert.equal(record.maxExpiresAt, '2026-11-23T13:00:00.000Z');
    advance(1.5 * H);
    assert.equal((await tokens.renew(record.id)).expiresAt, '2026-11-23T13:00:00.000Z', 'by its own 2h, but capped at creation + 3h');
    advance(1.5 * H);
    assert.equal(await tokens.check(token), undefined, 'gone at the cap');
    await assert.rejects(tokens.renew(record.id), { code: 'TOKEN_EXPIRED' });
  } finally {
    await close();
  }
});

test('without a policy a token in use can be renewed again and again', async () => {
  const { tokens, advance, close } = service();
  try {
    const { token, record } = await tokens.create({ node: 'n1', rights: ['console:ro'], ttl: '2h' });
    for (let i = 0; i < 5; i++) {
      advance(1.9 * H);
      await tokens.renew(record.id);
    }
    advance(1.9 * H);
    assert.equal((await tokens.check(token))?.id, record.id, 'still alive 11.4 h after it was made for 2 h');
    assert.equal((await tokens.renew(record.id, '10m')).expiresAt, (await tokens.get(record.id)).expiresAt);
  } finally {
    await close();
  }
});

test('OBMd tokens are 128-bit hex and do not expire; only OBMd tokens may go without a ttl', async () => {
  const { tokens, advance, close } = service(H);
  try {
    const { token, record } = await tokens.create({ node: 'n1', rights: ['console:ro', 'power'], ttl: null, kind: 'obmd' });
    assert.match(token, /^[0-9a-f]{32}$/);
    assert.equal(record.expiresAt, null);
    advance(1000 * H);
    assert.equal((await tokens.check(token))?.id, record.id);
    await assert.rejects(tokens.create({ node: 'n1', rights: ['power'], ttl: null }), { code: 'VALIDATION' });
    assert.equal(await tokens.revokeNode('n1', 'replaced', 'obmd'), 1);
    assert.equal(await tokens.check(token), undefined);
  } finally {
    await close();
  }
});

test('revoking closes every live connection made with the token, and only those', async () => {
  const { tokens, close } = service();
  try {
    const a = await tokens.create({ node: 'n1', rights: ['console:rw'] });
    const b = await tokens.create({ node: 'n1', rights: ['console:rw'] });
    const closed: string[] = [];
    tokens.track(a.record, { notice: () => {}, kick: (r) => closed.push(`a1 ${r}`) });
    tokens.track(a.record, { notice: () => {}, kick: (r) => closed.push(`a2 ${r}`) });
    const untrackB = tokens.track(b.record, { notice: () => {}, kick: (r) => closed.push(`b ${r}`) });
    assert.equal(tokens.connections(a.record.id), 2);
    await tokens.revoke(a.record.id);
    assert.deepEqual(closed, ['a1 token revoked', 'a2 token revoked']);
    untrackB();
    await tokens.revoke(b.record.id);
    assert.equal(closed.length, 2, 'an untracked connection is not closed');
    tokens.close();
  } finally {
    await close();
  }
});

test('a connection made in the last minutes of a token is warned at once, so it can still renew', async () => {
  const { tokens, advance, close } = service();
  try {
    const { record } = await tokens.create({ node: 'n1', rights: ['console:rw'], ttl: '2h' });
    advance(2 * H - 3 * 60_000);
    const warned = new Promise<string>((resolve) => tokens.track(record, { notice: resolve, kick: () => {} }));
    assert.match(await warned, /^token expires in 3 min/);
    tokens.close();
  } finally {
    await close();
  }
});

test('a renewal stopped by the policy cap is not warned again (no warn → renew → warn loop)', async () => {
  const { tokens, advance, close } = service(3 * H);
  // The service's timers are unref'd (they must not keep a daemon alive); this test needs the loop up.
  const keepAlive = setInterval(() => {}, 1000);
  try {
    const { record } = await tokens.create({ node: 'n1', rights: ['console:rw'], ttl: '2h' });
    advance(1.9 * H);
    assert.equal((await tokens.renew(record.id)).expiresAt, record.maxExpiresAt, 'renewed up to the cap');
    advance(3 * H - 2 * 60_000 - 1.9 * H); // 2 min before the cap
    const notices: string[] = [];
    let first!: () => void;
    const warned = new Promise<void>((resolve) => (first = resolve));
    tokens.track(await tokens.get(record.id), { notice: (m) => { notices.push(m); first(); }, kick: () => {} });
    await warned;
    assert.equal((await tokens.renew(record.id)).expiresAt, record.maxExpiresAt, 'capped: the expiry did not move');
    // A zero-delay timer is how a second warning would come; let a timer turn pass.
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(notices.length, 1, notices.join(' | '));
    tokens.close();
  } finally {
    clearInterval(keepAlive);
    await close();
  }
});
