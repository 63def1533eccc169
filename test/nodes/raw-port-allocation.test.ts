import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig, parsePortRange } from '../../src/daemon/config.js';
import { claimFirstFreePort } from '../../src/nodes/raw-port-allocation.js';

/** A claim that records what was tried and fails on the given ports (bound by another program). */
function claimer(failing: number[] = []) {
  const tried: number[] = [];
  const claim = async (port: number) => {
    tried.push(port);
    return !failing.includes(port);
  };
  return { tried, claim };
}

test('the first port of the range that no node holds is claimed', async () => {
  const { tried, claim } = claimer();
  assert.equal(await claimFirstFreePort({ first: 7900, last: 7999 }, new Set([7900, 7901, 7903]), claim), 7902);
  assert.deepEqual(tried, [7902], 'ports other nodes hold are not tried');
});

test('a port that cannot be claimed is skipped for the next one', async () => {
  const { tried, claim } = claimer([7900, 7902]);
  assert.equal(await claimFirstFreePort({ first: 7900, last: 7905 }, new Set([7901]), claim), 7903);
  assert.deepEqual(tried, [7900, 7902, 7903]);
});

test('an exhausted range gives no port after trying each free one once', async () => {
  const { tried, claim } = claimer([7901]);
  assert.equal(await claimFirstFreePort({ first: 7900, last: 7901 }, new Set([7900]), claim), undefined);
  assert.deepEqual(tried, [7901]);
  assert.equal(await claimFirstFreePort({ first: 7900, last: 7900 }, new Set([7900]), claim), undefined);
});

test('rawPortRange is FIRST-LAST within 1-65535, in order; the daemon refuses another', async () => {
  assert.deepEqual(parsePortRange('rawPortRange', '7900-7999'), { first: 7900, last: 7999 });
  assert.deepEqual(parsePortRange('rawPortRange', '7900-7900'), { first: 7900, last: 7900 });
  for (const bad of ['7999-7900', '0-10', '65000-65536', '7900', 'a-b']) {
    assert.throws(() => parsePortRange('rawPortRange', bad), { code: 'CONFIG', message: new RegExp(`rawPortRange: '${bad}'`) }, bad);
  }
  await assert.rejects(loadConfig({ rawPortRange: '7999-7900' }, {}), /rawPortRange: '7999-7900' is not a port range/);
});
