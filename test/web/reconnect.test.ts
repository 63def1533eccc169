// The web terminal outlives its daemon: a restart under an open page is a lost connection the page
// mends by itself; a close that another attempt cannot mend (node deleted, token revoked) is final.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, newPage, screenshot, screenText, waitForScreen, waitForText } from '../support/browser.js';
import { WsConsole } from '../support/console-clients.js';
import { api, catNode, startDaemon, tempDir, TOKEN, type DaemonHandle } from '../support/daemon.js';

const dataDir = tempDir('web-restart');
let d: DaemonHandle;
let browser: Browser;
before(async () => {
  [d, browser] = await Promise.all([startDaemon({ dataDir }), launchBrowser()]);
  const res = await api(d, 'POST', '/api/v1/bulk/nodes', { nodes: [catNode('cat1'), catNode('doomed1'), catNode('linked1')] });
  assert.equal(res.body.failed, 0, res.text);
});
after(async () => {
  await browser?.close();
  await d?.stop();
});

/** A terminal page that counts the console WebSockets it opens. */
async function openTerminal(url: string, opts: { clock?: boolean } = {}): Promise<{ page: Page; sockets: () => number }> {
  const page = await newPage(browser);
  let sockets = 0;
  page.on('websocket', () => sockets++);
  // A clock the test can run forward: the page's retry timers fire as if minutes had passed.
  if (opts.clock) await page.clock.install();
  await page.goto(url);
  await waitForScreen(page, /attached read-write/);
  return { page, sockets: () => sockets };
}

async function typeLine(page: Page, text: string): Promise<void> {
  await page.click('.terminal');
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}

test('the daemon restarts under an open terminal: the page says the connection is lost, then attaches again by itself', async () => {
  const { page, sockets } = await openTerminal(`${d.url}/console/cat1#token=${TOKEN}`);
  await typeLine(page, 'before-restart');
  await waitForScreen(page, /before-restart\n.*before-restart/);

  const listen = d.listen;
  assert.deepEqual(await d.stop(), { code: 0, signal: null });
  try {
    await waitForText(page, '.overlay-title', /Connection lost/);
    await waitForText(page, '.status-line', /reconnecting in \d+ s/);
    assert.match(await page.textContent('.overlay-detail') ?? '', /daemon stopping|connection lost|cannot reach the daemon/);
    assert.equal(await page.textContent('.mode-badge'), 'not attached');
    await waitForScreen(page, /\[daemon stopping/);
    // A retry that fails while the daemon is away leaves the screen as it was.
    await waitForText(page, '.status-line', /cannot reach the daemon; reconnecting in 2 s/);
    assert.match(await screenText(page), /before-restart[\s\S]*\[daemon stopping/);
    await screenshot(page, 'terminal-connection-lost');
  } finally {
    d = await startDaemon({ dataDir, listen }); // back for the tests after this one, also if it failed
  }
  await waitForText(page, '.mode-badge', /^read-write$/, 30_000);
  assert.equal(await page.isHidden('.overlay'), true, 'the overlay stayed up after attaching again');
  assert.ok(sockets() >= 2, 'the page never opened a second connection');
  // The new connection works both ways.
  const cli = await WsConsole.open(d, 'cat1');
  await typeLine(page, 'after-restart');
  await cli.waitFor('after-restart\r\n');
  cli.type('from-cli\r');
  await waitForScreen(page, /^from-cli$/m);
  cli.close();
  await screenshot(page, 'terminal-reconnected');
  await page.context().close();
});

test('the node is deleted under the page: it says so and does not try again', async () => {
  const { page, sockets } = await openTerminal(`${d.url}/console/doomed1#token=${TOKEN}`, { clock: true });
  assert.equal((await api(d, 'DELETE', '/api/v1/nodes/doomed1')).status, 204);
  await waitForText(page, '.overlay-detail', /node deleted/);
  await waitForText(page, '.status-line', /disconnected: node deleted/);
  assert.equal(await page.isHidden('.overlay .reconnect'), true, 'a deleted node offers a reconnect');
  const opened = sockets();
  // Longer than the page's longest retry pause, several times over.
  await page.clock.runFor(120_000);
  assert.equal(sockets(), opened, 'the page tried to attach to a deleted node again');
  await screenshot(page, 'terminal-node-deleted');
  await page.context().close();
});

test('a console link revoked under the page: it says so and does not try again', async () => {
  const link = await api(d, 'POST', '/api/v1/nodes/linked1/console-link', { ttl: '1h' });
  assert.equal(link.status, 201, link.text);
  const { page, sockets } = await openTerminal(link.body.url, { clock: true });
  assert.equal((await api(d, 'DELETE', `/api/v1/tokens/${link.body.id}`)).status, 204);
  await waitForText(page, '.overlay-title', /This console access was revoked/);
  assert.equal(await page.isHidden('.overlay .reconnect'), true, 'a revoked link offers a reconnect');
  const opened = sockets();
  await page.clock.runFor(120_000);
  assert.equal(sockets(), opened, 'the page tried to attach with a revoked token again');
  await page.context().close();
});
