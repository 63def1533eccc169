// Bulk power from the fleet overview against real BMCs (OpenIPMI ipmi_sim, one per node): the
// confirmation, each node's result, the chassis following, and the row's power state.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser, Dialog, Page } from 'playwright-core';
import { BMC_PASSWORD, BMC_USER, startBmcSim, waitChassis, type BmcSim } from '../support/bmc-sim.js';
import { launchBrowser, newPage, screenshot, waitForCount, waitForText } from '../support/browser.js';
import { api, catNode, startDaemon, TOKEN, type DaemonHandle } from '../support/daemon.js';

let bmcs: Record<string, BmcSim>;
let d: DaemonHandle;
let browser: Browser;
let page: Page;

// The default wait per try (1 s): ipmi_sim answers a power command only once its chassis script has
// run, which on a machine busy with the browser and other tests took longer than 4 tries of 300 ms.
const bmcParams = (bmc: BmcSim) => ({ host: bmc.host, port: bmc.port, user: BMC_USER, password: BMC_PASSWORD });

before(async () => {
  const [pw1, pw2] = await Promise.all([startBmcSim(), startBmcSim()]);
  bmcs = { pw1, pw2 };
  [d, browser] = await Promise.all([startDaemon(), launchBrowser()]);
  const nodes = [
    catNode('pw1', { power: { driver: 'ipmi', params: bmcParams(pw1) } }),
    catNode('pw2', { power: { driver: 'ipmi', params: bmcParams(pw2) } }),
    catNode('nopower1'),
  ];
  const res = await api(d, 'POST', '/api/v1/bulk/nodes', { nodes });
  assert.equal(res.body.failed, 0, res.text);
  page = await newPage(browser);
  await page.goto(`${d.url}/#token=${TOKEN}`);
  await waitForCount(page, 'table.nodes tbody tr', 3);
  await page.check('tr[data-name=pw1] input[type=checkbox]');
  await page.check('tr[data-name=pw2] input[type=checkbox]');
  await waitForText(page, '.selected-count', /^2 selected$/);
});
after(async () => {
  await browser?.close();
  await Promise.all([d?.stop(), ...Object.values(bmcs ?? {}).map((b) => b.stop())]);
});

const results = async () => (await page.locator('.bulk-results tr').allTextContents()).sort();

/** Clicks a bulk action; answers its confirmation, if it asks one, with `accept`; resolves with the question. */
async function bulk(action: string, accept = true): Promise<string | undefined> {
  let question: string | undefined;
  const onDialog = (dialog: Dialog) => {
    question = dialog.message();
    void (accept ? dialog.accept() : dialog.dismiss());
  };
  page.once('dialog', onDialog);
  await page.click(`.bulk button[data-action=${action}]`);
  page.off('dialog', onDialog);
  return question;
}

test('Power on: no question asked; each node\'s result, both chassis on, both rows say on', async () => {
  assert.equal(await bulk('on'), undefined);
  await waitForText(page, '.bulk-results', /Power on: 2 done, 0 failed/);
  const rows = await results();
  assert.equal(rows.length, 2, rows.join('; '));
  rows.forEach((row, i) => assert.match(row, new RegExp(`^pw${i + 1}(done|power on)$`)));
  for (const [name, bmc] of Object.entries(bmcs)) {
    await waitChassis(bmc, `${name} on`, () => bmc.power() === '1');
    await waitForText(page, `tr[data-name=${name}] .power`, /^ipmi on$/);
  }
  await screenshot(page, 'overview-bulk-power-on');
});

test('Power off asks first; dismissed, nothing happens; confirmed, both chassis go off and the rows say so', async () => {
  const asked = await bulk('off', false);
  assert.match(asked ?? '', /^Power off \(hard\) 2 nodes\?\n\npw1, pw2$/);
  await waitForText(page, '.bulk-results', /Power on: 2 done/);
  assert.deepEqual([bmcs.pw1.power(), bmcs.pw2.power()], ['1', '1']);

  assert.match(await bulk('off') ?? '', /^Power off \(hard\) 2 nodes\?/);
  await waitForText(page, '.bulk-results', /Power off: 2 done, 0 failed/);
  for (const [name, bmc] of Object.entries(bmcs)) {
    await waitChassis(bmc, `${name} off`, () => bmc.power() === '0');
    await waitForText(page, `tr[data-name=${name}] .power`, /^ipmi off$/);
  }
  await screenshot(page, 'overview-bulk-power-off');
});

test('Power cycle asks first; confirmed, each BMC turns its chassis off and on again', async () => {
  assert.equal(await bulk('on'), undefined);
  await waitForText(page, '.bulk-results', /Power on: 2 done, 0 failed/);
  const from = Object.fromEntries(Object.entries(bmcs).map(([name, bmc]) => [name, bmc.events().length]));
  assert.match(await bulk('cycle') ?? '', /^Power cycle 2 nodes\?/);
  await waitForText(page, '.bulk-results', /Power cycle: 2 done, 0 failed/);
  assert.deepEqual((await results()).map((r) => r.slice(0, 3)), ['pw1', 'pw2']);
  for (const [name, bmc] of Object.entries(bmcs)) {
    await waitChassis(bmc, `${name} cycled`, () => {
      const seen = bmc.events().slice(from[name]).map((e) => e.split(' ').slice(1).join(' '));
      const off = seen.indexOf('set power 0');
      return off >= 0 && seen.indexOf('set power 1', off) > off;
    });
  }
  await waitForText(page, 'tr[data-name=pw1] .power', /^ipmi on$/);
});

test('a node without power control among the selected: its own failure, the others done', async () => {
  await page.check('tr[data-name=nopower1] input[type=checkbox]');
  await waitForText(page, '.selected-count', /^3 selected$/);
  await bulk('status');
  await waitForText(page, '.bulk-results', /Power status: 2 done, 1 failed/);
  const rows = await results();
  assert.match(rows[0], /^nopower1POWER_NOT_CONFIGURED/);
  assert.deepEqual(rows.slice(1), ['pw1power on', 'pw2power on']);
  await screenshot(page, 'overview-bulk-power-status');
});
