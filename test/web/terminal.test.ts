// The web terminal in a real Chromium, on a node running a real shell, shared with a WebSocket
// client as `switchboard console` would be; and a console link that expires.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, newPage, screenshot, waitForScreen, waitForText } from '../support/browser.js';
import { WsConsole } from '../support/console-clients.js';
import { api, startDaemon, TOKEN, type DaemonHandle } from '../support/daemon.js';

let d: DaemonHandle;
let browser: Browser;
before(async () => {
  // Links live at most 5 s, renewals included: the link test sees one renewal, then the end.
  [d, browser] = await Promise.all([startDaemon({ env: { SWITCHBOARD_TOKEN_MAX_TTL: '5s' } }), launchBrowser()]);
  const res = await api(d, 'POST', '/api/v1/nodes', {
    name: 'sh1', driver: 'cmd', params: { cmd: '/bin/bash --noprofile --norc', env: { PS1: 'sb$ ', TERM: 'xterm-256color' } }, labels: { role: 'shell' },
  });
  assert.equal(res.status, 201, res.text);
});
after(() => browser?.close());

/** Logged in (form), on the overview, then into sh1's terminal by its link. */
async function openTerminal(): Promise<Page> {
  const page = await newPage(browser);
  await page.goto(`${d.url}/`);
  await page.fill('#token', TOKEN);
  await page.click('form button[type=submit]');
  await page.click('tr[data-name=sh1] .name a');
  await waitForText(page, '.mode-badge', /read-write/);
  await waitForText(page, '.status-line', /attached/);
  return page;
}

async function typeLine(page: Page, text: string): Promise<void> {
  await page.click('.terminal');
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}

describe('web terminal', () => {
  let page: Page;
  let cli: WsConsole;
  before(async () => {
    page = await openTerminal();
    cli = await WsConsole.open(d, 'sh1');
    await waitForScreen(page, /attached rw/);
  });
  after(() => {
    cli?.close();
    return page?.context().close();
  });

  test('what the page types runs in the shell, and both the page and a CLI client see it', async () => {
    await typeLine(page, 'echo hello-$RANDOM');
    const [, n] = await waitForScreen(page, /^hello-(\d+)$/m);
    // bash ends its bracketed-paste mode with `\x1b[?2004l\r` before the output: match from the \r.
    await cli.waitFor(new RegExp(`\\rhello-${n}\\r\\n`));
    await screenshot(page, 'terminal');
  });

  test('what the CLI client types shows in the page', async () => {
    cli.type('echo from-cli-$((6*7))\r');
    await waitForScreen(page, /^from-cli-42$/m);
  });

  test('who is attached: a notice in the status line and in the terminal', async () => {
    await page.click('button.who');
    await waitForText(page, '.status-line', /who is attached to sh1:.*rw.*rw/);
    await waitForScreen(page, /\[who is attached to sh1:/);
  });

  test('read-only (spy) mode cannot type; back to read-write it can', async () => {
    // click, not check: the box shows the mode the daemon confirms, so it only flips once the answer is in.
    await page.click('.spy-toggle');
    await waitForText(page, '.mode-badge', /read-only/);
    await typeLine(page, 'echo spy-typed');
    await waitForText(page, '.status-line', /read-only \(spy\): input dropped/);
    await screenshot(page, 'terminal-read-only');
    // The daemon answered the spy's input after dropping it; whatever the CLI types now comes after.
    cli.type('echo after-spy\r');
    await cli.waitFor(/\rafter-spy\r\n/);
    assert.ok(!cli.output.includes('spy-typed'), 'the spy\'s input reached the console');
    await page.click('.spy-toggle');
    await waitForText(page, '.mode-badge', /read-write/);
    await typeLine(page, 'echo rw-again-$((1+1))');
    await cli.waitFor('rw-again-2');
  });

  test('Ctrl-C from the special keys menu interrupts a running sleep', async () => {
    await typeLine(page, 'sleep 1000');
    await cli.waitFor('sleep 1000\r\n');
    await page.click('.special-keys summary');
    await screenshot(page, 'terminal-special-keys');
    await page.click('.special-keys button:text-is("Ctrl-C")');
    // Only a shell that is back at its prompt runs this; under a sleep it would just sit in the tty.
    await typeLine(page, 'echo back-$((40+2))');
    await waitForScreen(page, /^back-42$/m);
    await cli.waitFor('\rback-42\r\n');
  });

  test('the window resizes the console', async () => {
    await page.setViewportSize({ width: 900, height: 500 });
    await page.waitForFunction(() => (globalThis as any).__sbTerm.cols < 120);
    const { cols, rows } = await page.evaluate(() => ({ cols: (globalThis as any).__sbTerm.cols as number, rows: (globalThis as any).__sbTerm.rows as number }));
    // Typed from the page: on the same socket, after the resize it sent.
    await typeLine(page, 'stty size');
    await cli.waitFor(new RegExp(`\\r${rows} ${cols}\\r\\n`));
  });
});

describe('console links', () => {
  test('a link opens straight into the terminal, shows its expiry, renews itself up to the limit, then says it expired', async () => {
    const link = await api(d, 'POST', '/api/v1/nodes/sh1/console-link', { ttl: '3s' });
    assert.equal(link.status, 201, link.text);
    const page = await newPage(browser);
    await page.goto(link.body.url);
    await waitForText(page, '.link-status', /link expires in [0-3]s/);
    assert.equal(new URL(page.url()).hash, '', 'the token stayed in the address bar');
    assert.equal(await page.isHidden('.back'), true, 'a link cannot list nodes: no way back to the overview');
    await waitForScreen(page, /attached read-write/);
    await screenshot(page, 'console-link');
    // The daemon warns ahead of expiry; the page renews (to the 5 s policy limit), then it ends.
    await waitForText(page, '.link-status', /renewed|cannot be renewed further/);
    await waitForText(page, '.overlay-title', /This console link has expired/);
    await waitForText(page, '.link-status', /link expired/);
    await screenshot(page, 'console-link-expired');
    // Reloading the page now: the token is refused, and the page says the link is over.
    await page.reload();
    await waitForText(page, '.login-message', /console link has expired or was revoked/);
    assert.ok(!d.rawOutput.some((l) => l.includes(link.body.token)), 'a link token reached the daemon log');
    await page.context().close();
  });
});
