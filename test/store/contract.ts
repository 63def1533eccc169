// The Store contract: every implementation runs these same tests (see sqlite.test.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { NodeSpec } from '../../src/model/node.js';
import type { FleetMessageRecord, FleetStateChange, Store, TokenRecord } from '../../src/store/types.js';

export interface StoreFactory {
  /** A fresh, empty store. */
  open(): Promise<Store>;
  /** The same store again, as a restarted daemon would open it. */
  reopen(previous: Store): Promise<Store>;
}

const spec = (name: string, extra: Partial<NodeSpec> = {}): NodeSpec => ({
  name, driver: 'cmd', params: { cmd: ['/bin/cat'] }, ondemand: false, consoleEnabled: true, labels: {}, power: null, consolePort: null, vnc: null, watchPatterns: [], ...extra,
});

const token = (id: string, node: string, extra: Partial<TokenRecord> = {}): TokenRecord => ({
  id, node, rights: ['console:ro'], kind: 'api', note: '', createdAt: '2026-01-01T00:00:00.000Z',
  expiresAt: '2026-01-01T01:00:00.000Z', ttlMs: 3_600_000, maxExpiresAt: null, ...extra,
});

export function storeContract(kind: string, factory: StoreFactory): void {
  describe(`Store contract: ${kind}`, () => {
    test('creates, reads back and lists nodes ordered by name', async () => {
      const store = await factory.open();
      try {
        const made = await store.nodes.create(spec('b-node', { labels: { rack: 'r1' }, params: { cmd: 'x y', nested: { a: [1, 2] } } }));
        await store.nodes.create(spec('a-node', { ondemand: true, consoleEnabled: false, power: { driver: 'ipmi' } }));
        assert.equal(made.name, 'b-node');
        assert.ok(!Number.isNaN(Date.parse(made.createdAt)));
        const got = await store.nodes.get('b-node');
        assert.deepEqual(got?.params, { cmd: 'x y', nested: { a: [1, 2] } });
        assert.deepEqual(got?.labels, { rack: 'r1' });
        const list = await store.nodes.list();
        assert.deepEqual(list.map((n) => n.name), ['a-node', 'b-node']);
        assert.equal(list[0].ondemand, true);
        assert.equal(list[0].consoleEnabled, false);
        assert.deepEqual(list[0].power, { driver: 'ipmi' });
        assert.equal(list[1].power, null);
        assert.equal(await store.nodes.get('nope'), undefined);
      } finally {
        await store.close();
      }
    });

    test('a duplicate name is refused with NODE_EXISTS', async () => {
      const store = await factory.open();
      try {
        await store.nodes.create(spec('n1'));
        await assert.rejects(store.nodes.create(spec('n1')), { code: 'NODE_EXISTS', statusCode: 409 });
      } finally {
        await store.close();
      }
    });

    test('update replaces the spec and keeps createdAt; unknown nodes are NODE_NOT_FOUND', async () => {
      const store = await factory.open();
      try {
        const first = await store.nodes.create(spec('n1', { labels: { a: '1' } }));
        const power = { driver: 'ipmitool', params: { host: 'bmc1', user: 'u', password: 'p' } };
        const next = await store.nodes.update(spec('n1', { driver: 'cmd', params: { cmd: 'other' }, labels: {}, power }));
        assert.equal(next.createdAt, first.createdAt);
        assert.deepEqual(next.params, { cmd: 'other' });
        assert.deepEqual(next.power, power);
        assert.equal((await store.nodes.update(spec('n1'))).power, null);
        assert.deepEqual(next.labels, {});
        await assert.rejects(store.nodes.update(spec('ghost')), { code: 'NODE_NOT_FOUND' });
      } finally {
        await store.close();
      }
    });

    test('a console port belongs to one node at a time', async () => {
      const store = await factory.open();
      try {
        await store.nodes.create(spec('n1', { consolePort: 7901 }));
        assert.equal((await store.nodes.get('n1'))?.consolePort, 7901);
        await assert.rejects(store.nodes.create(spec('n2', { consolePort: 7901 })), { code: 'CONSOLE_PORT_TAKEN', message: /7901.*n1/ });
        await store.nodes.create(spec('n2'));
        await assert.rejects(store.nodes.update(spec('n2', { consolePort: 7901 })), { code: 'CONSOLE_PORT_TAKEN' });
        await store.nodes.update(spec('n1'));
        assert.equal((await store.nodes.update(spec('n2', { consolePort: 7901 }))).consolePort, 7901);
      } finally {
        await store.close();
      }
    });

    test("a node's own watch patterns are stored in order, replaced with the node, and survive a reopen", async () => {
      const store = await factory.open();
      try {
        const patterns = [{ name: 'disk', regex: 'I/O error' }, { name: 'mce', regex: 'machine check', flags: 'i', webhook: 'https://hooks.example/x' }];
        assert.deepEqual((await store.nodes.create(spec('n1', { watchPatterns: patterns }))).watchPatterns, patterns);
        assert.deepEqual((await store.nodes.get('n1'))?.watchPatterns, patterns);
        assert.deepEqual((await store.nodes.update(spec('n1', { watchPatterns: [patterns[1]] }))).watchPatterns, [patterns[1]]);
        await store.close();
        const reopened = await factory.reopen(store);
        try {
          assert.deepEqual((await reopened.nodes.get('n1'))?.watchPatterns, [patterns[1]]);
          assert.deepEqual((await reopened.nodes.update(spec('n1'))).watchPatterns, []);
        } finally {
          await reopened.close();
        }
      } finally {
        await store.close();
      }
    });

    test('a graphical console (VNC) is stored with its password, and can be removed', async () => {
      const store = await factory.open();
      try {
        const vnc = { host: 'kvm1.example', port: 5901, password: 's3cret' };
        assert.deepEqual((await store.nodes.create(spec('n1', { vnc }))).vnc, vnc);
        assert.deepEqual((await store.nodes.get('n1'))?.vnc, vnc);
        const noPassword = { host: 'kvm2', port: 5900 };
        assert.deepEqual((await store.nodes.update(spec('n1', { vnc: noPassword }))).vnc, noPassword);
        await store.close();
        const reopened = await factory.reopen(store);
        try {
          assert.deepEqual((await reopened.nodes.get('n1'))?.vnc, noPassword);
          assert.equal((await reopened.nodes.update(spec('n1'))).vnc, null);
          assert.equal((await reopened.nodes.get('n1'))?.vnc, null);
        } finally {
          await reopened.close();
        }
      } finally {
        await store.close();
      }
    });

    test('delete reports whether there was a node', async () => {
      const store = await factory.open();
      try {
        await store.nodes.create(spec('n1'));
        assert.equal(await store.nodes.delete('n1'), true);
        assert.equal(await store.nodes.delete('n1'), false);
        assert.deepEqual(await store.nodes.list(), []);
      } finally {
        await store.close();
      }
    });

    test('host keys: the first fingerprint seen is kept; a different one does not replace it', async () => {
      const store = await factory.open();
      try {
        assert.equal(await store.hostKeys.get('bmc1:22'), undefined);
        assert.equal(await store.hostKeys.remember('bmc1:22', 'SHA256:first'), 'SHA256:first');
        assert.equal(await store.hostKeys.remember('bmc1:22', 'SHA256:second'), 'SHA256:first');
        assert.equal(await store.hostKeys.get('bmc1:22'), 'SHA256:first');
        assert.equal(await store.hostKeys.get('bmc1:2222'), undefined);
        assert.equal(await store.hostKeys.forget('bmc1:22'), true);
        assert.equal(await store.hostKeys.forget('bmc1:22'), false);
        assert.equal(await store.hostKeys.remember('bmc1:22', 'SHA256:second'), 'SHA256:second');
      } finally {
        await store.close();
      }
    });

    test('nodes survive closing and reopening, and migrations do not run twice', async () => {
      const store = await factory.open();
      await store.nodes.create(spec('keep-me', { labels: { role: 'db' } }));
      const version = await store.schemaVersion();
      assert.ok(version >= 1);
      await store.close();
      const again = await factory.reopen(store);
      try {
        assert.equal(await again.schemaVersion(), version);
        assert.deepEqual((await again.nodes.get('keep-me'))?.labels, { role: 'db' });
      } finally {
        await again.close();
      }
    });

    test('tokens: found by hash only, listed per node, renewed, deleted per node and when expired', async () => {
      const store = await factory.open();
      try {
        await store.tokens.create(token('t1', 'n1', { rights: ['console:rw', 'power'], note: 'tenant' }), 'hash-1');
        await store.tokens.create(token('t2', 'n1', { kind: 'obmd', expiresAt: null, ttlMs: null }), 'hash-2');
        await store.tokens.create(token('t3', 'n2', { expiresAt: '2026-01-01T00:30:00.000Z' }), 'hash-3');
        await assert.rejects(store.tokens.create(token('t4', 'n1'), 'hash-1'), 'a hash is unique');
        assert.deepEqual(await store.tokens.byHash('hash-1'), token('t1', 'n1', { rights: ['console:rw', 'power'], note: 'tenant' }));
        assert.equal(await store.tokens.byHash('t1'), undefined);
        assert.deepEqual((await store.tokens.list('n1')).map((t) => t.id), ['t1', 't2']);
        assert.equal((await store.tokens.list()).length, 3);
        assert.equal(await store.tokens.setExpiry('t1', '2026-01-01T05:00:00.000Z'), true);
        assert.equal((await store.tokens.get('t1'))?.expiresAt, '2026-01-01T05:00:00.000Z');
        assert.equal(await store.tokens.deleteExpired('2026-01-01T00:45:00.000Z'), 1, 'only t3 had expired; t2 never expires');
        assert.deepEqual((await store.tokens.deleteForNode('n1', 'obmd')).map((t) => t.id), ['t2']);
        assert.deepEqual((await store.tokens.deleteForNode('n1')).map((t) => t.id), ['t1']);
        assert.equal(await store.tokens.delete('t1'), false);
        assert.deepEqual(await store.tokens.list(), []);
      } finally {
        await store.close();
      }
    });

    test('fleet messages: listed newest first by node and state; a final state stays final', async () => {
      const store = await factory.open();
      const at = (s: number) => `2026-01-01T00:00:0${s}.000Z`;
      const msg = (id: string, node: string, index: number, submitted: number): FleetMessageRecord => ({
        id, node, method: 'cliCommand', index, state: 'queued', submittedAt: at(submitted), updatedAt: at(submitted), reply: null, error: null,
        replyMethod: 'fileAppend', replyDirectory: 'logs', replyFileName: `${id}.log`, replyFile: null, replyFileError: null, held: false,
      });
      // One change on its own: the record after it, or as it is when it did not apply (final already; undefined if unknown).
      const update = async (id: string, change: FleetStateChange) => {
        const [{ before, after }] = await store.fleet.updateMany([{ id, ...change }], () => true);
        return after ?? before;
      };
      try {
        await store.fleet.insertMany([msg('m1', 'n1', 0, 1), msg('m2', 'n1', 1, 1), msg('m3', 'n2', 0, 2)]);
        assert.deepEqual((await store.fleet.list({ limit: 10 })).map((m) => m.id), ['m3', 'm2', 'm1']);
        assert.deepEqual((await store.fleet.list({ node: 'n1', limit: 1 })).map((m) => m.id), ['m2']);
        assert.equal((await update('m1', { state: 'running', at: at(3) }))?.state, 'running');
        const replied = await update('m1', { state: 'replied', reply: { exitCode: 3, stdout: 'out\n' }, at: at(4) });
        assert.deepEqual([replied?.state, replied?.reply, replied?.updatedAt], ['replied', { exitCode: 3, stdout: 'out\n' }, at(4)]);
        const late = await update('m1', { state: 'failed', error: 'REFUSED_REPLAYED: ...', at: at(5) });
        assert.deepEqual([late?.state, late?.error, late?.updatedAt], ['replied', null, at(4)], 'a late reply changes nothing');
        assert.deepEqual((await store.fleet.list({ state: 'queued', limit: 10 })).map((m) => m.id), ['m3', 'm2']);
        assert.deepEqual(await store.fleet.countByState(), { queued: 2, replied: 1 });
        assert.equal(await update('nope', { state: 'failed', at: at(5) }), undefined);
        assert.equal(await store.fleet.get('nope'), undefined);
        const m2 = await store.fleet.get('m2');
        assert.deepEqual([m2?.replyMethod, m2?.replyDirectory, m2?.replyFileName, m2?.replyFile], ['fileAppend', 'logs', 'm2.log', null]);
        assert.equal((await store.fleet.setReplyFile('m1', { file: '/data/fleet/n1/logs/m1.log' }))?.replyFile, '/data/fleet/n1/logs/m1.log');
        const failed = await store.fleet.setReplyFile('m2', { error: 'EACCES' });
        assert.deepEqual([failed?.replyFile, failed?.replyFileError], [null, 'EACCES']);
        assert.equal(await store.fleet.setReplyFile('nope', { error: 'x' }), undefined);
      } finally {
        await store.close();
      }
    });

    test('fleet messages: a group of state changes is applied in order, each only where its check says so', async () => {
      const store = await factory.open();
      const at = (s: number) => `2026-01-01T00:00:0${s}.000Z`;
      const msg = (id: string, node: string): FleetMessageRecord => ({
        id, node, method: 'cliCommand', index: 0, state: 'queued', submittedAt: at(1), updatedAt: at(1), reply: null, error: null,
        replyMethod: 'console', replyDirectory: '', replyFileName: null, replyFile: null, replyFileError: null, held: false,
      });
      try {
        await store.fleet.insertMany([msg('a', 'n1'), msg('b', 'n1'), msg('c', 'n2')]);
        const results = await store.fleet.updateMany([
          { id: 'a', state: 'running', at: at(2), from: 'n1' },
          { id: 'a', state: 'replied', reply: { exitCode: 0 }, at: at(3), from: 'n1' }, // sees the running before it
          { id: 'c', state: 'replied', at: at(3), from: 'n1' }, // not its node: refused by the check
          { id: 'nope', state: 'replied', at: at(3), from: 'n1' },
          { id: 'a', state: 'failed', error: 'late', at: at(4), from: 'n1' }, // final stays final
          { id: 'b', state: 'failed', error: 'E: x', at: at(4) },
        ], (before, change) => change.from === undefined || before.node === change.from);
        assert.deepEqual(results.map((r) => [r.before?.state, r.after?.state]), [
          ['queued', 'running'], ['running', 'replied'], ['queued', undefined], [undefined, undefined], ['replied', 'replied'], ['queued', 'failed'],
        ]);
        const a = await store.fleet.get('a');
        assert.deepEqual([a?.state, a?.reply, a?.error, a?.updatedAt], ['replied', { exitCode: 0 }, null, at(3)]);
        // What a change returns as `after` is the record as stored, field for field.
        assert.deepEqual(results[1].after, a);
        assert.deepEqual(results[5].after, await store.fleet.get('b'));
        assert.equal((await store.fleet.get('c'))?.state, 'queued');
        assert.equal((await store.fleet.get('b'))?.error, 'E: x');
      } finally {
        await store.close();
      }
    });

    test('fleet messages: an envelope out is a published message not final yet; held ones stay held, in the order submitted, until published', async () => {
      const store = await factory.open();
      const at = (s: number) => `2026-01-01T00:00:0${s}.000Z`;
      const msg = (id: string, method: string, submitted: number, held = false) => ({
        id, node: 'n1', method, index: 0, state: 'queued' as const, submittedAt: at(submitted), updatedAt: at(submitted), reply: null, error: null,
        replyMethod: 'console', replyDirectory: '', replyFileName: null, replyFile: null, replyFileError: null,
        held, ...(held && { body: JSON.stringify({ id, method }) }),
      });
      const cli = ['cliCommand'];
      try {
        await store.fleet.insertMany([msg('out', 'cliCommand', 1), msg('h2', 'cliCommand', 2, true), msg('hello', 'hello', 2, true)]);
        await store.fleet.insertMany([msg('h3', 'cliCommand', 3, true), msg('old', 'cliCommand', 1, true)]);
        assert.equal(await store.fleet.hasOutstanding('n1', cli), false, 'not published yet');
        await store.fleet.setSeq([{ ids: ['out'], seq: 7 }]);
        assert.equal(await store.fleet.hasOutstanding('n1', cli), true);
        assert.equal(await store.fleet.hasOutstanding('n1', ['hello']), false, 'another lane');
        assert.equal(await store.fleet.hasOutstanding('n2', cli), false, 'another node');
        assert.equal((await store.fleet.get('h2'))?.held, true);
        assert.deepEqual(await store.fleet.heldLanes(), [{ node: 'n1', method: 'cliCommand' }, { node: 'n1', method: 'hello' }]);

        await store.fleet.updateMany([{ id: 'out', state: 'replied', at: at(4) }], () => true);
        assert.equal(await store.fleet.hasOutstanding('n1', cli), false, 'its envelope is done');
        // Submitted before notBefore: left for the sweep to expire.
        const held = [
          { id: 'h2', method: 'cliCommand', submittedAt: at(2), body: JSON.stringify({ id: 'h2', method: 'cliCommand' }) },
          { id: 'h3', method: 'cliCommand', submittedAt: at(3), body: JSON.stringify({ id: 'h3', method: 'cliCommand' }) },
        ];
        assert.deepEqual(await store.fleet.heldMessages('n1', cli, at(2)), held);
        // Looked at, not published yet (a daemon that stops here): still held, found again.
        assert.deepEqual(await store.fleet.heldMessages('n1', cli, at(2)), held, 'held until published');
        assert.equal((await store.fleet.get('h2'))?.held, true);
        await store.fleet.setSeq([{ ids: ['h2', 'h3'], seq: 8 }]);
        assert.deepEqual(await store.fleet.heldMessages('n1', cli, at(2)), [], 'published: held no more');
        assert.equal((await store.fleet.get('h2'))?.held, false);
        assert.equal(await store.fleet.hasOutstanding('n1', cli), true, 'their envelope is out');
        assert.equal((await store.fleet.get('old'))?.held, true);
        await store.fleet.updateMany([{ id: 'old', state: 'expired', at: at(5) }], () => true);
        assert.deepEqual(await store.fleet.heldMessages('n1', cli, at(0)), [], 'a final one is never published');
        assert.deepEqual(await store.fleet.heldLanes(), [{ node: 'n1', method: 'hello' }]);

        // One envelope of messages submitted apart: found by its sequence, all of it, in order.
        assert.deepEqual((await store.fleet.bySeq(8)).map((m) => m.id), ['h2', 'h3']);
      } finally {
        await store.close();
      }
    });
  });
}
