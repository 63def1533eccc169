// A watch pattern as a node carries it (and the config's, which add a label selector): a named
// regular expression tested against each console line.
import { Type, type Static } from '@sinclair/typebox';

/** Longer sources are refused: a pattern is a line's signature, not a program. */
export const MAX_REGEX_LENGTH = 1000;
/** A node's own patterns at most: each runs on every line of its console. */
export const MAX_NODE_WATCH_PATTERNS = 50;

export const NodeWatchPatternSchema = Type.Object({
  name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9 ._:-]{0,62}$', description: 'shown on the node and in events, e.g. kernel-panic' }),
  regex: Type.String({ minLength: 1, maxLength: MAX_REGEX_LENGTH, description: 'JavaScript regular expression tested against each console line' }),
  // No g or y: they make test() stateful across lines.
  flags: Type.Optional(Type.String({ pattern: '^[imsu]*$', description: 'regex flags among i m s u' })),
  webhook: Type.Optional(Type.String({ pattern: '^https?://', description: 'POST {node, pattern, line, time} here on each match' })),
}, { additionalProperties: false });

export type NodeWatchPattern = Static<typeof NodeWatchPatternSchema>;

/**
 * Why these patterns cannot run — a regex that does not compile, a name used twice — naming the
 * pattern as `<field>[i] (<name>)`; undefined when they can. The worker compiles them again (a
 * RegExp does not cross threads).
 */
export function watchPatternsProblem(specs: readonly NodeWatchPattern[], field: string): string | undefined {
  const seen = new Set<string>();
  for (const [i, spec] of specs.entries()) {
    const where = `${field}[${i}] (${spec.name})`;
    if (seen.has(spec.name)) return `${where}: the name is used by an earlier pattern`;
    seen.add(spec.name);
    try {
      new RegExp(spec.regex, spec.flags ?? '');
    } catch (err) {
      return `${where}: invalid regex: ${(err as Error).message}`;
    }
  }
  return undefined;
}

/** Whether two patterns are the same definition (a node's unchanged pattern keeps its counters). */
export function samePattern(a: NodeWatchPattern, b: NodeWatchPattern): boolean {
  return a.name === b.name && a.regex === b.regex && (a.flags ?? '') === (b.flags ?? '') && a.webhook === b.webhook;
}
