// A link that is down (a ship at sea): the agent starts while NATS cannot be reached, waits for it
// instead of giving up, and runs what was queued once the link is back. Its own nats-server, so
// the test can take it away and bring it back (same port, same JetStream store).
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../support/cli.js';
import { api, startDaemon, tempDir, type DaemonHandle } from '../support/daemon.js';
import { spawnAgent, spawnNatsServer } from '../support/nats.js';
import { freePort } from '../support/ports.js';
import { stopProcess } from '../support/processes.js';

/** /healthz, which needs no token: `fleet` says how the fleet side's link to NATS is. */
async function health(d: DaemonHandle): Promise<{ status: string; fleet: string }> {
  return (await fetch(`${d.url}/healthz`)).json() as Promise<{ status: string; fleet: string }>;
}

describe('fleet: an agent whose link to NATS is down at start', () => {
  const prefix = 'tlink';
  const store = tempDir('nats-link');
  let port: number;
  let url: string;
  let server: ChildProcess | undefined;
  let daemon: DaemonHandle;
  let signer: string;

  const startServer = async () => {
    server = await spawnNatsServer(['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', store]);
  };

  before(async () => {
    port = await freePort();
    url = `nats://127.0.0.1:${port}`;
    await startServer();
    daemon = await startDaemon({ env: { SWITCHBOARD_NATS_URL: url, SWITCHBOARD_FLEET_PREFIX: prefix } });
    signer = (await runCli(daemon, ['fleet', 'signer'])).stdout.trim();
  });
  after(async () => {
    await daemon?.stop();
    if (server) await stopProcess(server);
  });

  test('waits for NATS, says so once, and runs the queued message when the link is back', async () => {
    const { body: [{ id }] } = await api(daemon, 'POST', '/api/v1/fleet/messages', [{ toNode: 'ship-a', method: 'cliCommand', methodArgs: ['echo', 'ashore at last'], replyMethod: 'console' }]);
    await stopProcess(server!);
    server = undefined;

    const agent = await spawnAgent({ node: 'ship-a', prefix, allowSigner: signer, nats: url });
    await agent.waitForLog((l) => l.msg === 'NATS not reachable; trying again' && /CONNECTION_REFUSED/.test(String(l.err)), 'the agent waiting for NATS');
    // It waits rather than stopping.
    assert.equal(agent.proc.exitCode, null);

    await startServer();
    await agent.waitForLog((l) => l.msg === 'NATS reachable', 'the agent reaching NATS', 60_000);
    await agent.waitForLog((l) => l.msg === 'fleet agent ready', 'the agent ready');
    const { body } = await api(daemon, 'GET', `/api/v1/fleet/messages/${id}?wait=30`);
    assert.equal(body.state, 'replied', JSON.stringify(body));
    assert.equal(body.reply.stdout, 'ashore at last\n');
    // Said once, however many tries it took: the repeats are debug lines.
    assert.equal(agent.logs.filter((l) => l.msg === 'NATS not reachable; trying again').length, 1);

    // Running, it rides out the link going down and up again; both sides say so (the daemon said so
    // for the first outage too: only lines from now on count).
    const earlier = new Set(daemon.logs);
    const fromNow = (msg: string) => (l: { msg?: unknown }) => l.msg === msg && !earlier.has(l as (typeof daemon.logs)[number]);
    await stopProcess(server!);
    await agent.waitForLog((l) => l.msg === 'NATS connection lost; reconnecting', 'the agent losing NATS');
    await daemon.waitForLog(fromNow('NATS connection lost; reconnecting'), 'the daemon losing NATS');
    assert.equal((await health(daemon)).fleet, 'reconnecting');
    // Refused at once, and nothing is recorded.
    const before = (await api(daemon, 'GET', '/api/v1/fleet/messages?node=ship-a')).body.messages.length;
    const down = await runCli(daemon, ['run', 'ship-a', '--', 'true']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /FLEET_UNAVAILABLE: fleet messaging: the connection to NATS is lost since \d{4}-\d\d-\d\dT[\d:.]+Z and being retried; nothing was submitted/);
    assert.equal((await api(daemon, 'GET', '/api/v1/fleet/messages?node=ship-a')).body.messages.length, before);
    await startServer();
    await agent.waitForLog((l) => l.msg === 'NATS connection back', 'the agent back on NATS', 30_000);
    await daemon.waitForLog(fromNow('NATS connection back'), 'the daemon back on NATS', 30_000);
    assert.equal((await health(daemon)).fleet, 'connected');
    const r = await runCli(daemon, ['run', 'ship-a', '--', 'echo', 'after the second outage']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'after the second outage\n');
    await agent.stop();
  });
});

describe('fleet: serve --nats whose NATS is down at start', () => {
  const prefix = 'tlinkd';
  let port: number;
  let server: ChildProcess | undefined;
  after(async () => {
    if (server) await stopProcess(server);
  });

  test('the consoles run, the fleet answers 503 saying since when NATS is tried (its signing key already), and starts once NATS answers', async () => {
    port = await freePort();
    const url = `nats://127.0.0.1:${port}`;
    const daemon = await startDaemon({ env: { SWITCHBOARD_NATS_URL: url, SWITCHBOARD_FLEET_PREFIX: prefix } });
    try {
      const ready = await daemon.waitForLog((l) => l.msg === 'switchboard ready', 'ready');
      assert.equal(ready.fleet, 'waiting for NATS');
      assert.equal((await health(daemon)).fleet, 'waiting for NATS');
      await daemon.waitForLog((l) => l.msg === 'NATS not reachable; the daemon runs without the fleet and tries again', 'the daemon waiting for NATS');
      // The console server itself is up.
      assert.equal((await api(daemon, 'GET', '/api/v1/nodes')).status, 200);
      const early = await api(daemon, 'GET', '/api/v1/fleet/messages');
      assert.equal(early.status, 503);
      assert.equal(early.body.error, 'FLEET_UNAVAILABLE');
      assert.match(early.body.message, /not connected to NATS yet: trying since \d{4}-\d\d-\d\dT[\d:.]+Z \(.*CONNECTION_REFUSED.*\)/);

      // The signing key is the data dir's: agents can be set up before NATS is there.
      const signerEarly = await api(daemon, 'GET', '/api/v1/fleet/signer');
      assert.equal(signerEarly.status, 200, signerEarly.text);

      server = await spawnNatsServer(['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', tempDir('nats-linkd')]);
      await daemon.waitForLog((l) => l.msg === 'NATS reachable: the fleet side runs', 'the fleet side running', 45_000);
      const signer = (await runCli(daemon, ['fleet', 'signer'])).stdout.trim();
      assert.equal(signer, signerEarly.body.publicKey);
      assert.equal((await health(daemon)).fleet, 'connected');
      const agent = await spawnAgent({ node: 'late-1', prefix, allowSigner: signer, nats: url });
      await agent.waitForLog((l) => l.msg === 'fleet agent ready', 'the agent ready');
      const r = await runCli(daemon, ['run', 'late-1', '--', 'echo', 'fleet after all']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'fleet after all\n');
      await agent.stop();
    } finally {
      await daemon.stop();
    }
  });

  test('stopped while it waits for NATS, the daemon stops at once and cleanly', async () => {
    const daemon = await startDaemon({ env: { SWITCHBOARD_NATS_URL: `nats://127.0.0.1:${await freePort()}`, SWITCHBOARD_FLEET_PREFIX: prefix } });
    await daemon.waitForLog((l) => l.msg === 'NATS not reachable; the daemon runs without the fleet and tries again', 'the daemon waiting for NATS');
    const status = await daemon.stop();
    assert.equal(status.code, 0);
    assert.ok(daemon.logs.some((l) => l.msg === 'switchboard stopped'));
  });
});
