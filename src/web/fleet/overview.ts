// `/`: every node with its console state, a filter, live updates and bulk power.
import type { Api } from '../api.js';
import { $, esc } from '../html.js';
import type { Page } from '../main.js';
import type { BulkPowerResult, NodeView, PowerAction } from '../types.js';
import { byName, matcher } from './filter.js';
import { NodeFeed } from './node-feed.js';
import { NodeTable, refreshAges } from './node-table.js';

export interface OverviewOptions {
  api: Api;
  logout(): void;
}

/** How often the agents' last-seen ages are brought up to date. */
const AGE_REFRESH_MS = 5000;

const ACTIONS: { action: PowerAction; label: string; confirm?: string }[] = [
  { action: 'on', label: 'Power on' },
  { action: 'off', label: 'Power off', confirm: 'Power off (hard)' },
  { action: 'cycle', label: 'Power cycle', confirm: 'Power cycle' },
  { action: 'status', label: 'Power status' },
];

export function showOverview(root: HTMLElement, { api, logout }: OverviewOptions): Page {
  document.title = 'Switchboard — nodes';
  const query = new URLSearchParams(location.search);
  root.innerHTML = `
    <header class="bar">
      <h1>Switchboard</h1>
      <span class="feed-status" aria-live="polite"></span>
      <span class="spacer"></span>
      <button type="button" class="logout">Log out</button>
    </header>
    <section class="tools">
      <input type="search" class="filter-text" placeholder="Filter by name" aria-label="filter by name" value="${esc(query.get('q') ?? '')}">
      <input type="search" class="filter-labels" placeholder="Labels: rack=r1 role" aria-label="filter by label" value="${esc(query.get('label') ?? '')}">
      <span class="count"></span>
      <span class="spacer"></span>
      <span class="bulk"><span class="selected-count">0 selected</span>
        ${ACTIONS.map((a) => `<button type="button" data-action="${a.action}" disabled>${a.label}</button>`).join('')}
      </span>
    </section>
    <section class="bulk-results" hidden></section>
    <p class="page-error" role="alert" hidden></p>
    <table class="nodes">
      <thead><tr>
        <th class="select"><input type="checkbox" class="select-all" aria-label="select all shown"></th>
        <th>Node</th><th>Console</th><th>Clients</th><th>Driver</th><th>Power</th><th title="the node's fleet agent: when its last hello came">Agent</th><th>Labels</th>
      </tr></thead>
      <tbody></tbody>
    </table>`;

  const text = $<HTMLInputElement>(root, '.filter-text');
  const labels = $<HTMLInputElement>(root, '.filter-labels');
  const count = $(root, '.count');
  const feedStatus = $(root, '.feed-status');
  const selectAll = $<HTMLInputElement>(root, '.select-all');
  const results = $(root, '.bulk-results');
  const pageError = $(root, '.page-error');
  const nodes = new Map<string, NodeView>();
  const table = new NodeTable($(root, 'tbody'), () => updateBulk());
  let loaded = false;
  let frame = 0;

  function render(): void {
    frame = 0;
    const match = matcher({ text: text.value, labels: labels.value });
    const shown = [...nodes.values()].filter(match).sort((a, b) => byName(a.name, b.name));
    table.render(shown);
    count.textContent = loaded ? `${shown.length} of ${nodes.size} nodes` : 'loading…';
    updateBulk();
  }
  /** Many events may arrive in one frame: draw once. */
  const scheduleRender = () => {
    frame ||= requestAnimationFrame(render);
  };

  function updateBulk(): void {
    const n = table.selectedVisible.length;
    $(root, '.selected-count').textContent = `${n} selected`;
    for (const b of root.querySelectorAll<HTMLButtonElement>('.bulk button')) b.disabled = n === 0;
    selectAll.checked = n > 0 && n === table.visible.length;
    selectAll.indeterminate = n > 0 && n < table.visible.length;
  }

  const onFilter = () => {
    // The filter is part of the address, so it survives a reload and can be shared.
    const q = new URLSearchParams();
    if (text.value) q.set('q', text.value);
    if (labels.value) q.set('label', labels.value);
    history.replaceState(history.state, '', q.size ? `/?${q}` : '/');
    scheduleRender();
  };
  text.addEventListener('input', onFilter);
  labels.addEventListener('input', onFilter);
  selectAll.addEventListener('change', () => {
    table.selectAllVisible(selectAll.checked);
    updateBulk();
  });
  // A label in a row adds itself to the label filter.
  root.addEventListener('click', (e) => {
    const label = (e.target as HTMLElement).closest<HTMLElement>('button.label')?.dataset.label;
    if (!label) return;
    const terms = labels.value.split(/[\s,]+/).filter(Boolean);
    if (!terms.includes(label)) labels.value = [...terms, label].join(' ');
    onFilter();
  });
  $(root, '.logout').addEventListener('click', logout);
  for (const b of root.querySelectorAll<HTMLButtonElement>('.bulk button')) {
    b.addEventListener('click', () => void bulkPower(ACTIONS.find((a) => a.action === b.dataset.action)!));
  }

  async function bulkPower({ action, label, confirm: verb }: (typeof ACTIONS)[number]): Promise<void> {
    const names = table.selectedVisible;
    if (verb && !confirm(`${verb} ${names.length} node${names.length === 1 ? '' : 's'}?\n\n${names.slice(0, 20).join(', ')}${names.length > 20 ? ', …' : ''}`)) return;
    results.hidden = false;
    results.innerHTML = `<p>${esc(label)}: ${names.length} node(s)…</p>`;
    try {
      const res = await api.request<{ done: number; failed: number; results: BulkPowerResult[] }>('POST', '/bulk/power', { names, action });
      results.innerHTML = bulkResultsHtml(label, res.done, res.failed, res.results);
    } catch (err) {
      results.innerHTML = `<p class="error">${esc(label)} failed: ${esc((err as Error).message)}</p>`;
    }
  }
  results.addEventListener('click', (e) => {
    if ((e.target as HTMLElement).closest('.close')) results.hidden = true;
  });

  const feed = new NodeFeed(api, {
    snapshot(list) {
      const names = new Set(list.map((n) => n.name));
      for (const name of nodes.keys()) if (!names.has(name)) table.forget(name);
      nodes.clear();
      for (const n of list) nodes.set(n.name, n);
      loaded = true;
      pageError.hidden = true;
      scheduleRender();
    },
    upsert(n) {
      nodes.set(n.name, n);
      scheduleRender();
    },
    remove(name) {
      nodes.delete(name);
      table.forget(name);
      scheduleRender();
    },
    status(line, ok) {
      feedStatus.textContent = line;
      feedStatus.classList.toggle('problem', !ok);
      if (!ok && !loaded) {
        pageError.hidden = false;
        pageError.textContent = `Cannot list nodes: ${line}`;
      }
    },
  });
  feed.start();
  render();
  // An agent's last-seen age grows between its hellos (each hello redraws the row).
  const ages = setInterval(() => refreshAges(root), AGE_REFRESH_MS);

  return {
    dispose() {
      feed.stop();
      cancelAnimationFrame(frame);
      clearInterval(ages);
    },
  };
}

function bulkResultsHtml(label: string, done: number, failed: number, results: BulkPowerResult[]): string {
  const rows = results.map((r) => {
    const outcome = r.status === 'done' ? (r.power ? `power ${r.power}` : 'done') : `${r.error ?? 'error'}: ${r.message ?? ''}`;
    return `<tr class="${r.status === 'done' ? 'ok' : 'failed'}"><td>${esc(r.name ?? `#${r.index}`)}</td><td>${esc(outcome)}</td></tr>`;
  }).join('');
  return `<div class="bulk-head"><strong>${esc(label)}</strong>: ${done} done, ${failed} failed
      <button type="button" class="close" aria-label="close results">×</button></div>
    <table><tbody>${rows}</tbody></table>`;
}
