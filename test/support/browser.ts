// A real headless Chromium (Debian's) driven by playwright-core, for the web console's tests.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ROOT } from './daemon.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Screenshots of each screen, kept after the run (gitignored). */
export const ARTIFACTS = path.join(ROOT, 'test-artifacts');

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}


// Page-side code is cast through `any`: the page's globals are not in Node's types.

/**
 * A fresh tab with its own sessionStorage, as a new person opening the page would have. Checks
 * run as functions (through the DevTools protocol): the page's CSP forbids evaluating strings.
 */
export async function newPage(browser: Browser): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  // The terminal's whole buffer (scrollback included) as text, one line per row.
  await context.addInitScript(() => {
    (globalThis as any).__sbScreenText = () => {
      const term = (globalThis as any).__sbTerm;
      if (!term) return '';
      const b = term.buffer.active;
      const lines: string[] = [];
      for (let i = 0; i < b.length; i++) lines.push(b.getLine(i)?.translateToString(true) ?? '');
      return lines.join('\n');
    };
  });
  return context.newPage();
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`) });
}

export function screenText(page: Page): Promise<string> {
  return page.evaluate(() => (globalThis as any).__sbScreenText() as string);
}

/** Waits until the terminal's text matches; resolves with the match (its groups too). */
export async function waitForScreen(page: Page, pattern: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
  try {
    await page.waitForFunction(([source, flags]) => new RegExp(source, flags).test((globalThis as any).__sbScreenText()), [pattern.source, pattern.flags], { timeout: timeoutMs });
  } catch (err) {
    throw new Error(`terminal never showed ${pattern}: ${(err as Error).message}\n--- screen ---\n${(await screenText(page)).trimEnd().slice(-1500)}`);
  }
  return pattern.exec(await screenText(page))!;
}

/** Waits until `selector`'s text matches. */
export async function waitForText(page: Page, selector: string, pattern: RegExp, timeoutMs = 15_000): Promise<string> {
  try {
    await page.waitForFunction(([sel, source, flags]) => new RegExp(source, flags).test((globalThis as any).document.querySelector(sel)?.textContent ?? ''),
      [selector, pattern.source, pattern.flags], { timeout: timeoutMs });
  } catch (err) {
    const now = await page.locator(selector).first().textContent({ timeout: 1000 }).catch(() => '(absent)');
    throw new Error(`${selector} never matched ${pattern}; it says: ${now}\n${(err as Error).message}`);
  }
  return (await page.locator(selector).first().textContent()) ?? '';
}

/** Waits until `selector` matches exactly `count` elements. */
export async function waitForCount(page: Page, selector: string, count: number, timeoutMs = 15_000): Promise<void> {
  await page.waitForFunction(([sel, n]) => (globalThis as any).document.querySelectorAll(sel).length === n, [selector, count] as const, { timeout: timeoutMs });
}
