// Building DOM from strings: one innerHTML pass is the cheapest way to make many rows, as long
// as every value from the API goes through `esc`.

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** The one element matching `selector` under `root`; a missing one is a bug in the page's own markup. */
export function $<T extends Element = HTMLElement>(root: ParentNode, selector: string): T {
  const el = root.querySelector<T>(selector);
  if (!el) throw new Error(`page markup: no ${selector}`);
  return el;
}

/** "in 3m", "in 45s", "in 2h 5m": how long until `ms` from now. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}
