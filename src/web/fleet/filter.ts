// The overview's filter: a text to find in node names, and labels as the API takes them
// (`k=v` must match, `k` must be present), several separated by spaces or commas.
import type { NodeView } from '../types.js';

export interface NodeFilter {
  text: string;
  labels: string;
}

export function matcher(filter: NodeFilter): (n: NodeView) => boolean {
  const text = filter.text.trim().toLowerCase();
  const labels = filter.labels.split(/[\s,]+/).filter(Boolean).map((term) => {
    const eq = term.indexOf('=');
    return eq < 0 ? { key: term, value: undefined } : { key: term.slice(0, eq), value: term.slice(eq + 1) };
  });
  return (n) =>
    (!text || n.name.toLowerCase().includes(text))
    && labels.every(({ key, value }) => (value === undefined ? key in n.labels : n.labels[key] === value));
}

/** Names sort as people expect of numbered machines: node2 before node10. */
export const byName = new Intl.Collator(undefined, { numeric: true }).compare;
