// The web terminal in a real Chromium, on a node running a real shell, shared with a WebSocket
// client as `switchboard console` would be; and a console link that expires.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, newPage, screenshot, waitForScreen, waitForText } from '../support/browser.js';
import { cliEnv, PtySession } from '../support/cli.js';
import { WsConsole } from '../support/console-clients.js';
import { api, BIN, catNode, startDaemon, TOKEN, waitForLogFile, type DaemonHandle } from '../support/daemon.js';

let d: DaemonHandle;
let browser: Browser;
before(async () => {
  // Links live at most 5 s, renewals included: the link test sees one renewal, then the end.
  [d, browser] = await Promise.all([startDaemon({ env: { SWITCHBOARD_TOKEN_MAX_TTL: '5s' } }), launchBrowser()]);
  const res = await api(d, 'POST', '/api/v1/nodes', {
    name: 'sh1', driver: 'cmd', params: { cmd: '/bin/bash --noprofile --norc', env: { PS1: 'sb$ ', TERM: 'xterm-256color' } }, labels: { role: 'shell' },
  });
  assert.equal(res.status, 201, res.text);
  assert.equal((await api(d, 'POST', '/api/v1/nodes', catNode('cat1'))).status, 201);
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
    // A click, not check(): the box keeps showing the current mode until the daemon confirms the switch.
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

/** Double-clicks the first word on screen matching `word`, as a person selecting it would. */
async function doubleClickWord(page: Page, word: RegExp): Promise<void> {
  const at = await page.evaluate(([source, flags]) => {
    const term = (globalThis as any).__sbTerm;
    const b = term.buffer.active;
    for (let row = 0; row < term.rows; row++) {
      const line: string = b.getLine(b.viewportY + row)?.translateToString(true) ?? '';
      const m = new RegExp(source, flags).exec(line);
      if (!m) continue;
      const screen = (globalThis as any).document.querySelector('.xterm-screen').getBoundingClientRect();
      const cellWidth = screen.width / term.cols;
      const cellHeight = screen.height / term.rows;
      return { x: screen.left + (m.index + 0.5) * cellWidth, y: screen.top + (row + 0.5) * cellHeight };
    }
    return undefined;
  }, [word.source, word.flags] as const);
  assert.ok(at, `${word} is not on the screen`);
  await page.mouse.dblclick(at.x, at.y);
}

describe('copy, paste, log, who', () => {
  let page: Page;
  let cli: WsConsole;
  before(async () => {
    page = await newPage(browser);
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: d.url });
    await page.goto(`${d.url}/console/cat1#token=${TOKEN}`);
    await waitForScreen(page, /attached read-write/);
    cli = await WsConsole.open(d, 'cat1');
    await waitForScreen(page, /attached rw/);
  });
  after(() => {
    cli?.close();
    return page?.context().close();
  });

  const clipboard = () => page.evaluate(() => (globalThis as any).navigator.clipboard.readText() as Promise<string>);

  test('a word selected with the mouse is copied to the clipboard by Copy, and by Ctrl-Shift-C', async () => {
    await typeLine(page, 'copy-me-4242');
    await cli.waitFor('copy-me-4242\r\ncopy-me-4242\r\n');
    await waitForScreen(page, /^copy-me-4242\ncopy-me-4242$/m);
    await doubleClickWord(page, /copy-me-4242/);
    assert.equal(await page.evaluate(() => (globalThis as any).__sbTerm.getSelection()), 'copy-me-4242');
    await page.click('button.copy');
    await waitForText(page, '.status-line', /copied 12 characters/);
    assert.equal(await clipboard(), 'copy-me-4242');

    await typeLine(page, 'shortcut-77');
    await waitForScreen(page, /^shortcut-77$/m);
    await doubleClickWord(page, /shortcut-77/);
    await page.keyboard.press('Control+Shift+KeyC');
    await waitForText(page, '.status-line', /copied 11 characters/);
    assert.equal(await clipboard(), 'shortcut-77');
    assert.ok(!cli.output.includes('\x03'), 'Ctrl-Shift-C reached the console as an interrupt');
  });

  test('Paste sends the clipboard to the console', async () => {
    await page.evaluate(() => (globalThis as any).navigator.clipboard.writeText('pasted-line-99\n'));
    await page.click('button.paste');
    // The pty echoes the line, cat prints it again: both the CLI client and the page see it twice.
    await cli.waitFor('pasted-line-99\r\npasted-line-99\r\n');
    await waitForScreen(page, /^pasted-line-99\npasted-line-99$/m);
  });

  test('Log downloads the node\'s console log with what the console printed', async () => {
    await typeLine(page, 'in-the-log-314');
    await waitForLogFile(d, 'cat1', 'in-the-log-314\r\n');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('button.download-log')]);
    assert.equal(download.suggestedFilename(), 'cat1.log');
    const text = await readFile(await download.path(), 'latin1');
    assert.match(text, /copy-me-4242\r\n/);
    assert.match(text, /pasted-line-99\r\n/);
    assert.match(text, /in-the-log-314\r\n/);
    await waitForText(page, '.status-line', /log of cat1 downloaded/);
  });

  test('Who lists the `switchboard console` CLI attached beside the page', async () => {
    const shell = new PtySession(process.execPath, [BIN, 'console', 'cat1', '--no-replay'], cliEnv(d));
    await shell.waitFor(/attached read-write/);
    await waitForScreen(page, /attached rw\]/);
    await page.click('button.who');
    // The page, the WebSocket client and the CLI: one line each after the heading.
    const who = await waitForText(page, '.status-line', /who is attached to cat1:( · .*){3}$/);
    assert.equal(who.split(' · ').length, 4, who);
    await waitForScreen(page, /\[who is attached to cat1:/);
    await screenshot(page, 'terminal-who');
    // The real CLI and the page share the console both ways.
    await typeLine(page, 'typed-in-the-page-$((2*21))');
    await shell.waitFor('typed-in-the-page-$((2*21))');
    shell.type('typed-in-the-cli\r');
    await waitForScreen(page, /^typed-in-the-cli$/m);
    shell.type('\x05c.');
    assert.equal(await shell.exit, 0);
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
