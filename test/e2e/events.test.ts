// The live feed pages use (server-sent events) and the console log download.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { WsConsole } from '../support/console-clients.js';
import { api, catNode, startDaemon, waitForLogFile, type DaemonHandle } from '../support/daemon.js';
import { waitUntil } from '../support/wait.js';

let d: DaemonHandle;
before(async () => {
  d = await startDaemon();
  assert.equal((await api(d, 'POST', '/api/v1/nodes', catNode('ev1'))).status, 201);
});

interface Sse {
  events: { event: string; data: any }[];
  waitFor(pred: (e: { event: string; data: any }) => boolean, what: string): Promise<{ event: string; data: any }>;
  close(): void;
}

/** An EventSource-like reader over fetch: keeps every event, lets a test wait for one. */
async function openEvents(query: string, headers: Record<string, string> = { authorization: `Bearer ${d.token}` }): Promise<Sse> {
  const ctl = new AbortController();
  const res = await fetch(`${d.url}/api/v1/events${query}`, { headers, signal: ctl.signal });
  assert.equal(res.status, 200, await (res.status === 200 ? '' : res.text()));
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const events: { event: string; data: any }[] = [];
  const wakers = new Set<() => void>();
  void (async () => {
    let buf = '';
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body!) {
        buf += decoder.decode(chunk as Uint8Array, { stream: true });
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) });
        }
        for (const w of wakers) w();
      }
    } catch { /* aborted */ }
  })();
  return {
    events,
    waitFor: (pred, what) => waitUntil(() => events.find(pred), {
      what,
      subscribe: (wake) => {
        wakers.add(wake);
        return () => wakers.delete(wake);
      },
      describe: () => JSON.stringify(events.map((e) => [e.event, e.data.name ?? e.data.nodes?.length])),
    }),
    close: () => ctl.abort(),
  };
}

describe('GET /api/v1/events', () => {
  test('a snapshot, then each change: a node made, its console connecting, clients attaching, the node deleted', async () => {
    const sse = await openEvents('');
    try {
      const snap = await sse.waitFor((e) => e.event === 'snapshot', 'snapshot');
      assert.ok(snap.data.nodes.some((n: { name: string }) => n.name === 'ev1'));
      assert.equal((await api(d, 'POST', '/api/v1/nodes', catNode('ev2', { labels: { rack: 'r7' } }))).status, 201);
      const made = await sse.waitFor((e) => e.event === 'node' && e.data.name === 'ev2', 'ev2 created');
      assert.deepEqual(made.data.labels, { rack: 'r7' });
      await sse.waitFor((e) => e.event === 'node' && e.data.name === 'ev2' && e.data.session.state === 'connected', 'ev2 connected');
      const ws = await WsConsole.open(d, 'ev2');
      await sse.waitFor((e) => e.event === 'node' && e.data.name === 'ev2' && e.data.session.clients === 1, 'a client on ev2');
      ws.close();
      assert.equal((await api(d, 'DELETE', '/api/v1/nodes/ev2')).status, 204);
      await sse.waitFor((e) => e.event === 'node-deleted' && e.data.name === 'ev2', 'ev2 deleted');
    } finally {
      sse.close();
    }
  });

  test('a scoped token sees its own node only; EventSource sends the token as ?token=', async () => {
    const { body } = await api(d, 'POST', '/api/v1/tokens', { node: 'ev1', rights: ['console:ro'] });
    const sse = await openEvents(`?token=${body.token}`, {});
    try {
      const snap = await sse.waitFor((e) => e.event === 'snapshot', 'snapshot');
      assert.deepEqual(snap.data.nodes.map((n: { name: string }) => n.name), ['ev1']);
      assert.equal((await api(d, 'POST', '/api/v1/nodes', catNode('ev3'))).status, 201);
      const ws = await WsConsole.open(d, 'ev1');
      await sse.waitFor((e) => e.event === 'node' && e.data.name === 'ev1' && e.data.session.clients === 1, 'a client on ev1');
      ws.close();
      assert.ok(!sse.events.some((e) => e.data.name === 'ev3'), 'a scoped token saw another node');
    } finally {
      sse.close();
    }
    assert.equal((await fetch(`${d.url}/api/v1/events?token=wrong`)).status, 401);
  });
});

describe('GET /api/v1/nodes/:name/log', () => {
  test('downloads what the console printed; a console token may, a power-only token may not', async () => {
    const ws = await WsConsole.open(d, 'ev1', { replay: 'false' });
    ws.type('in-the-log-42\r');
    await ws.waitFor(/in-the-log-42\r\n[^]*in-the-log-42\r\n/);
    ws.close();
    await waitForLogFile(d, 'ev1', 'in-the-log-42\r\n');
    const res = await api(d, 'GET', '/api/v1/nodes/ev1/log');
    assert.equal(res.status, 200);
    assert.match(res.text, /in-the-log-42/);
    assert.match(res.headers.get('content-disposition') ?? '', /attachment; filename="ev1.log"/);
    const ro = (await api(d, 'POST', '/api/v1/tokens', { node: 'ev1', rights: ['console:ro'] })).body.token;
    assert.match((await api(d, 'GET', `/api/v1/nodes/ev1/log?token=${ro}`, undefined, { authorization: '' })).text, /in-the-log-42/);
    const power = (await api(d, 'POST', '/api/v1/tokens', { node: 'ev1', rights: ['power'] })).body.token;
    assert.equal((await api(d, 'GET', '/api/v1/nodes/ev1/log', undefined, { authorization: `Bearer ${power}` })).status, 403);
    assert.equal((await api(d, 'GET', '/api/v1/nodes/..%2Fadmin-token/log')).status, 400);
  });
});
