// The web terminal on a real serial line: an ipmi-sol node against OpenIPMI's ipmi_sim, whose
// serial line the test plays. Keys, BREAK and magic SysRq from the page reach the line.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { BMC_PASSWORD, BMC_USER, startBmcSim, type BmcSim, type SerialLine } from '../support/bmc-sim.js';
import { launchBrowser, newPage, screenshot, waitForScreen, waitForText } from '../support/browser.js';
import { api, startDaemon, TOKEN, type DaemonHandle } from '../support/daemon.js';

let bmc: BmcSim;
let d: DaemonHandle;
let browser: Browser;
let page: Page;
let serial: SerialLine;

before(async () => {
  // The BMC first and alone: ipmi_sim connects its serial line as it starts.
  bmc = await startBmcSim({ serial: true });
  serial = bmc.serial!;
  [d, browser] = await Promise.all([startDaemon(), launchBrowser()]);
  const res = await api(d, 'POST', '/api/v1/nodes', {
    name: 'bmc1', driver: 'ipmi-sol', params: { host: bmc.host, port: bmc.port, user: BMC_USER, password: BMC_PASSWORD },
  });
  assert.equal(res.status, 201, res.text);
  await d.waitForLog((l) => l.node === 'bmc1' && l.msg === 'session state' && l.state === 'connected', 'bmc1 connected', 20_000);
  page = await newPage(browser);
  await page.goto(`${d.url}/console/bmc1#token=${TOKEN}`);
  await waitForScreen(page, /attached read-write/);
});
after(async () => {
  await browser?.close();
  await Promise.all([d?.stop(), bmc?.stop()]);
});

async function typeLine(text: string): Promise<void> {
  await page.click('.terminal');
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}

async function openSpecialKeys(): Promise<void> {
  await page.click('.special-keys summary');
}

test('what the host writes on its serial port shows in the page; what the page types reaches the port', async () => {
  serial.write('\r\nDebian GNU/Linux 12 host1 ttyS0\r\n\r\nhost1 login: ');
  await waitForScreen(page, /^host1 login: $/m);
  await typeLine('root');
  await serial.waitReceived('root\r');
  serial.write('root\r\nPassword: ');
  await waitForScreen(page, /^Password: $/m);
  await screenshot(page, 'terminal-serial');
});

test('BREAK from the special keys menu is a BREAK on the serial line', async () => {
  const before = serial.breaks;
  await openSpecialKeys();
  await page.click('.special-keys button:text-is("BREAK")');
  await waitForText(page, '.status-line', /break sequence 0 sent/);
  assert.equal(await page.getAttribute('.special-keys', 'open'), null, 'the menu stayed open');
  // ipmi_sim puts a BREAK on its line together with the characters that follow it.
  const from = serial.received.length;
  await typeLine('after-break');
  await serial.waitReceived('after-break\r');
  assert.equal(serial.breaks, before + 1);
  assert.equal(serial.breakOffsets[before], serial.received.indexOf('after-break\r', from), 'the BREAK did not come just before the text typed after it');
});

test('magic SysRq + h: a BREAK, then the letter, on the serial line', async () => {
  const before = serial.breaks;
  const from = serial.received.length;
  await openSpecialKeys();
  await page.selectOption('.sysrq-letter', 'h');
  await page.click('.sysrq-send');
  await waitForText(page, '.status-line', /break sequence 0 sent; SysRq h sent/);
  await serial.waitFor('a BREAK then h', () => serial.breaks === before + 1 && serial.received.length > from);
  const at = serial.breakOffsets[before];
  assert.ok(at >= from, 'the BREAK came before what was received earlier');
  assert.equal(serial.received.slice(at), 'h', 'the letter did not follow the BREAK alone');
  // What the kernel answers shows in the page.
  serial.write('\r\nsysrq: HELP : loglevel(0-9) reboot(b) crash(c) show-memory-usage(m)\r\n');
  await waitForScreen(page, /^sysrq: HELP : loglevel/m);
  await screenshot(page, 'terminal-serial-sysrq');
});
