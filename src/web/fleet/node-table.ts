// The overview's table body, keyed by node name: a row's HTML is rebuilt only when what it shows
// changed, and rows are only moved when the order or the filter changed. That keeps an update of
// one node among 1,000 to one small innerHTML, not a thousand.
import { duration, esc } from '../html.js';
import type { NodeView } from '../types.js';

interface Row {
  tr: HTMLTableRowElement;
  /** What the row shows, to tell whether it needs rebuilding. */
  sig: string;
}

export class NodeTable {
  /** Node names ticked for a bulk action. */
  readonly selected = new Set<string>();
  private readonly rows = new Map<string, Row>();
  private shown: NodeView[] = [];

  constructor(private readonly tbody: HTMLTableSectionElement, private readonly selectionChanged: () => void) {
    // One listener for every row's checkbox.
    tbody.addEventListener('change', (e) => {
      const box = e.target as HTMLInputElement;
      const name = box.closest('tr')?.dataset.name;
      if (box.type !== 'checkbox' || name === undefined) return;
      this.select(name, box.checked);
      this.selectionChanged();
    });
  }

  /** The rows on screen, in order. */
  get visible(): readonly NodeView[] {
    return this.shown;
  }

  /** Selected and on screen: what a bulk action acts on (never a node the filter hides). */
  get selectedVisible(): string[] {
    return this.shown.filter((n) => this.selected.has(n.name)).map((n) => n.name);
  }

  render(nodes: NodeView[]): void {
    this.shown = nodes;
    const order: HTMLTableRowElement[] = [];
    for (const n of nodes) {
      const sig = signature(n, this.selected.has(n.name));
      let row = this.rows.get(n.name);
      if (!row) {
        const tr = document.createElement('tr');
        tr.dataset.name = n.name;
        row = { tr, sig: '' };
        this.rows.set(n.name, row);
      }
      if (row.sig !== sig) {
        row.tr.innerHTML = rowHtml(n, this.selected.has(n.name));
        row.tr.className = `row-${n.session.state}`;
        row.sig = sig;
      }
      order.push(row.tr);
    }
    const children = this.tbody.children;
    if (children.length !== order.length || order.some((tr, i) => children[i] !== tr)) this.tbody.replaceChildren(...order);
  }

  /** Forget a deleted node's row. */
  forget(name: string): void {
    this.rows.get(name)?.tr.remove();
    this.rows.delete(name);
    this.selected.delete(name);
  }

  selectAllVisible(on: boolean): void {
    for (const n of this.shown) this.select(n.name, on);
  }

  private select(name: string, on: boolean): void {
    if (on) this.selected.add(name);
    else this.selected.delete(name);
    const row = this.rows.get(name);
    if (!row) return;
    const box = row.tr.querySelector<HTMLInputElement>('input[type=checkbox]');
    if (box) box.checked = on;
    // The row already shows the new state: no rebuild needed on the next render.
    row.sig = row.sig.replace(/^\d/, on ? '1' : '0');
  }
}

/** Starts with the selection flag (see `select`). */
function signature(n: NodeView, selected: boolean): string {
  const s = n.session;
  return `${selected ? 1 : 0}|${s.state}|${s.lastError ?? ''}|${s.clients}|${n.driver}|${n.power?.driver ?? ''}|${JSON.stringify(n.powerState)}|${n.vnc ? 1 : 0}|${n.ondemand}|${n.consoleEnabled}|${JSON.stringify(n.labels)}|${JSON.stringify(n.watch ?? [])}|${n.agent?.lastSeen ?? ''}|${n.agent?.version ?? ''}`;
}

/** A badge per watch pattern that matched (count, the last line in its title) or was disabled: what the people on call look for. */
function watchBadges(n: NodeView): string {
  return (n.watch ?? [])
    .filter((w) => w.count > 0 || w.disabled)
    .map((w) => w.disabled
      ? `<span class="watch-off" title="${esc(w.disabled)}">${esc(w.pattern)} off</span>`
      : `<span class="watch-hit" title="${esc(`${w.last?.time ?? ''} ${w.last?.line ?? ''}`)}">${esc(w.pattern)} ×${w.count}</span>`)
    .join('');
}

function stateCell(n: NodeView): string {
  const s = n.session;
  if (!n.consoleEnabled) return '<span class="state state-disabled">disabled</span>';
  const word = s.state === 'disconnected' && n.ondemand ? 'on demand' : s.state;
  const error = s.state === 'error' && s.lastError ? `<div class="last-error">${esc(s.lastError)}</div>` : '';
  return `<span class="state state-${esc(s.state)}" title="since ${esc(s.since)}">${esc(word)}</span>${error}`;
}

/** The power driver, and what is known of the power: on / off / unknown (with why), or nothing yet. */
function powerCell(n: NodeView): string {
  if (!n.power) return '<span class="none">—</span>';
  const known = n.powerState;
  if (!known) return `${esc(n.power.driver)}`;
  const title = known.error ? `${known.error} (${known.at})` : `as of ${known.at}`;
  return `${esc(n.power.driver)} <span class="power-state power-${esc(known.state)}" title="${esc(title)}">${esc(known.state)}</span>`;
}

/** "12s ago" for a last-seen time: the overview refreshes it as time passes (refreshAges). */
function ago(iso: string, now = Date.now()): string {
  return `${duration(now - Date.parse(iso))} ago`;
}

/** The node's fleet agent: when its last hello came (the version and exact time in the title), or nothing heard. */
function agentCell(n: NodeView): string {
  if (!n.agent) return '<span class="none">—</span>';
  const { lastSeen, version } = n.agent;
  return `<time class="agent-seen" datetime="${esc(lastSeen)}" title="${esc(`agent ${version}, last hello ${lastSeen}`)}">${esc(ago(lastSeen))}</time>`;
}

/** Brings every last-seen age under `root` up to now (they are drawn once per hello). */
export function refreshAges(root: ParentNode, now = Date.now()): void {
  for (const t of root.querySelectorAll<HTMLTimeElement>('time.agent-seen')) t.textContent = ago(t.dateTime, now);
}

function rowHtml(n: NodeView, selected: boolean): string {
  const href = `/console/${encodeURIComponent(n.name)}`;
  const screen = n.vnc ? ` <a class="screen-link" href="/vnc/${esc(encodeURIComponent(n.name))}" title="graphical console (VNC)">screen</a>` : '';
  const labels = Object.entries(n.labels)
    .map(([k, v]) => `<button type="button" class="label" data-label="${esc(`${k}=${v}`)}" title="filter by this label">${esc(k)}=${esc(v)}</button>`)
    .join('');
  return `<td class="select"><input type="checkbox" aria-label="select ${esc(n.name)}"${selected ? ' checked' : ''}></td>`
    + `<td class="name"><a href="${esc(href)}">${esc(n.name)}</a>${screen}</td>`
    + `<td class="console">${stateCell(n)}${watchBadges(n)}</td>`
    + `<td class="clients">${n.session.clients}</td>`
    + `<td class="driver">${esc(n.driver)}</td>`
    + `<td class="power">${powerCell(n)}</td>`
    + `<td class="agent">${agentCell(n)}</td>`
    + `<td class="labels">${labels}</td>`;
}
