// The Store contract: every implementation runs these same tests (see sqlite.test.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { NodeSpec } from '../../src/model/node.js';
import type { Store } from '../../src/store/types.js';

export interface StoreFactory {
  /** A fresh, empty store. */
  open(): Promise<Store>;
  /** The same store again, as a restarted daemon would open it. */
  reopen(previous: Store): Promise<Store>;
}

const spec = (name: string, extra: Partial<NodeSpec> = {}): NodeSpec => ({
  name, driver: 'cmd', params: { cmd: ['/bin/cat'] }, ondemand: false, consoleEnabled: true, labels: {}, power: null, consolePort: null, ...extra,
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
  });
}
