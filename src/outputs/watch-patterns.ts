// Watch patterns as configured: named regular expressions that turn console lines into events.
// Checked once at config load so a typo stops the daemon with the pattern's name, not at the first line.
import { Type, type Static } from '@sinclair/typebox';
import { errors } from '../errors.js';
import { carriesLabels } from '../model/node.js';
import { NodeWatchPatternSchema, watchPatternsProblem } from '../model/watch-pattern.js';

export const WatchPatternSchema = Type.Object({
  ...NodeWatchPatternSchema.properties,
  labels: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'only nodes carrying all these labels; absent: every node' })),
}, { additionalProperties: false });

export type WatchPatternSpec = Static<typeof WatchPatternSchema>;

/** Refuse bad syntax and duplicate names with a message naming the pattern. */
export function checkWatchPatterns(specs: WatchPatternSpec[]): void {
  const problem = watchPatternsProblem(specs, 'watchPatterns');
  if (problem) throw new errors.CONFIG(problem);
}

/** Whether a pattern watches a node with these labels: every label it names, with the same value. */
export function watchesNode(spec: WatchPatternSpec, labels: Record<string, string> | undefined): boolean {
  if (!spec.labels) return true;
  return labels !== undefined && carriesLabels(labels, spec.labels);
}
