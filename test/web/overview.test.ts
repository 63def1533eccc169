// The web console's fleet overview in a real Chromium: login, the node list, filters, bulk power.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, newPage, screenshot, waitForCount, waitForText } from '../support/browser.js';
import { WsConsole } from '../support/console-clients.js';
import { api, catNode, startDaemon, TOKEN, type DaemonHandle } from '../support/daemon.js';

let d: DaemonHandle;
let browser: Browser;
before(async () => {
  [d, browser] = await Promise.all([startDaemon(), launchBrowser()]);
  const nodes = [
    catNode('web1', { labels: { rack: 'r1', role: 'web' } }),
    catNode('web2', { labels: { rack: 'r1', role: 'web' } }),
    catNode('web10', { labels: { rack: 'r2', role: 'web' } }),
    catNode('db1', { labels: { rack: 'r2', role: 'db' }, power: { driver: 'ipmi', params: { host: '192.0.2.10', user: 'admin', password: 'secret' } } }),
    catNode('spare1', { ondemand: true, labels: { rack: 'r3' } }),
    catNode('retired1', { consoleEnabled: false }),
    { name: 'broken1', driver: 'cmd', params: { cmd: '/nonexistent/console' }, labels: { rack: 'r3' } },
  ];
  const res = await api(d, 'POST', '/api/v1/bulk/nodes', { nodes });
  assert.equal(res.body.failed, 0, res.text);
});
after(() => browser?.close());

/** Names in the table, in order. */
const shownNames = (page: Page) => page.locator('table.nodes tbody tr td.name').allTextContents();

async function waitForRows(page: Page, count: number): Promise<void> {
  await waitForCount(page, 'table.nodes tbody tr', count);
}

async function loggedIn(): Promise<Page> {
  const page = await newPage(browser);
  await page.goto(`${d.url}/`);
  await page.fill('#token', TOKEN);
  await page.click('form button[type=submit]');
  await waitForRows(page, 7);
  return page;
}

describe('web console: serving', () => {
  test('page paths are public and return the page; the API still wants a token; /healthz and /docs still answer', async () => {
    for (const path of ['/', '/console/web1']) {
      const res = await fetch(`${d.url}${path}`);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get('content-type') ?? '', /text\/html/);
      assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'/);
      assert.match(await res.text(), /<div id="app">/);
    }
    const page = await (await fetch(`${d.url}/`)).text();
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(page)?.[1];
    assert.ok(asset, page);
    const js = await fetch(`${d.url}${asset}`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('cache-control') ?? '', /immutable/);
    assert.equal((await fetch(`${d.url}/assets/nope.js`)).status, 404);
    assert.equal((await fetch(`${d.url}/api/v1/nodes`)).status, 401);
    assert.equal((await fetch(`${d.url}/healthz`)).status, 200);
    assert.equal((await fetch(`${d.url}/docs/`)).status, 200);
    assert.equal((await api(d, 'GET', '/api/v1/nodes')).status, 200);
  });
});

describe('web console: overview', () => {
  test('a wrong token gets the login form again, saying why', async () => {
    const page = await newPage(browser);
    await page.goto(`${d.url}/`);
    await screenshot(page, 'login');
    await page.fill('#token', 'not-the-token');
    await page.click('form button[type=submit]');
    await waitForText(page, '.login-message', /refused the token/);
    await page.context().close();
  });

  test('log in with the form: every node with its console state, clients, driver, power and labels', async () => {
    const page = await loggedIn();
    assert.deepEqual(await shownNames(page), ['broken1', 'db1', 'retired1', 'spare1', 'web1', 'web2', 'web10']);
    await waitForText(page, 'tr[data-name=web1] .console', /connected/);
    await waitForText(page, 'tr[data-name=broken1] .console', /error.*nonexistent/);
    await waitForText(page, 'tr[data-name=spare1] .console', /on demand/);
    await waitForText(page, 'tr[data-name=retired1] .console', /disabled/);
    assert.equal(await page.textContent('tr[data-name=db1] .power'), 'ipmi');
    assert.equal(await page.textContent('tr[data-name=web1] .labels'), 'rack=r1role=web');
    assert.equal(await page.getAttribute('tr[data-name=web1] .name a', 'href'), '/console/web1');
    await waitForText(page, '.feed-status', /updated every 2 s|live/);
    await screenshot(page, 'overview');

    // Live: a client attaching shows up without a reload.
    const ws = await (await import('../support/console-clients.js')).WsConsole.open(d, 'web2');
    await waitForText(page, 'tr[data-name=web2] .clients', /^1$/);
    ws.close();
    await waitForText(page, 'tr[data-name=web2] .clients', /^0$/);
    // And a node made elsewhere appears.
    assert.equal((await api(d, 'POST', '/api/v1/nodes', catNode('web3', { labels: { role: 'web' } }))).status, 201);
    await waitForRows(page, 8);
    assert.equal((await api(d, 'DELETE', '/api/v1/nodes/web3')).status, 204);
    await waitForRows(page, 7);
    await page.context().close();
  });

  test('filter by name and by label; the filter sits in the address', async () => {
    const page = await loggedIn();
    await page.fill('.filter-text', 'web');
    await waitForRows(page, 3);
    assert.deepEqual(await shownNames(page), ['web1', 'web2', 'web10']);
    await page.fill('.filter-labels', 'rack=r2');
    await waitForRows(page, 1);
    assert.deepEqual(await shownNames(page), ['web10']);
    assert.match(page.url(), /\?q=web&label=rack%3Dr2$/);
    await screenshot(page, 'overview-filtered');
    await page.fill('.filter-text', '');
    await waitForRows(page, 2);
    assert.deepEqual(await shownNames(page), ['db1', 'web10']);
    // Clicking a label adds it to the label filter.
    await page.fill('.filter-labels', '');
    await waitForRows(page, 7);
    await page.click('tr[data-name=web1] button.label[data-label="role=web"]');
    await waitForRows(page, 3);
    assert.equal(await page.inputValue('.filter-labels'), 'role=web');
    // A reload keeps the filter.
    await page.reload();
    await waitForRows(page, 3);
    await page.context().close();
  });

  test('bulk power on the selected nodes shows each node\'s result', async () => {
    const page = await loggedIn();
    await page.fill('.filter-text', 'web');
    await waitForRows(page, 3);
    await page.check('.select-all');
    await waitForText(page, '.selected-count', /^3 selected$/);
    await page.uncheck('tr[data-name=web10] input[type=checkbox]');
    await waitForText(page, '.selected-count', /^2 selected$/);
    await page.click('.bulk button[data-action=status]');
    await waitForText(page, '.bulk-results', /0 done, 2 failed/);
    const rows = await page.locator('.bulk-results tr').allTextContents();
    assert.deepEqual(rows.map((r) => r.replace(/:.*/, '')), ['web1POWER_NOT_CONFIGURED', 'web2POWER_NOT_CONFIGURED']);
    assert.match(rows[0], /has no power control configured/);
    await screenshot(page, 'overview-bulk-results');
    await page.context().close();
  });

  test('what a power status call learns shows in the row without a reload', async () => {
    const page = await loggedIn();
    await page.fill('.filter-text', 'db1');
    await waitForRows(page, 1);
    assert.equal(await page.textContent('tr[data-name=db1] .power'), 'ipmi', 'nothing known before anyone asked');
    // db1's BMC (192.0.2.10, a documentation address) never answers: its state becomes unknown, with why.
    assert.equal((await api(d, 'GET', '/api/v1/nodes/db1/power')).status >= 500, true);
    await waitForText(page, 'tr[data-name=db1] .power', /^ipmi unknown$/, 30_000);
    assert.match(await page.getAttribute('tr[data-name=db1] .power-state', 'title') ?? '', /db1/);
    await page.context().close();
  });

  test('a #token= fragment on / logs in at once and leaves the address bar', async () => {
    const page = await newPage(browser);
    await page.goto(`${d.url}/#token=${TOKEN}`);
    await waitForRows(page, 7);
    assert.equal(new URL(page.url()).hash, '');
    // The fragment never reached the server: no logged URL carries a token.
    assert.ok(!d.rawOutput.some((l) => l.includes(TOKEN)), 'a token reached the daemon log');
    await page.context().close();
  });

  test('a watch pattern that matches shows on the node\'s row without a reload, the line in its title', async () => {
    const page = await loggedIn();
    // A node of its own (removed at the end, so the other tests' counts hold), waiting for a line to print.
    const res = await api(d, 'POST', '/api/v1/nodes', {
      name: 'panicky', driver: 'cmd', params: { cmd: ['sh', '-c', 'read x; echo "Kernel panic - not syncing: $x"; exec cat'] },
      watchPatterns: [{ name: 'kernel-panic', regex: 'Kernel panic' }],
    });
    assert.equal(res.status, 201, res.text);
    try {
      await waitForRows(page, 8);
      await waitForText(page, 'tr[data-name=panicky] .console', /^connected$/);
      const ws = await WsConsole.open(d, 'panicky');
      // The attach's own update has reached the row: only the match can change it now.
      await waitForText(page, 'tr[data-name=panicky] .clients', /^1$/);
      ws.type('VFS unable to mount root\r');
      await waitForText(page, 'tr[data-name=panicky] .console', /kernel-panic ×1/);
      assert.match(await page.getAttribute('tr[data-name=panicky] .watch-hit', 'title') ?? '', /Kernel panic - not syncing: VFS unable to mount root/);
      await screenshot(page, 'overview-watch');
      ws.close();
    } finally {
      await api(d, 'DELETE', '/api/v1/nodes/panicky');
    }
    await page.context().close();
  });
});
