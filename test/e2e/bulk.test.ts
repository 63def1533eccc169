// Bulk create and delete: one bad item never blocks the rest.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { api, startDaemon } from '../support/daemon.js';

test('bulk-create 200 nodes with 3 bad ones, then bulk-delete them', async () => {
  const d = await startDaemon();
  const nodes: unknown[] = Array.from({ length: 200 }, (_, i) => ({
    name: `bulk-${String(i).padStart(3, '0')}`, driver: 'cmd', params: { cmd: '/bin/cat' }, ondemand: true, labels: { batch: 'b1' },
  }));
  nodes[17] = { name: '../escape', driver: 'cmd', params: { cmd: '/bin/cat' } };
  nodes[99] = { name: 'bulk-099', driver: 'nosuch', params: {} };
  nodes[150] = { ...(nodes[149] as object) }; // duplicate of 149
  const res = await api(d, 'POST', '/api/v1/bulk/nodes', { nodes });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.body.created, 197);
  assert.equal(res.body.failed, 3);
  const failed = res.body.results.filter((r: { status: string }) => r.status === 'error');
  assert.deepEqual(failed.map((r: { index: number; error: string }) => [r.index, r.error]), [
    [17, 'BAD_NODE_NAME'], [99, 'UNKNOWN_DRIVER'], [150, 'NODE_EXISTS'],
  ]);
  assert.match(failed[1].message, /nosuch/);
  const list = await api(d, 'GET', '/api/v1/nodes?label=batch=b1');
  assert.equal(list.body.nodes.length, 197);

  const names = [...Array.from({ length: 200 }, (_, i) => `bulk-${String(i).padStart(3, '0')}`), 'never-was', '../x'];
  const del = await api(d, 'DELETE', '/api/v1/bulk/nodes', { names });
  assert.equal(del.status, 200, del.text);
  assert.equal(del.body.deleted, 197);
  const why = del.body.results.filter((r: { status: string }) => r.status === 'error').map((r: { name: string; error: string }) => [r.name, r.error]);
  assert.deepEqual(why, [
    ['bulk-017', 'NODE_NOT_FOUND'], ['bulk-099', 'NODE_NOT_FOUND'], ['bulk-150', 'NODE_NOT_FOUND'], ['never-was', 'NODE_NOT_FOUND'], ['../x', 'BAD_NODE_NAME'],
  ]);
  assert.equal((await api(d, 'GET', '/api/v1/nodes')).body.nodes.length, 0);
});

test('bulk bodies are validated as a whole: not a list, or too many items', async () => {
  const d = await startDaemon();
  const notList = await api(d, 'POST', '/api/v1/bulk/nodes', { nodes: { name: 'x' } });
  assert.equal(notList.status, 400);
  assert.equal(notList.body.error, 'VALIDATION');
  const tooMany = await api(d, 'DELETE', '/api/v1/bulk/nodes', { names: Array.from({ length: 10_001 }, (_, i) => `n${i}`) });
  assert.equal(tooMany.status, 400);
  assert.match(tooMany.body.message, /10000/);
});
