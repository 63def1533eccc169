// Fleet-wide console log search (GET /api/v1/logs/search, `switchboard logs search`) and log tail
// (GET /api/v1/nodes/:name/log/tail, `switchboard logs tail`), against a daemon whose logs rotate at 1 KiB.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, watch } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { BIN, api, catNode, startDaemon, type DaemonHandle } from '../support/daemon.js';
import { WsConsole } from '../support/console-clients.js';
import { cliEnv, runCli } from '../support/cli.js';
import { spawnTracked, stopProcess } from '../support/processes.js';
import { waitUntil } from '../support/wait.js';

let d: DaemonHandle;

interface Hit { node: string; time: string; line: string }
interface SearchResult { status: number; hits: Hit[]; end?: { hits: number; limited: boolean }; body?: any }

async function search(query: Record<string, string | string[]>, token = d.token): Promise<SearchResult> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) for (const one of [v].flat()) q.append(k, one);
  const res = await api(d, 'GET', `/api/v1/logs/search?${q}`, undefined, { authorization: `Bearer ${token}` });
  if (res.status !== 200) return { status: res.status, hits: [], body: res.body };
  assert.match(res.headers.get('content-type') ?? '', /^application\/x-ndjson/);
  const recs = res.text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const end = recs.pop();
  assert.ok(end.end, `the stream ends with {end}: ${JSON.stringify(end)}`);
  return { status: 200, hits: recs, end: end.end };
}

/** Types a line into a cat console (the pty echoes it, cat prints it again) and waits for it in the live log. */
async function say(node: string, text: string): Promise<void> {
  const ws = await WsConsole.open(d, node, { replay: 'false' });
  ws.type(`${text}\r`);
  await ws.waitFor(new RegExp(`${text}\\r\\n[^]*${text}\\r\\n`));
  ws.close();
  // Watching the directory, not the file: rotation renames the live file away, and may split a line.
  // Done when the typist's detach is logged after the text: it comes a moment after the close.
  const done = () => {
    const log = wholeLog(node);
    const at = log.lastIndexOf(`${text}\r\n`);
    return at >= 0 && log.indexOf('detached --]', at) >= 0;
  };
  await waitUntil(() => done() || undefined, {
    what: `${text} and the detach after it in ${node}.log`,
    subscribe: (wake) => {
      const w = watch(logDir(), wake);
      return () => w.close();
    },
  });
}

/** Every file of a node's log, oldest first, joined. */
function wholeLog(node: string): string {
  const rotated = readdirSync(logDir()).map((f) => Number(new RegExp(`^${node}\\.log\\.(\\d+)$`).exec(f)?.[1])).filter((n) => n > 0);
  return [...rotated.sort((a, b) => b - a).map((n) => `${node}.log.${n}`), `${node}.log`].map((f) => readText(path.join(logDir(), f))).join('');
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'latin1');
  } catch {
    return ''; // between rotation's rename and the next write
  }
}

const logDir = () => path.join(d.dataDir, 'logs');

before(async () => {
  d = await startDaemon({ env: { SWITCHBOARD_LOG_MAX_BYTES: '1024', SWITCHBOARD_LOG_KEEP: '20' } });
  for (const [name, rack] of [['rot1', 'r0'], ['lab1', 'r1'], ['lab2', 'r2']]) {
    assert.equal((await api(d, 'POST', '/api/v1/nodes', catNode(name, { labels: { rack } }))).status, 201);
  }
  await say('lab1', 'common-token lab1');
  await say('lab2', 'common-token lab2');
});

describe('GET /api/v1/logs/search', () => {
  test('search finds a line across a rotated log by time window, and not outside it', async () => {
    await say('rot1', 'needle-early-1');
    // Over 1 KiB of output rotates the log: the early line moves to a rotated file.
    for (let i = 0; i < 3; i++) await say('rot1', `filler-${i}-${'x'.repeat(600)}`);
    await say('rot1', 'needle-late-2');
    const live = readFileSync(path.join(logDir(), 'rot1.log'), 'latin1');
    assert.ok(!live.includes('needle-early-1'), 'precondition: the early line is no longer in the live file');
    const rotated = readdirSync(logDir()).filter((f) => /^rot1\.log\.\d+$/.test(f));
    assert.ok(rotated.some((f) => readFileSync(path.join(logDir(), f), 'latin1').includes('needle-early-1')), `precondition: a rotated file has it (${rotated})`);
    assert.match(live, /^\[\d{4}-\d\d-\d\dT[\d:.]+Z\] .*needle-late-2/m, 'log lines are time-stamped by default');

    const all = await search({ q: 'needle-', node: 'rot1' });
    assert.deepEqual(all.hits.map((h) => h.line), ['needle-early-1', 'needle-early-1', 'needle-late-2', 'needle-late-2']);
    assert.ok(all.hits.every((h) => h.node === 'rot1' && !Number.isNaN(Date.parse(h.time))));
    const early = all.hits[1].time;
    const late = all.hits[2].time;
    assert.ok(early < late);

    const before = await search({ q: 'needle-', until: early });
    assert.deepEqual(before.hits.map((h) => h.line), ['needle-early-1', 'needle-early-1']);
    const after = await search({ q: 'needle-', since: late });
    assert.deepEqual(after.hits.map((h) => h.line), ['needle-late-2', 'needle-late-2']);
    assert.equal((await search({ q: 'needle-', since: '1h' })).hits.length, 4, 'a duration: from an hour ago');
    assert.equal((await search({ q: 'needle-', until: '1h' })).hits.length, 0, 'up to an hour ago: nothing yet');
    assert.equal((await search({ q: 'needle-', since: 'yesterday' })).status, 400);
  });

  test('node and label filters pick the nodes searched', async () => {
    const byLabel = await search({ q: 'common-token', label: 'rack=r1' });
    assert.deepEqual([...new Set(byLabel.hits.map((h) => h.node))], ['lab1']);
    assert.ok(byLabel.hits.every((h) => h.line === 'common-token lab1'));
    const byNode = await search({ q: 'common-token', node: 'lab2' });
    assert.deepEqual([...new Set(byNode.hits.map((h) => h.node))], ['lab2']);
    const both = await search({ q: 'common-token', label: 'rack' });
    assert.deepEqual([...new Set(both.hits.map((h) => h.node))], ['lab1', 'lab2']);
    assert.equal((await search({ q: 'common-token', label: 'rack=nowhere' })).hits.length, 0);
  });

  test('limit stops the search and says so', async () => {
    const one = await search({ q: 'common-token', limit: '1' });
    assert.equal(one.hits.length, 1);
    assert.deepEqual(one.end, { hits: 1, limited: true });
    const all = await search({ q: 'common-token' });
    assert.deepEqual(all.end, { hits: 4, limited: false });
    assert.equal((await search({ q: 'x', limit: '100001' })).status, 400);
  });

  test('regex=1 takes a regular expression; without it the pattern is plain text', async () => {
    const re = await search({ q: 'common-token lab[12]$', regex: '1' });
    assert.deepEqual(re.hits.map((h) => h.line).sort(), ['common-token lab1', 'common-token lab1', 'common-token lab2', 'common-token lab2']);
    assert.equal((await search({ q: 'common-token lab[12]$' })).hits.length, 0);
    const bad = await search({ q: '(unclosed', regex: '1' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error, 'VALIDATION');
    assert.equal((await search({ q: 'a'.repeat(600), regex: '1' })).status, 400, 'too long a pattern is refused');
  });

  test('a regex that backtracks for ever does not hold up the daemon, and ends when the client goes away', async () => {
    for (const name of ['bt1', 'bt2']) assert.equal((await api(d, 'POST', '/api/v1/nodes', catNode(name))).status, 201);
    await say('bt1', 'hit-me');
    await say('bt2', `${'a'.repeat(40)}!`);
    const ctl = new AbortController();
    const q = new URLSearchParams({ q: '^(?:hit-me|(a+)+$)', regex: '1', node: 'bt1' });
    q.append('node', 'bt2');
    const res = await fetch(`${d.url}/api/v1/logs/search?${q}`, { headers: { authorization: `Bearer ${d.token}` }, signal: ctl.signal });
    const reader = res.body!.getReader();
    let got = '';
    // bt1's hits come as soon as bt1 is searched; bt2's line then keeps the regex busy.
    while (!got.includes('\n')) got += new TextDecoder().decode((await reader.read()).value);
    assert.equal(JSON.parse(got.split('\n')[0]).node, 'bt1');
    const health = await fetch(`${d.url}/healthz`, { signal: AbortSignal.timeout(3000) });
    assert.equal(health.status, 200, 'the daemon answers while the regex runs');
    assert.equal((await search({ q: 'hit-me', node: 'bt1' })).hits.length, 2, 'and other searches run too');
    ctl.abort();
  });

  test('a node name that tries to leave the log directory is refused with 400', async () => {
    for (const node of ['../admin-token', '..', 'a/b']) {
      const res = await search({ q: 'x', node });
      assert.equal(res.status, 400, node);
      assert.equal(res.body.error, 'BAD_NODE_NAME');
    }
    assert.equal((await api(d, 'GET', '/api/v1/nodes/..%2Fadmin-token/log/tail')).status, 400);
  });

  test('a scoped token searches its own node only, and needs a console right', async () => {
    const ro = (await api(d, 'POST', '/api/v1/tokens', { node: 'lab1', rights: ['console:ro'] })).body.token;
    const own = await search({ q: 'common-token' }, ro);
    assert.deepEqual([...new Set(own.hits.map((h) => h.node))], ['lab1']);
    assert.equal((await search({ q: 'common-token', node: 'lab2' }, ro)).status, 403);
    const power = (await api(d, 'POST', '/api/v1/tokens', { node: 'lab1', rights: ['power'] })).body.token;
    assert.equal((await search({ q: 'common-token' }, power)).status, 403);
    assert.equal((await api(d, 'GET', '/api/v1/nodes/lab2/log/tail', undefined, { authorization: `Bearer ${ro}` })).status, 403);
    assert.equal((await api(d, 'GET', '/api/v1/nodes/lab1/log/tail', undefined, { authorization: `Bearer ${ro}` })).status, 200);
  });
});

describe('switchboard logs', () => {
  test('logs search prints node, time and line; -o json gives the records', async () => {
    const r = await runCli(d, ['logs', 'search', 'common-token', '--label', 'rack=r1']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 2);
    for (const l of lines) assert.match(l, /^lab1 \d{4}-\d\d-\d\dT[\d:.]+Z common-token lab1$/);
    const j = await runCli(d, ['-o', 'json', 'logs', 'search', 'common-token', '--node', 'lab2', '--since', '2h']);
    assert.equal(j.code, 0, j.stderr);
    assert.deepEqual(JSON.parse(j.stdout).map((h: Hit) => [h.node, h.line]), [['lab2', 'common-token lab2'], ['lab2', 'common-token lab2']]);
    const limited = await runCli(d, ['logs', 'search', 'common-token', '--limit', '1']);
    assert.equal(limited.stdout.trim().split('\n').length, 1);
    assert.match(limited.stderr, /--limit 1/);
    const bad = await runCli(d, ['logs', 'search', 'x', '--node', '../etc']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /BAD_NODE_NAME/);
  });

  test('logs tail -n prints the last lines of the live log', async () => {
    await say('lab2', 'tail-one');
    await say('lab2', 'tail-two');
    // The last three: the pty's echo and cat's copy of what was typed, then the session's note that the typist left.
    const r = await runCli(d, ['logs', 'tail', 'lab2', '-n', '3']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n').filter(Boolean);
    assert.equal(lines.length, 3);
    assert.match(lines[0], /^\[[^\]]+Z\] tail-two\r$/);
    assert.match(lines[1], /^\[[^\]]+Z\] tail-two\r$/);
    assert.match(lines[2], /^\[[^\]]+Z\] \[-- [^ ]+ admin@127\.0\.0\.1 detached --\]\r$/);
  });

  test('logs tail -f keeps printing what the console prints after it started', async () => {
    const proc = spawnTracked(process.execPath, [BIN, 'logs', 'tail', 'lab1', '-n', '1', '-f'], { env: cliEnv(d) });
    let out = '';
    const wakers = new Set<() => void>();
    proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString('latin1');
      for (const w of wakers) w();
    });
    const subscribe = (wake: () => void) => {
      wakers.add(wake);
      return () => wakers.delete(wake);
    };
    try {
      // The last line of the log: the note of the last client's detach.
      await waitUntil(() => /detached --\]/.test(out), { what: 'the last line', subscribe, describe: () => out });
      await say('lab1', 'printed-after-follow-started');
      await waitUntil(() => out.includes('printed-after-follow-started'), { what: 'the new line', subscribe, describe: () => out });
      // Past a rotation too: the follow goes on in the new live file.
      for (let i = 0; i < 2; i++) await say('lab1', `rotate-${i}-${'y'.repeat(600)}`);
      await say('lab1', 'after-rotation');
      await waitUntil(() => out.includes('after-rotation'), { what: 'a line after rotation', subscribe, describe: () => out.slice(-300) });
    } finally {
      await stopProcess(proc);
    }
  });
});
