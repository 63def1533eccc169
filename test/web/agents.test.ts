// The overview in a real Chromium with the fleet side on (a real nats-server, a real agent): each
// node's row says when its agent was last heard, and a new hello shows without a reload.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, newPage, screenshot, waitForCount, waitForText } from '../support/browser.js';
import { runCli } from '../support/cli.js';
import { api, catNode, startDaemon, TOKEN, type DaemonHandle } from '../support/daemon.js';
import { fleetPrefix, natsUrl, startAgent } from '../support/nats.js';

const prefix = fleetPrefix('webagents');
let d: DaemonHandle;
let browser: Browser;

before(async () => {
  [d, browser] = await Promise.all([startDaemon({ env: { SWITCHBOARD_NATS_URL: await natsUrl(), SWITCHBOARD_FLEET_PREFIX: prefix } }), launchBrowser()]);
  const res = await api(d, 'POST', '/api/v1/bulk/nodes', { nodes: [catNode('ship1', { ondemand: true }), catNode('ship2', { ondemand: true })] });
  assert.equal(res.body.failed, 0, res.text);
  const key = (await runCli(d, ['fleet', 'signer'])).stdout.trim();
  // Its next hello on its own is an hour away: a new one in the test comes from a hello message.
  await startAgent({ node: 'ship1', prefix, allowSigner: key, args: ['--hello-interval', '3600'] });
  await d.waitForLog((l) => l.msg === 'fleet agent hello' && l.node === 'ship1', 'the first hello of ship1');
});
after(() => browser?.close());

const seen = (page: Page) => page.getAttribute('tr[data-name=ship1] .agent time', 'datetime');

describe('web console: fleet agents in the overview', () => {
  test("a node's row shows when its agent was last heard; a new hello shows without a reload", async () => {
    const page = await newPage(browser);
    await page.goto(`${d.url}/#token=${TOKEN}`);
    await waitForCount(page, 'table.nodes tbody tr', 2);
    await waitForText(page, 'tr[data-name=ship1] .agent', /^\d+s ago$/);
    assert.equal(await page.textContent('tr[data-name=ship2] .agent'), '—');
    assert.match(await page.getAttribute('tr[data-name=ship1] .agent time', 'title') ?? '', /^agent \d+\.\d+\.\d+, last hello \d{4}-\d\d-\d\dT/);
    const first = await seen(page);

    const { body: [{ id }] } = await api(d, 'POST', '/api/v1/fleet/messages', [{ toNode: 'ship1', method: 'hello' }]);
    assert.equal((await api(d, 'GET', `/api/v1/fleet/messages/${id}?wait=20`)).body.state, 'replied');
    const { body: view } = await api(d, 'GET', '/api/v1/nodes/ship1');
    assert.notEqual(view.agent.lastSeen, first);
    // The page learns of it from the live event stream.
    await page.waitForFunction(([at]) => (globalThis as any).document.querySelector('tr[data-name=ship1] .agent time')?.getAttribute('datetime') === at, [view.agent.lastSeen], { timeout: 15_000 });
    await screenshot(page, 'overview-agents');
    await page.context().close();
  });

  test('the age grows between hellos', async () => {
    const page = await newPage(browser);
    await page.clock.install();
    await page.goto(`${d.url}/#token=${TOKEN}`);
    await waitForText(page, 'tr[data-name=ship1] .agent', /^\d+s ago$/);
    await page.clock.runFor(90_000);
    await waitForText(page, 'tr[data-name=ship1] .agent', /^1m ago$/);
    await page.context().close();
  });
});
