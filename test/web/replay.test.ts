// Opening a terminal page replays what the console printed before anyone looked, as every other
// client gets it; and a read-only link (?mode=ro) opens as a spy.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchBrowser, newPage, waitForScreen, waitForText } from '../support/browser.js';
import { WsConsole } from '../support/console-clients.js';
import { api, startDaemon, TOKEN, type DaemonHandle } from '../support/daemon.js';

let d: DaemonHandle;
let browser: Browser;
before(async () => {
  d = await startDaemon();
  browser = await launchBrowser();
});
after(() => browser?.close());

test('the page shows recent output on open; a read-only link cannot type', async () => {
  const res = await api(d, 'POST', '/api/v1/nodes', { name: 'early', driver: 'cmd', params: { cmd: ['/bin/sh', '-c', 'echo printed-before-anyone-looked-$((6*7)); exec cat'] } });
  assert.equal(res.status, 201, res.text);
  // A witness that attaches later sees it in its replay: the line is in the ring before the page opens.
  const witness = await WsConsole.open(d, 'early');
  await witness.waitFor('printed-before-anyone-looked-42');

  const page = await newPage(browser);
  await page.goto(`${d.url}/console/early#token=${TOKEN}`);
  await waitForScreen(page, /printed-before-anyone-looked-42/);

  const link = await api(d, 'POST', '/api/v1/nodes/early/console-link', { mode: 'ro', ttl: '10m' });
  const spy = await newPage(browser);
  await spy.goto(link.body.url);
  await waitForText(spy, '.mode-badge', /read-only/);
  await waitForScreen(spy, /printed-before-anyone-looked-42/);
  await spy.click('.terminal');
  await spy.keyboard.type('from-the-spy\n');
  await waitForText(spy, '.status-line', /read-only/);
  witness.type('from-the-witness\r');
  await waitForScreen(spy, /from-the-witness/);
  assert.ok(!witness.output.includes('from-the-spy'), 'a read-only link typed into the console');
  witness.close();
});
