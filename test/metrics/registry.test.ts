// The hooks the output sinks hub and the watch-pattern engine call, read back as a scraper would.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { register as globalRegistry } from 'prom-client';
import { DaemonMetrics, type SinkSample } from '../../src/metrics/index.js';
import { readScrape } from '../support/prometheus.js';

describe('DaemonMetrics', () => {
  test('sink stats are restated on every scrape; watch matches count by pattern name', async () => {
    const metrics = new DaemonMetrics();
    const sinks: SinkSample[] = [{ name: 'siem', type: 'tcp', sent: 10, dropped: 0, queued: 0, connected: true }];
    metrics.registerSinks(async () => sinks);
    metrics.watchMatches.inc({ pattern: 'kernel-panic' });
    let m = readScrape(await metrics.scrape());
    assert.equal(m.types.get('switchboard_sink_records_dropped_total'), 'COUNTER');
    assert.equal(m.value('switchboard_sink_records_sent_total', { sink: 'siem', type: 'tcp' }), 10);
    assert.equal(m.value('switchboard_sink_connected', { sink: 'siem' }), 1);
    assert.equal(m.value('switchboard_watch_matches_total', { pattern: 'kernel-panic' }), 1);

    // The sink went down and its queue overflowed: the next scrape says so, not a sum of scrapes.
    sinks[0] = { ...sinks[0], sent: 12, dropped: 3, queued: 500, connected: false };
    m = readScrape(await metrics.scrape());
    assert.equal(m.value('switchboard_sink_records_sent_total', { sink: 'siem' }), 12);
    assert.equal(m.value('switchboard_sink_records_dropped_total', { sink: 'siem' }), 3);
    assert.equal(m.value('switchboard_sink_records_queued', { sink: 'siem' }), 500);
    assert.equal(m.value('switchboard_sink_connected', { sink: 'siem' }), 0);
  });

  test('two daemons in one process keep their own numbers, and leave the global registry alone', async () => {
    const [a, b] = [new DaemonMetrics(), new DaemonMetrics()];
    a.consoleMeter.bytes('ssh', 'out', 100);
    b.consoleMeter.bytes('ssh', 'out', 7);
    assert.equal(readScrape(await a.scrape()).value('switchboard_console_bytes_total', { driver: 'ssh', direction: 'out' }), 100);
    assert.equal(readScrape(await b.scrape()).value('switchboard_console_bytes_total', { driver: 'ssh', direction: 'out' }), 7);
    assert.equal(globalRegistry.getSingleMetric('switchboard_console_bytes_total'), undefined);
  });
});
