// The web console at fleet size: how long the overview takes to show N nodes, and how long a
// change takes to reach a row on screen (API call → server-sent event → DOM), in Debian's
// Chromium driven by playwright-core. No peer: conserver has no web page.
//   npm run bench:web                      # BENCH_WEB_NODES (1000), BENCH_WEB_LOADS (5), BENCH_WEB_UPDATES (30)
// Prints a markdown table on stdout; progress on stderr.
import { chromium, type Page } from 'playwright-core';
import { fmt, log, markdownTable, percentile, removeDir, tmpDir } from './lib.js';
import { Switchboard } from './peers/switchboard.js';

const NODES = Number(process.env.BENCH_WEB_NODES ?? 1000);
const LOADS = Number(process.env.BENCH_WEB_LOADS ?? 5);
const UPDATES = Number(process.env.BENCH_WEB_UPDATES ?? 30);
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const nodeName = (i: number) => `n-${String(i).padStart(4, '0')}`;

async function rowsShown(page: Page, n: number): Promise<void> {
  await page.waitForFunction((count) => (globalThis as any).document.querySelectorAll('tr[data-name]').length === count, n, { timeout: 120_000, polling: 'raf' });
}

async function main(): Promise<void> {
  const dataDir = tmpDir('bench-web');
  const sb = new Switchboard({ dataDir });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    await sb.start();
    // On-demand cmd consoles: real nodes with real sessions, and no process until someone attaches.
    let t0 = performance.now();
    for (let i = 0; i < NODES; i += 500) {
      const batch = Array.from({ length: Math.min(500, NODES - i) }, (_, k) => ({
        name: nodeName(i + k), driver: 'cmd', params: { cmd: '/bin/cat' }, ondemand: true, labels: { rack: `r${(i + k) % 40}` },
      }));
      await sb.api('POST', '/bulk/nodes', { nodes: batch });
    }
    const createMs = performance.now() - t0;
    log(`created ${NODES} nodes in ${fmt(createMs, 0)} ms`);

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const loads: number[] = [];
    for (let i = 0; i < LOADS; i++) {
      const page = await context.newPage();
      t0 = performance.now();
      await page.goto(`${sb.http}/#token=${sb.token}`);
      await rowsShown(page, NODES);
      loads.push(performance.now() - t0);
      await page.close();
    }
    log(`page loads: ${loads.map((x) => fmt(x, 0)).join(', ')} ms`);

    const page = await context.newPage();
    await page.goto(`${sb.http}/#token=${sb.token}`);
    await rowsShown(page, NODES);
    const updates: number[] = [];
    for (let i = 0; i < UPDATES; i++) {
      const name = nodeName(Math.floor((i * 7919) % NODES));
      const value = `u${i}`;
      t0 = performance.now();
      await sb.api('PATCH', `/nodes/${name}`, { labels: { bench: value } });
      await page.waitForFunction(([n, v]) => (globalThis as any).document.querySelector(`tr[data-name="${n}"] .labels`)?.textContent?.includes(`bench=${v}`), [name, value], { timeout: 30_000, polling: 'raf' });
      updates.push(performance.now() - t0);
    }
    updates.sort((a, b) => a - b);
    log(`updates: median ${fmt(percentile(updates, 50), 0)} ms`);

    t0 = performance.now();
    await page.fill('.filter-labels', 'rack=r7');
    await rowsShown(page, Math.ceil((NODES - 7) / 40));
    const filterMs = performance.now() - t0;
    const heapMb = await page.evaluate(() => ((globalThis as any).performance.memory?.usedJSHeapSize ?? 0) / 1e6);

    loads.sort((a, b) => a - b);
    process.stdout.write(`## Web console at ${NODES} nodes (${new Date().toISOString()})\n\n`);
    process.stdout.write(markdownTable(['measure', 'value'], [
      [`create ${NODES} nodes (bulk API, 500 per call)`, `${fmt(createMs, 0)} ms`],
      [`overview load to ${NODES} rows on screen, median of ${LOADS} (min–max)`, `${fmt(percentile(loads, 50), 0)} ms (${fmt(loads[0], 0)}–${fmt(loads[loads.length - 1], 0)})`],
      [`a label change: PATCH sent → row shows it, median / p95 of ${UPDATES}`, `${fmt(percentile(updates, 50), 0)} / ${fmt(percentile(updates, 95), 0)} ms`],
      ['label filter (rack=r7) typed → rows shown', `${fmt(filterMs, 0)} ms`],
      ['page JS heap after that', `${fmt(heapMb, 1)} MB`],
    ]));
    process.stdout.write('\n');
  } finally {
    await browser.close();
    await sb.stop();
    removeDir(dataDir);
  }
}

await main();
