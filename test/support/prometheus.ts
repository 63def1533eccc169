// Reading a /metrics answer with a real Prometheus text-format parser, as a scraper would.
import parsePrometheusTextFormat from 'parse-prometheus-text-format';

export interface Scrape {
  /** Family name → type (COUNTER, GAUGE, HISTOGRAM, ...). */
  types: Map<string, string>;
  /** The value of the one sample of `name` whose labels include `labels`; 0 when there is none. */
  value(name: string, labels?: Record<string, string>): number;
  /** Every sample of `name` (for a histogram: of `name_count`, `name_bucket`, ...). */
  samples(name: string): Array<{ labels: Record<string, string>; value: number }>;
}

export function readScrape(text: string): Scrape {
  const families = parsePrometheusTextFormat(text); // throws on anything malformed
  // The parser folds a histogram's series into one and drops their labels; without the TYPE
  // line each run of _bucket, _count or _sum lines reads as a plain family with its labels kept
  // (one run per label set: the same name comes back).
  const flat = parsePrometheusTextFormat(text.replace(/^# TYPE \S+ (histogram|summary)\n/gm, ''));
  const samples = (name: string) => flat.filter((f) => f.name === name)
    .flatMap((f) => f.metrics.map((m) => ({ labels: m.labels ?? {}, value: Number(m.value) })));
  return {
    types: new Map(families.map((f) => [f.name, f.type])),
    samples,
    value(name, labels = {}) {
      const matching = samples(name).filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
      if (matching.length > 1) throw new Error(`${name} ${JSON.stringify(labels)}: ${matching.length} samples match`);
      return matching[0]?.value ?? 0;
    },
  };
}
