// GET /metrics through the real daemon: read with a Prometheus text-format parser while real
// console traffic, API calls and fleet messages (real nats-server and agent) move the numbers.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { WsConsole } from '../support/console-clients.js';
import { api, startDaemon, type DaemonHandle } from '../support/daemon.js';
import { fleetPrefix, natsUrl, startAgent } from '../support/nats.js';
import { readScrape, type Scrape } from '../support/prometheus.js';

const METRICS_TOKEN = 'metrics-scrape-token-5f3a9c1e7b';
const LATENCY = 'switchboard_api_request_duration_seconds';

async function scrape(d: DaemonHandle, token?: string): Promise<Scrape> {
  const res = await fetch(`${d.url}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return readScrape(text);
}

describe('metrics: consoles and the API, /metrics behind metricsToken', () => {
  let d: DaemonHandle;
  const read = () => scrape(d, METRICS_TOKEN);

  before(async () => {
    d = await startDaemon({ env: { SWITCHBOARD_METRICS_TOKEN: METRICS_TOKEN } });
    const res = await api(d, 'POST', '/api/v1/nodes', { name: 'mx-1', driver: 'cmd', params: { cmd: ['sh', '-c', 'echo hello-metrics; exec cat'] } });
    assert.equal(res.status, 201, res.text);
  });

  test('without the metrics token /metrics is 401, even with the admin token; the token never reaches the log', async () => {
    const refused: Record<string, string>[] = [{}, { authorization: `Bearer ${d.token}` }, { authorization: 'Bearer not-the-metrics-token' }];
    for (const headers of refused) {
      const res = await fetch(`${d.url}/metrics`, { headers });
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="metrics"');
      assert.equal((await res.json()).error, 'UNAUTHORIZED');
    }
    const ok = await scrape(d, METRICS_TOKEN);
    assert.equal(ok.types.get('switchboard_console_bytes_total'), 'COUNTER');
    assert.equal((await fetch(`${d.url}/healthz`)).status, 200, '/healthz stays public');
    // Refused scrapes are logged; a request line is logged as the answer goes out, so one after the
    // good scrape, once seen, says the scrape's line would have been seen too.
    await d.waitForLog((l) => l.msg === 'request' && l.url === '/metrics' && l.status === 401, 'refused scrapes are logged');
    assert.equal((await api(d, 'GET', '/api/v1/nodes')).status, 200);
    await d.waitForLog((l) => l.msg === 'request' && l.url === '/api/v1/nodes', 'the request after the scrape');
    assert.ok(!d.logs.some((l) => l.msg === 'request' && (l.url === '/metrics' || l.url === '/healthz') && l.status === 200), 'a good scrape or health check is not a line at info level');
    assert.ok(!d.rawOutput.some((l) => l.includes(METRICS_TOKEN)), 'the metrics token is in no log line');
  });

  test('bytes in and out move as a client types and the console prints; sessions and clients reflect the attach', async () => {
    const rw = await WsConsole.open(d, 'mx-1');
    await rw.waitFor('hello-metrics');
    const spy = await WsConsole.open(d, 'mx-1', { mode: 'ro' });
    await spy.waitForNotice(/read-only/);
    const before = await read();
    assert.equal(before.value('switchboard_console_sessions', { state: 'connected' }), 1);
    assert.equal(before.value('switchboard_console_clients', { mode: 'rw' }), 1);
    assert.equal(before.value('switchboard_console_clients', { mode: 'ro' }), 1);
    assert.ok(before.value('switchboard_console_bytes_total', { driver: 'cmd', direction: 'out' }) >= 'hello-metrics\r\n'.length);

    rw.type('ping-metrics\r');
    // The pty echoes the line, then cat prints it again.
    await rw.waitFor(/ping-metrics[\s\S]*ping-metrics/);
    const after = await read();
    const delta = (dir: string) => after.value('switchboard_console_bytes_total', { driver: 'cmd', direction: dir })
      - before.value('switchboard_console_bytes_total', { driver: 'cmd', direction: dir });
    assert.equal(delta('in'), 'ping-metrics\r'.length);
    assert.ok(delta('out') >= 2 * 'ping-metrics'.length, `out moved by ${delta('out')}`);
    rw.close();
    spy.close();
  });

  test('API latency is a histogram by route pattern, method and status class, never by raw URL', async () => {
    const before = (await read()).value(`${LATENCY}_count`, { method: 'GET', route: '/api/v1/nodes/:name', status_class: '2xx' });
    assert.equal((await api(d, 'GET', '/api/v1/nodes/mx-1')).status, 200);
    assert.equal((await api(d, 'GET', '/api/v1/nodes/mx-absent')).status, 404);
    assert.equal((await api(d, 'GET', '/no/such/route')).status, 404);
    const m = await read();
    assert.equal(m.types.get(LATENCY), 'HISTOGRAM');
    assert.equal(m.value(`${LATENCY}_count`, { method: 'GET', route: '/api/v1/nodes/:name', status_class: '2xx' }), before + 1);
    assert.equal(m.value(`${LATENCY}_count`, { method: 'GET', route: '/api/v1/nodes/:name', status_class: '4xx' }), 1);
    assert.ok(m.value(`${LATENCY}_count`, { route: 'unmatched', status_class: '4xx' }) >= 1);
    assert.ok(m.value(`${LATENCY}_bucket`, { method: 'GET', route: '/api/v1/nodes/:name', status_class: '2xx', le: '+Inf' }) >= 1);
    const routes = m.samples(`${LATENCY}_count`).map((s) => s.labels.route);
    assert.ok(!routes.some((r) => r.includes('mx-') || r.includes('/no/such')), `routes: ${routes.join(' ')}`);
  });

  test('a console that keeps dropping counts reconnects; event-loop lag is exported', async () => {
    const before = (await read()).value('switchboard_console_reconnects_total', { driver: 'cmd' });
    const res = await api(d, 'POST', '/api/v1/nodes', { name: 'mx-flap', driver: 'cmd', params: { cmd: ['sh', '-c', 'exit 0'] } });
    assert.equal(res.status, 201, res.text);
    await d.waitForLog((l) => l.node === 'mx-flap' && l.msg === 'console down', 'mx-flap down');
    const m = await read();
    assert.ok(m.value('switchboard_console_reconnects_total', { driver: 'cmd' }) > before);
    assert.equal(m.types.get('nodejs_eventloop_lag_seconds'), 'GAUGE');
    assert.equal((await api(d, 'DELETE', '/api/v1/nodes/mx-flap')).status, 204);
  });
});

describe('metrics: fleet messages by state (real nats-server and agent), /metrics public without metricsToken', () => {
  const prefix = fleetPrefix('metrics');
  let d: DaemonHandle;

  before(async () => {
    d = await startDaemon({ env: { SWITCHBOARD_NATS_URL: await natsUrl(), SWITCHBOARD_FLEET_PREFIX: prefix } });
    const { body } = await api(d, 'GET', '/api/v1/fleet/signer');
    await startAgent({ node: 'mx-agent', prefix, allowSigner: body.publicKey });
  });

  test('a message for an offline node counts as queued, a round trip as replied', async () => {
    const start = await scrape(d);
    assert.equal(start.types.get('switchboard_fleet_messages'), 'GAUGE');
    assert.equal(start.value('switchboard_fleet_messages', { state: 'queued' }), 0);
    assert.equal(start.value('switchboard_fleet_messages', { state: 'replied' }), 0);

    const queued = await api(d, 'POST', '/api/v1/fleet/messages', [{ toNodes: ['mx-offline'], method: 'REQCliCommand', data: ['true'], replyMethod: 'REQToConsole' }]);
    assert.equal(queued.status, 202, queued.text);
    const sent = await api(d, 'POST', '/api/v1/fleet/messages', [{ toNodes: ['mx-agent'], method: 'REQCliCommand', data: ['echo', 'hi'], replyMethod: 'REQToConsole' }]);
    assert.equal(sent.status, 202, sent.text);
    const done = await api(d, 'GET', `/api/v1/fleet/messages/${sent.body[0].id}?wait=20`);
    assert.equal(done.body.state, 'replied', done.text);

    const m = await scrape(d);
    assert.equal(m.value('switchboard_fleet_messages', { state: 'queued' }), 1);
    assert.equal(m.value('switchboard_fleet_messages', { state: 'replied' }), 1);
    assert.equal(m.value('switchboard_fleet_messages', { state: 'failed' }), 0);
  });
});
