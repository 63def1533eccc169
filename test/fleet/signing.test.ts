import assert from 'node:assert/strict';
import { sign as edSign } from 'node:crypto';
import { chmod, mkdtemp, open, readFile, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { setImmediate } from 'node:timers/promises';
import { canonicalJson } from '../../src/fleet/canonical-json.js';
import { FileSeenStore, MemorySeenStore, SEEN_IDS_FILE, type SeenStore } from '../../src/fleet/seen-ids.js';
import {
  formatPublicKey,
  generateSigner,
  keyId,
  loadAllowedSigners,
  loadOrCreateSigner,
  parsePublicKey,
  SIGNER_KEY_FILE,
} from '../../src/fleet/signer-keys.js';
import { DEFAULT_MAX_AGE_MS, EnvelopeRejected, EnvelopeVerifier, sign, type RejectReason } from '../../src/fleet/signing.js';

const tmp = await mkdtemp(path.join(os.tmpdir(), 'sb-fleet-sign-'));
after(() => rm(tmp, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => path.join(tmp, `d${++dirs}`);

const daemon = generateSigner();
const message = { toNode: 'n1', method: 'cliCommand', methodArgs: ['echo', 'hi'] };
const HOUR = 3_600_000;

function verifier(seen: SeenStore = new MemorySeenStore(), extra: { now?: () => number } = {}) {
  return new EnvelopeVerifier({ node: 'n1', allowed: [daemon.publicKey], seen, ...extra });
}

async function rejects(fn: () => unknown, reason: RejectReason): Promise<void> {
  await assert.rejects(async () => fn(), (err: unknown) => {
    assert.ok(err instanceof EnvelopeRejected, `expected EnvelopeRejected, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    return true;
  });
}

/** What the agent gets: the envelope after a trip through JSON. */
const wire = (value: unknown) => JSON.parse(JSON.stringify(value)) as Record<string, unknown>;

describe('canonical JSON', () => {
  test('is the same for reordered keys, at every depth, with no whitespace', () => {
    const a = canonicalJson({ b: 1, a: { y: [1, { d: 'x', c: null }], x: true } });
    const b = canonicalJson({ a: { x: true, y: [1, { c: null, d: 'x' }] }, b: 1 });
    assert.equal(a, b);
    assert.equal(a, '{"a":{"x":true,"y":[1,{"c":null,"d":"x"}]},"b":1}');
  });

  test('leaves out undefined members and refuses what JSON cannot carry', () => {
    assert.equal(canonicalJson({ a: undefined, b: 'é\n' }), '{"b":"é\\n"}');
    assert.throws(() => canonicalJson({ n: Number.NaN }), /not a JSON number/);
    assert.throws(() => canonicalJson({ d: new Date(0) }), /Date is not a JSON value/);
    assert.throws(() => canonicalJson({ n: 1n }), /bigint is not a JSON value/);
  });
});

describe('envelope signing and verification', () => {
  test('round trip: the agent gets back the payload, id, node and issuer', async () => {
    const env = sign(message, daemon, { node: 'n1', id: 'm-1' });
    assert.deepEqual(Object.keys(env).sort(), ['iat', 'id', 'kid', 'node', 'payload', 'sig', 'v']);
    assert.equal(env.kid, keyId(daemon.publicKey));
    assert.match(env.kid, /^[0-9a-f]{16}$/);
    const got = verifier().verify(wire(env));
    assert.deepEqual(got.payload, message);
    assert.equal(got.id, 'm-1');
    assert.equal(got.node, 'n1');
  });

  test('the payload travels as the JSON text that was signed; the envelope\'s keys may arrive in any order', async () => {
    const env = wire(sign(message, daemon, { node: 'n1', id: 'm-order' }));
    assert.equal(env.v, 3);
    assert.equal(env.payload, JSON.stringify(message));
    const reordered = Object.fromEntries(Object.entries(env).reverse());
    assert.equal(verifier().verify(reordered).id, 'm-order');
    // The same content in another key order is other text: not what was signed.
    const respelled = JSON.stringify(Object.fromEntries(Object.entries(message).reverse()));
    await rejects(() => verifier().verify({ ...env, payload: respelled }), 'BAD_SIGNATURE');
  });

  test('an envelope of version 2 (payload an object, signed in canonical form) is still accepted, in any key order', async () => {
    const body = { v: 2, id: 'm-v2', node: 'n1', iat: Date.now(), kid: keyId(daemon.publicKey), payload: { messages: [message] } };
    const signed = Buffer.from(`switchboard fleet envelope v2\n${canonicalJson(body)}`);
    const env = { ...body, sig: edSign(null, signed, daemon.privateKey).toString('base64url') };
    const reordered = { ...env, payload: { messages: [Object.fromEntries(Object.entries(message).reverse())] } };
    assert.deepEqual(verifier().verify(wire(reordered)).payload, { messages: [message] });
    await rejects(() => verifier().verify({ ...env, payload: { messages: [{ ...message, methodArgs: ['rm', '-rf', '/'] }] } }), 'BAD_SIGNATURE');
    // A version 2 signature is not valid for the same content as version 3, nor the other way round.
    await rejects(() => verifier().verify({ ...env, v: 3, payload: JSON.stringify(body.payload) }), 'BAD_SIGNATURE');
    const v3 = wire(sign(body.payload, daemon, { node: 'n1', id: 'm-v3' }));
    await rejects(() => verifier().verify({ ...v3, v: 2, payload: body.payload }), 'BAD_SIGNATURE');
  });

  test('a signed payload that is not the JSON text of an object is MALFORMED, after the signature is checked', async () => {
    const body = { v: 3, id: 'm-text', node: 'n1', iat: Date.now(), kid: keyId(daemon.publicKey) };
    const signedAs = (payload: string) => {
      const sig = edSign(null, Buffer.from(`switchboard fleet envelope v3\n${canonicalJson({ ...body, payload })}`), daemon.privateKey);
      return { ...body, payload, sig: sig.toString('base64url') };
    };
    await rejects(() => verifier().verify(signedAs('{"messages": [')), 'MALFORMED');
    await rejects(() => verifier().verify(signedAs('42')), 'MALFORMED');
    await rejects(() => verifier().verify({ ...signedAs('{}'), payload: '{"x":1}' }), 'BAD_SIGNATURE');
    assert.deepEqual(verifier().verify(signedAs('{}')).payload, {});
  });

  test('a tampered payload, node or iat is BAD_SIGNATURE', async () => {
    const env = wire(sign(message, daemon, { node: 'n1', id: 'm-2' }));
    await rejects(() => verifier().verify({ ...env, payload: JSON.stringify({ ...message, methodArgs: ['rm', '-rf', '/'] }) }), 'BAD_SIGNATURE');
    await rejects(() => verifier().verify({ ...env, iat: (env.iat as number) + 1 }), 'BAD_SIGNATURE');
    const forOther = wire(sign(message, daemon, { node: 'n2', id: 'm-2' }));
    await rejects(() => verifier().verify({ ...forOther, node: 'n1' }), 'BAD_SIGNATURE');
  });

  test('a key outside the allow-list is UNKNOWN_SIGNER, even when it lies about its kid', async () => {
    const stranger = generateSigner();
    const env = wire(sign(message, stranger, { node: 'n1', id: 'm-3' }));
    await rejects(() => verifier().verify(env), 'UNKNOWN_SIGNER');
    await rejects(() => verifier().verify({ ...env, kid: keyId(daemon.publicKey) }), 'BAD_SIGNATURE');
  });

  test('several allowed keys: the kid picks the one that signed', async () => {
    const other = generateSigner();
    const v = new EnvelopeVerifier({ node: 'n1', allowed: [other.publicKey, daemon.publicKey], seen: new MemorySeenStore() });
    assert.equal(v.verify(wire(sign(message, daemon, { node: 'n1', id: 'a' }))).id, 'a');
    assert.equal(v.verify(wire(sign(message, other, { node: 'n1', id: 'b' }))).id, 'b');
  });

  test('an envelope for another node is WRONG_NODE', async () => {
    await rejects(() => verifier().verify(wire(sign(message, daemon, { node: 'n2', id: 'm-4' }))), 'WRONG_NODE');
  });

  test('no sig, a garbled sig or not an object is UNSIGNED; bad fields are MALFORMED', async () => {
    const env = wire(sign(message, daemon, { node: 'n1', id: 'm-5' }));
    const { sig: _sig, ...unsigned } = env;
    await rejects(() => verifier().verify(unsigned), 'UNSIGNED');
    await rejects(() => verifier().verify({ ...env, sig: 'not base64url!' }), 'UNSIGNED');
    await rejects(() => verifier().verify([env]), 'UNSIGNED');
    await rejects(() => verifier().verify(message), 'UNSIGNED'); // a bare steward message
    await rejects(() => verifier().verify({ ...env, v: 1 }), 'MALFORMED'); // an envelope of the one-message era
    await rejects(() => verifier().verify({ ...env, payload: JSON.parse(env.payload as string) }), 'MALFORMED'); // v3 with an object
    await rejects(() => verifier().verify({ ...env, iat: 'yesterday' }), 'MALFORMED');
    await rejects(() => verifier().verify({ ...env, extra: 'unsigned rider' }), 'MALFORMED');
  });

  test('older than maxAgeMs is EXPIRED, but a message queued for hours is still accepted', async () => {
    const now = Date.now();
    const v = verifier(new MemorySeenStore(), { now: () => now });
    await rejects(() => v.verify(wire(sign(message, daemon, { node: 'n1', id: 'old', now: now - DEFAULT_MAX_AGE_MS - 1 }))), 'EXPIRED');
    const queued = v.verify(wire(sign(message, daemon, { node: 'n1', id: 'queued', now: now - 30 * HOUR })));
    assert.equal(queued.id, 'queued');
  });

  test('issued more than maxSkewMs ahead is FROM_THE_FUTURE; a little clock skew is fine', async () => {
    const now = Date.now();
    const v = new EnvelopeVerifier({ node: 'n1', allowed: [daemon.publicKey], seen: new MemorySeenStore(), maxSkewMs: 60_000, now: () => now });
    await rejects(() => v.verify(wire(sign(message, daemon, { node: 'n1', id: 'f1', now: now + 61_000 }))), 'FROM_THE_FUTURE');
    assert.equal(v.verify(wire(sign(message, daemon, { node: 'n1', id: 'f2', now: now + 30_000 }))).id, 'f2');
  });

  test('the same message id taken twice is REPLAYED, also when re-signed', async () => {
    const v = verifier();
    const body = v.verify(wire(sign(message, daemon, { node: 'n1', id: 'm-6' })));
    await v.take('m-6', body);
    await rejects(() => v.take('m-6', body), 'REPLAYED');
    await rejects(() => v.take('m-6', v.verify(wire(sign(message, daemon, { node: 'n1', id: 'm-6' })))), 'REPLAYED');
    await v.take('m-6b', body); // another message of the same envelope
  });

  test('of two concurrent deliveries of one id, exactly one is accepted', async () => {
    const seen = await FileSeenStore.open(freshDir());
    const v = verifier(seen);
    const body = v.verify(wire(sign(message, daemon, { node: 'n1', id: 'twin' })));
    const results = await Promise.allSettled([v.take('twin', body), v.take('twin', body)]);
    assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
    await seen.close();
  });

  test('a refused envelope does not take its id: the authentic one still runs', async () => {
    const v = verifier();
    const env = wire(sign(message, daemon, { node: 'n1', id: 'm-7' }));
    await rejects(() => v.verify({ ...env, payload: '{}' }), 'BAD_SIGNATURE');
    await v.take('m-7', v.verify(env));
  });
});

describe('file seen store', () => {
  test('an id accepted before an agent restart is REPLAYED after it', async () => {
    const dir = freshDir();
    const env = wire(sign(message, daemon, { node: 'n1', id: 'm-restart' }));
    const first = await FileSeenStore.open(dir);
    await verifier(first).take('m-restart', verifier(first).verify(env));
    await first.close();
    const second = await FileSeenStore.open(dir);
    await rejects(() => verifier(second).take('m-restart', verifier(second).verify(env)), 'REPLAYED');
    await second.close();
    assert.equal((await stat(path.join(dir, SEEN_IDS_FILE))).mode & 0o777, 0o600);
  });

  test('instant messages taken together: all on file before any runs, a repeat or a bad id refused, remembered across a restart', async () => {
    const dir = freshDir();
    const env = wire(sign(message, daemon, { node: 'n1', id: 'i-1' }));
    const first = await FileSeenStore.open(dir);
    const v = verifier(first);
    await v.take('i-0', v.verify(env));
    const refusals = await v.takeAll(['i-1', 'i-0', 'i-2', 'i-1', 42], v.verify(env));
    assert.deepEqual(refusals.map((r) => r?.reason), [undefined, 'REPLAYED', undefined, 'REPLAYED', 'MALFORMED']);
    // On file once takeAll resolved, before any of them could run: a crash now does not run them twice.
    const ids = (await readFile(path.join(dir, SEEN_IDS_FILE), 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id);
    assert.deepEqual(ids, ['i-0', 'i-1', 'i-2']);
    await first.close();
    const second = await FileSeenStore.open(dir);
    assert.deepEqual((await verifier(second).takeAll(['i-2', 'i-3'], v.verify(env))).map((r) => r?.reason), ['REPLAYED', undefined]);
    await second.close();
  });

  test('instant messages whose ids could not be written are not taken: none runs, a redelivery takes them', async () => {
    const store = await FileSeenStore.open(freshDir());
    const v = verifier(store);
    const body = v.verify(wire(sign(message, daemon, { node: 'n1', id: 'full-1' })));
    // The disk is full: every write fails (ENOSPC).
    const internals = store as unknown as { handle: FileHandle };
    const real = internals.handle;
    internals.handle = await open('/dev/full', 'a');
    await assert.rejects(v.takeAll(['full-1', 'full-2'], body), /ENOSPC/);
    await internals.handle.close();
    internals.handle = real;
    assert.deepEqual(await v.takeAll(['full-1', 'full-2'], body), [undefined, undefined]);
    await store.close();
  });

  test('a whole line appended after a torn one is still read', async () => {
    const dir = freshDir();
    const exp = Date.now() + HOUR;
    const store = await FileSeenStore.open(dir);
    await store.remember('before', exp);
    await store.close();
    const file = path.join(dir, SEEN_IDS_FILE);
    await writeFile(file, `{"id":"torn","ex{"id":"glued","exp":${exp}}\n`, { flag: 'a' });
    const reopened = await FileSeenStore.open(dir);
    assert.deepEqual([await reopened.remember('before', exp), await reopened.remember('glued', exp), await reopened.remember('torn', exp)], [false, false, true]);
    await reopened.close();
  });

  test('expired ids are pruned on open; a torn last line is skipped', async () => {
    const dir = freshDir();
    const now = Date.now();
    const store = await FileSeenStore.open(dir, { now: () => now });
    assert.equal(await store.remember('fresh', now + HOUR), true);
    assert.equal(await store.remember('stale', now - 2 * 24 * HOUR), true);
    await store.close();
    const file = path.join(dir, SEEN_IDS_FILE);
    await writeFile(file, (await readFile(file, 'utf8')) + '{"id":"torn","ex', { flag: 'w' });
    const reopened = await FileSeenStore.open(dir, { now: () => now });
    assert.equal(reopened.size, 1);
    assert.equal(await reopened.remember('fresh', now + HOUR), false);
    assert.equal(await reopened.remember('stale', now + HOUR), true); // forgotten: the verifier refuses it as EXPIRED anyway
    await reopened.close();
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    assert.deepEqual(lines.map((l) => (JSON.parse(l) as { id: string }).id), ['fresh', 'stale']);
  });

  test('an envelope\'s intent: after an agent crash its messages not yet taken still run; after a reboot none does', async () => {
    const dir = freshDir();
    const exp = Date.now() + HOUR;
    const store = await FileSeenStore.open(dir, { bootId: 'boot-1' });
    await store.intend(['a', 'b', 'c'], exp);
    assert.equal(await store.remember('a', exp), true);
    await store.close(); // the agent dies while `a` runs
    // Same boot: what was written is all there is, so b and c were never taken.
    const again = await FileSeenStore.open(dir, { bootId: 'boot-1' });
    assert.deepEqual([await again.remember('a', exp), await again.remember('b', exp)], [false, true]);
    await again.intend(['c', 'd'], exp);
    await again.close();
    // Another boot (a power loss may have eaten the appends after the intent): every id of it counts as taken.
    const rebooted = await FileSeenStore.open(dir, { bootId: 'boot-2' });
    assert.deepEqual(await Promise.all(['a', 'b', 'c', 'd'].map((id) => rebooted.remember(id, exp))), [false, false, false, false]);
    assert.equal(await rebooted.remember('e', exp), true);
    await rebooted.close();
  });

  test('a compaction keeps an intent whose messages are not all taken', async () => {
    const dir = freshDir();
    const exp = Date.now() + HOUR;
    const store = await FileSeenStore.open(dir, { bootId: 'boot-1', compactAfter: 5 });
    await store.intend(['x', 'y', 'z'], exp);
    assert.equal(await store.remember('x', exp), true);
    // Expired ids, which a compaction drops: several compactions happen meanwhile.
    for (let i = 0; i < 20; i++) await store.remember(`old-${i}`, Date.now() - 2 * 24 * HOUR);
    await store.close();
    assert.ok(!(await readFile(path.join(dir, SEEN_IDS_FILE), 'utf8')).includes('"old-0"'), 'the file was compacted');
    const rebooted = await FileSeenStore.open(dir, { bootId: 'boot-2' });
    assert.deepEqual([await rebooted.remember('y', exp), await rebooted.remember('z', exp)], [false, false]);
    await rebooted.close();
  });

  test('ids remembered under an intent count towards a compaction', async () => {
    const dir = freshDir();
    const past = Date.now() - 2 * 24 * HOUR;
    const store = await FileSeenStore.open(dir, { bootId: 'boot-1', compactAfter: 5 });
    const ids = Array.from({ length: 20 }, (_, i) => `k${i}`);
    await store.intend(ids, past);
    for (const id of ids) {
      assert.equal(await store.remember(id, past), true);
      await setImmediate(); // as the agent runs the message: the queue is idle again, and the next id is only written
    }
    await store.intend(['z1', 'z2'], Date.now() + HOUR); // the next write to go through the queue compacts
    await store.close();
    const text = await readFile(path.join(dir, SEEN_IDS_FILE), 'utf8');
    assert.ok(!text.includes('"k0"'), `compacted: ${text}`);
    // The intent that the compaction ran behind is on file all the same.
    const rebooted = await FileSeenStore.open(dir, { bootId: 'boot-2' });
    assert.equal(await rebooted.remember('z1', Date.now() + HOUR), false);
    await rebooted.close();
  });

  test('without a boot id there are no intents: each id is on disk by itself', async () => {
    const dir = freshDir();
    const exp = Date.now() + HOUR;
    const store = await FileSeenStore.open(dir, { bootId: '' });
    await store.intend(['p', 'q'], exp);
    await store.remember('p', exp);
    await store.close();
    const reopened = await FileSeenStore.open(dir, { bootId: 'boot-2' });
    assert.deepEqual([await reopened.remember('p', exp), await reopened.remember('q', exp)], [false, true]);
    await reopened.close();
  });

  test('many concurrent ids are all kept, across compactions', async () => {
    const dir = freshDir();
    const store = await FileSeenStore.open(dir, { compactAfter: 50 });
    const exp = Date.now() + HOUR;
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => store.remember(`id-${i}`, exp)));
    assert.ok(results.every(Boolean));
    await store.close();
    const reopened = await FileSeenStore.open(dir);
    assert.equal(reopened.size, 300);
    assert.equal(await reopened.remember('id-299', exp), false);
    await reopened.close();
  });
});

describe('signer keys', () => {
  test('the key file is created 0600 once and reused', async () => {
    const dir = freshDir();
    const first = await loadOrCreateSigner(dir);
    assert.equal(first.created, true);
    assert.equal(first.file, path.join(dir, SIGNER_KEY_FILE));
    assert.equal((await stat(first.file)).mode & 0o777, 0o600);
    const second = await loadOrCreateSigner(dir);
    assert.equal(second.created, false);
    assert.equal(formatPublicKey(second.publicKey), formatPublicKey(first.publicKey));
  });

  test('two processes starting at once end up with one key', async () => {
    const dir = freshDir();
    const [a, b] = await Promise.all([loadOrCreateSigner(dir), loadOrCreateSigner(dir)]);
    assert.equal(formatPublicKey(a.publicKey), formatPublicKey(b.publicKey));
    assert.equal([a.created, b.created].filter(Boolean).length, 1);
  });

  test('a key file group or others can read is refused', async () => {
    const dir = freshDir();
    const { file } = await loadOrCreateSigner(dir);
    await chmod(file, 0o644);
    await assert.rejects(loadOrCreateSigner(dir), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'SIGNER_KEY_FILE');
      assert.match(err.message, /mode 0644.*chmod 600/);
      return true;
    });
  });

  test('the printable public key round-trips and is what --allow-signer accepts', async () => {
    const text = formatPublicKey(daemon.publicKey);
    assert.match(text, /^sb-ed25519:[A-Za-z0-9_-]{43}$/);
    assert.equal(formatPublicKey(parsePublicKey(text)), text);
    assert.equal(keyId(parsePublicKey(text)), keyId(daemon.publicKey));
    const [fromFlag] = await loadAllowedSigners([text]);
    assert.equal(formatPublicKey(fromFlag!), text);
    assert.throws(() => parsePublicKey('sb-ed25519:short'), /32 bytes/);
    assert.throws(() => parsePublicKey('ssh-ed25519 AAAA'), /expected sb-ed25519:/);
  });

  test('loadAllowedSigners reads PEM files and files of printable keys, and refuses private keys', async () => {
    const dir = await mkdtemp(path.join(tmp, 'allow-'));
    const other = generateSigner();
    const pem = path.join(dir, 'daemon.pub.pem');
    await writeFile(pem, daemon.publicKey.export({ format: 'pem', type: 'spki' }) as string);
    const list = path.join(dir, 'signers');
    await writeFile(list, `# cluster daemons\n${formatPublicKey(other.publicKey)}\n\n`);
    const keys = await loadAllowedSigners([pem, list]);
    assert.deepEqual(keys.map(formatPublicKey), [formatPublicKey(daemon.publicKey), formatPublicKey(other.publicKey)]);

    const signed = wire(sign(message, daemon, { node: 'n1', id: 'via-pem' }));
    const v = new EnvelopeVerifier({ node: 'n1', allowed: keys, seen: new MemorySeenStore() });
    assert.equal(v.verify(signed).id, 'via-pem');

    const secret = path.join(dir, 'private.pem');
    await writeFile(secret, daemon.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
    await assert.rejects(loadAllowedSigners([secret]), /is a private key/);
    await assert.rejects(loadAllowedSigners([path.join(dir, 'missing')]), /neither a sb-ed25519: key nor an existing file/);
  });
});
