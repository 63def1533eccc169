// The graphical console page (noVNC) in a real Chromium, against a real Xvnc behind the daemon's
// VNC proxy: the canvas shows what the X server shows, Ctrl-Alt-Del reaches the X server as keys,
// a view-only page moves nothing, and a refused VNC password is explained on the page.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, newPage, screenshot, waitForText } from '../support/browser.js';
import { api, catNode, startDaemon, TOKEN, type DaemonHandle } from '../support/daemon.js';
import { exited, spawnTracked, stopProcess } from '../support/processes.js';
import { type InputEvent, KEYSYM, X11Client } from '../support/x11.js';
import { pointerPosition, startXvnc, xsetroot, type Xvnc } from '../support/xvnc.js';

const PASSWORD = 'secret12';
const RGB = { red: '255,0,0', blue: '0,0,255', green: '0,255,0' } as const;

let d: DaemonHandle;
let browser: Browser;
let xvnc: Xvnc;

before(async () => {
  [xvnc, d, browser] = await Promise.all([
    startXvnc({ password: PASSWORD, colour: 'red', geometry: '800x600' }),
    startDaemon(),
    launchBrowser(),
  ]);
  const vnc = { host: '127.0.0.1', port: xvnc.port };
  for (const node of [
    catNode('kvm', { vnc: { ...vnc, password: PASSWORD } }),
    catNode('kvm-wrong', { consoleEnabled: false, vnc: { ...vnc, password: 'wrong-pw' } }),
    catNode('serial-only'),
  ]) {
    const res = await api(d, 'POST', '/api/v1/nodes', node);
    assert.equal(res.status, 201, res.text);
  }
});
after(() => browser?.close());

async function logIn(): Promise<Page> {
  const page = await newPage(browser);
  // The colour at a point of noVNC's canvas (the remote screen's own pixels), as "R,G,B".
  await page.context().addInitScript(() => {
    (globalThis as any).__sbPixel = (at: { x: number; y: number }) => {
      const canvas = (globalThis as any).document.querySelector('.screen canvas');
      if (!canvas?.width) return 'no canvas';
      const data = canvas.getContext('2d').getImageData(Math.floor(canvas.width * at.x), Math.floor(canvas.height * at.y), 1, 1).data;
      return `${data[0]},${data[1]},${data[2]}`;
    };
  });
  await page.goto(`${d.url}/`);
  await page.fill('#token', TOKEN);
  await page.click('form button[type=submit]');
  await page.waitForSelector('tr[data-name=kvm]');
  return page;
}

const CENTRE = { x: 0.5, y: 0.5 };

function pixel(page: Page, at = CENTRE): Promise<string> {
  return page.evaluate((p) => (globalThis as any).__sbPixel(p) as string, at);
}

async function waitForColour(page: Page, rgb: string, at = CENTRE): Promise<void> {
  try {
    await page.waitForFunction(([want, p]) => (globalThis as any).__sbPixel(p) === want, [rgb, at] as const, { timeout: 15_000 });
  } catch (err) {
    throw new Error(`the canvas never showed ${rgb}; it shows ${await pixel(page, at)}\n${(err as Error).message}`);
  }
}

/** Click the canvas where the remote screen's point (x, y) is shown (the canvas is scaled to the window). */
async function clickRemote(page: Page, x: number, y: number): Promise<void> {
  const box = await page.locator('.screen canvas').boundingBox();
  assert.ok(box, 'no canvas on the page');
  const size = await page.evaluate(() => {
    const c = (globalThis as any).document.querySelector('.screen canvas');
    return { width: c.width as number, height: c.height as number };
  });
  await page.mouse.click(box.x + ((x + 0.5) * box.width) / size.width, box.y + ((y + 0.5) * box.height) / size.height);
}

describe('graphical console page (noVNC)', () => {
  let page: Page;
  before(async () => {
    page = await logIn();
  });
  after(() => page?.context().close());

  test('the overview and the terminal link a node with VNC to its screen; the page connects', async () => {
    assert.equal(await page.locator('tr[data-name=kvm] .screen-link').getAttribute('href'), '/vnc/kvm');
    assert.equal(await page.locator('tr[data-name=serial-only] .screen-link').count(), 0, 'a node without VNC has no screen link');
    await page.click('tr[data-name=kvm] .name a:text-is("kvm")');
    await waitForText(page, '.status-line', /attached/);
    await page.click('.to-screen');
    assert.equal(new URL(page.url()).pathname, '/vnc/kvm');
    await waitForText(page, '.status-line', /^connected$/);
    await waitForText(page, '.mode-badge', /read-write/);
  });

  test('the canvas shows the X server\'s screen and follows it', async () => {
    await waitForColour(page, RGB.red);
    await xsetroot(xvnc, 'blue');
    await waitForColour(page, RGB.blue);
    // A window in the middle, for a screenshot that shows more than a colour.
    const note = spawnTracked('xmessage', ['-center', '-buttons', 'OK', 'Switchboard: this X server\'s screen, through the daemon, in noVNC.'],
      { env: { ...process.env, DISPLAY: `:${xvnc.display}` } });
    await page.waitForFunction((blue) => (globalThis as any).__sbPixel({ x: 0.5, y: 0.5 }) !== blue, RGB.blue, { timeout: 15_000 });
    await screenshot(page, 'vnc');
    await stopProcess(note);
    await waitForColour(page, RGB.blue);
  });

  test('Ctrl-Alt-Del reaches the X server as Control_L, Alt_L, Delete; the connection stays up', async () => {
    const x = await X11Client.connect(xvnc.display);
    try {
      await x.watchInput();
      await page.click('.ctrl-alt-del');
      await waitForText(page, '.status-line', /Ctrl-Alt-Del sent/);
      const keys = await x.waitForEvents('three keys pressed and released', (events) => {
        const k = events.filter((e) => e.kind.startsWith('key-'));
        return k.length >= 6 && k;
      });
      const pressed = await Promise.all(keys.filter((k) => k.kind === 'key-press').map((k) => x.keysym(k.detail)));
      assert.deepEqual(pressed.map(hex), [KEYSYM.Control_L, KEYSYM.Alt_L, KEYSYM.Delete].map(hex));
      assert.equal(keys.filter((k) => k.kind === 'key-release').length, 3, 'every key is released again');
    } finally {
      x.close();
    }
    await xsetroot(xvnc, 'green');
    await waitForColour(page, RGB.green);
    assert.match(await page.textContent('.status-line') ?? '', /Ctrl-Alt-Del sent/, 'the connection stayed up');
  });

  test('a click reaches the X server; in view-only mode (a read-only connection) nothing does', async () => {
    const x = await X11Client.connect(xvnc.display);
    const pressAt = (px: number, py: number) => (events: InputEvent[]) =>
      events.find((e) => e.kind === 'button-press' && Math.abs(e.x - px) <= 1 && Math.abs(e.y - py) <= 1);
    try {
      await x.watchInput();
      await clickRemote(page, 100, 200);
      await x.waitForEvents('a button press at 100,200', pressAt(100, 200));

      await page.check('.view-only-toggle');
      await waitForText(page, '.status-line', /^connected, view only/);
      await waitForText(page, '.mode-badge', /view only/);
      await d.waitForLog((l) => l.msg === 'vnc attached' && l.node === 'kvm' && l.mode === 'ro', 'a read-only attachment');
      const seen = x.events.length;
      await clickRemote(page, 600, 400);
      await page.keyboard.type('typed-in-view-only');
      await screenshot(page, 'vnc-view-only');

      // Back to read-write: a click there is the first input the X server gets since the view-only one.
      await page.uncheck('.view-only-toggle');
      await waitForText(page, '.status-line', /^connected$/);
      await clickRemote(page, 300, 100);
      await x.waitForEvents('a button press at 300,100', pressAt(300, 100));
      const between = x.events.slice(seen);
      const first = between.find((e) => e.kind !== 'motion');
      assert.ok(first && pressAt(300, 100)([first]), `the view-only page's input reached the X server: ${JSON.stringify(between)}`);
      assert.ok(!between.some((e) => Math.abs(e.x - 600) <= 1 && Math.abs(e.y - 400) <= 1), `the pointer went to the view-only click: ${JSON.stringify(between)}`);
    } finally {
      x.close();
    }
  });

  test('clipboard: the server\'s shows on the page; the page\'s "Send to server" puts text on the server\'s', async () => {
    const owner = await ownClipboard('from-the-server ' + Date.now());
    try {
      await page.click('.clipboard summary');
      await page.waitForFunction((want) => (globalThis as any).document.querySelector('.clipboard-text').value === want, owner.text, { timeout: 15_000 });
    } finally {
      await stopProcess(owner.proc);
    }
    await page.fill('.clipboard-text', 'from-the-page ünïcode');
    await page.click('.clipboard-send');
    await waitForText(page, '.status-line', /put on the server's clipboard/);
    assert.equal(await readClipboard(), 'from-the-page ünïcode');
  });
});

/** Python's Tk as an X client that owns CLIPBOARD with `text` until stopped. */
async function ownClipboard(text: string): Promise<{ proc: ChildProcess; text: string }> {
  const proc = spawnTracked('python3', ['-c', TK_OWN, text], { env: { ...process.env, DISPLAY: `:${xvnc.display}` } });
  const [line] = await once(proc.stdout!, 'data') as [Buffer];
  assert.equal(line.toString().trim(), 'owned');
  return { proc, text };
}

/** What an X client gets for CLIPBOARD now. */
async function readClipboard(): Promise<string> {
  const proc = spawnTracked('python3', ['-c', TK_READ], { env: { ...process.env, DISPLAY: `:${xvnc.display}` } });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const status = await exited(proc);
  assert.equal(status.code, 0, err);
  return out;
}

const TK_OWN = 'import sys, tkinter\nr = tkinter.Tk()\nr.withdraw()\nr.clipboard_clear()\nr.clipboard_append(sys.argv[1])\nr.update()\nprint("owned", flush=True)\nr.mainloop()';
const TK_READ = 'import sys, tkinter\nr = tkinter.Tk()\nr.withdraw()\nsys.stdout.write(r.clipboard_get())';

describe('graphical console page: failures', () => {
  test('a VNC password the server refuses: the page shows the daemon\'s reason', async () => {
    const page = await logIn();
    await page.goto(`${d.url}/vnc/kvm-wrong`);
    const status = await waitForText(page, '.status-line', /^disconnected: /);
    assert.match(status, /VNC server 127\.0\.0\.1:\d+ refused the VNC password/);
    await waitForText(page, '.overlay-detail', /refused the VNC password/);
    assert.equal(await page.textContent('.overlay-title'), 'Cannot connect');
    assert.equal(await page.isVisible('.overlay .reconnect'), true);
    await screenshot(page, 'vnc-wrong-password');
    await page.context().close();
  });

  test('a node without VNC: the page says so', async () => {
    const page = await logIn();
    await page.goto(`${d.url}/vnc/serial-only`);
    await waitForText(page, '.status-line', /^disconnected: serial-only has no graphical console/);
    await page.context().close();
  });
});

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}
