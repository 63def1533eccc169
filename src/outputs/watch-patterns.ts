// Watch patterns as configured: named regular expressions that turn console lines into events.
// Checked once at config load so a typo stops the daemon with the pattern's name, not at the first line.
import { Type, type Static } from '@sinclair/typebox';
import { errors } from '../errors.js';
import { matchesLabels } from '../model/node.js';

/** Longer sources are refused: a pattern is a line's signature, not a program. */
export const MAX_REGEX_LENGTH = 1000;

export const WatchPatternSchema = Type.Object({
  name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9 ._:-]{0,62}$', description: 'shown on the node and in events, e.g. kernel-panic' }),
  regex: Type.String({ minLength: 1, maxLength: MAX_REGEX_LENGTH, description: 'JavaScript regular expression tested against each console line' }),
  // No g or y: they make test() stateful across lines.
  flags: Type.Optional(Type.String({ pattern: '^[imsu]*$', description: 'regex flags among i m s u' })),
  labels: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'only nodes carrying all these labels; absent: every node' })),
  webhook: Type.Optional(Type.String({ pattern: '^https?://', description: 'POST {node, pattern, line, time} here on each match' })),
}, { additionalProperties: false });

export type WatchPatternSpec = Static<typeof WatchPatternSchema>;

/**
 * Compile every pattern once to refuse bad syntax and duplicate names with a message naming the
 * pattern; the worker compiles them again (a RegExp does not cross threads).
 */
export function checkWatchPatterns(specs: WatchPatternSpec[]): void {
  const seen = new Set<string>();
  specs.forEach((spec, i) => {
    const where = `watchPatterns[${i}] (${spec.name})`;
    if (seen.has(spec.name)) throw new errors.CONFIG(`${where}: the name is used by an earlier pattern`);
    seen.add(spec.name);
    try {
      new RegExp(spec.regex, spec.flags ?? '');
    } catch (err) {
      throw new errors.CONFIG(`${where}: invalid regex: ${(err as Error).message}`);
    }
  });
}

/** Whether a pattern watches a node with these labels: every label it names, with the same value. */
export function watchesNode(spec: WatchPatternSpec, labels: Record<string, string> | undefined): boolean {
  if (!spec.labels) return true;
  return labels !== undefined && matchesLabels(labels, Object.entries(spec.labels).map(([k, v]) => `${k}=${v}`));
}
