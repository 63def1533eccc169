// `switchboard run` end to end: daemon with --nats, a real agent process, a real nats-server.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { runCli, runSwitchboard } from '../support/cli.js';
import { api, startDaemon, tempDir, type DaemonHandle } from '../support/daemon.js';
import { fleetPrefix, natsUrl, startAgent } from '../support/nats.js';
import { freePort } from '../support/ports.js';
import { groupMembers } from '../support/processes.js';

describe('fleet over NATS: switchboard run', () => {
  const prefix = fleetPrefix('run');
  const dataDir = tempDir('fleet-run');
  let env: Record<string, string>;
  let daemon: DaemonHandle;

  before(async () => {
    env = { SWITCHBOARD_NATS_URL: await natsUrl(), SWITCHBOARD_FLEET_PREFIX: prefix };
    daemon = await startDaemon({ dataDir, env });
    const signer = await runCli(daemon, ['fleet', 'signer']);
    assert.equal(signer.code, 0, signer.stderr);
    assert.match(signer.stdout, /^sb-ed25519:[A-Za-z0-9_-]{43}\n$/);
    const { body } = await api(daemon, 'GET', '/api/v1/fleet/signer');
    assert.equal(body.publicKey, signer.stdout.trim());
    await startAgent({ node: 'web-1', prefix, allowSigner: signer.stdout.trim() });
  });

  let roundTripId = '';

  test('run prints the remote stdout and stderr and exits with the remote exit code', async () => {
    const r = await runCli(daemon, ['run', 'web-1', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    const { body: list } = await api(daemon, 'GET', '/api/v1/fleet/messages?node=web-1&state=replied');
    assert.equal(list.messages.length, 1);
    roundTripId = list.messages[0].id;
    const status = await runCli(daemon, ['-o', 'json', 'fleet', 'status', roundTripId]);
    const m = JSON.parse(status.stdout);
    assert.equal(m.state, 'replied');
    assert.equal(m.method, 'cliCommandCont', 'run streams: cliCommandCont');
    assert.equal(m.reply.exitCode, 3);
  });

  test('methodTimeout kills the whole process group and the state says failed/TIMEOUT', async () => {
    const pidFile = path.join(tempDir('timeout'), 'pid');
    const r = await runCli(daemon, ['run', '--timeout', '1', 'web-1', '--', 'sh', '-c', `echo $$ > ${pidFile}; sleep 100 & sleep 100`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /TIMEOUT: web-1: methodTimeout: killed the command's process group after 1s \(message ([0-9a-f-]+)\)/);
    const id = /\(message ([0-9a-f-]+)\)/.exec(r.stderr)![1];
    const shell = Number(readFileSync(pidFile, 'utf8'));
    assert.deepEqual(groupMembers(shell), [], 'no process of the command group is left');
    const { body } = await api(daemon, 'GET', `/api/v1/fleet/messages/${id}`);
    assert.equal(body.state, 'failed');
    assert.match(body.error, /^TIMEOUT: /);
    assert.equal(body.reply.errorCode, 'TIMEOUT');
  });

  test('send prints the ids; the states survive a daemon restart', async () => {
    const file = path.join(tempDir('send'), 'msgs.json');
    await import('node:fs/promises').then((fs) => fs.writeFile(file, JSON.stringify([
      { toNodes: ['web-1'], method: 'REQCliCommand', data: ['echo', 'steward style'], replyMethod: 'REQToConsole' },
    ])));
    const sent = await runCli(daemon, ['send', file]);
    assert.equal(sent.code, 0, sent.stderr);
    const [id] = sent.stdout.trim().split('\n');
    const { body: done } = await api(daemon, 'GET', `/api/v1/fleet/messages/${id}?wait=20`);
    assert.equal(done.state, 'replied');
    assert.equal(done.reply.stdout, 'steward style\n');

    await daemon.stop();
    daemon = await startDaemon({ dataDir, env });
    for (const [mid, state] of [[roundTripId, 'replied'], [id, 'replied']]) {
      const { body } = await api(daemon, 'GET', `/api/v1/fleet/messages/${mid}`);
      assert.equal(body.state, state);
    }
    // And the fleet still works after the restart.
    const again = await runCli(daemon, ['run', 'web-1', '--', 'true']);
    assert.equal(again.code, 0, again.stderr);
  });

  test('an unknown id is 404; a bad submission is 400 naming the field', async () => {
    const missing = await api(daemon, 'GET', '/api/v1/fleet/messages/nope');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error, 'FLEET_MESSAGE_NOT_FOUND');
    const bad = await api(daemon, 'POST', '/api/v1/fleet/messages', [{ toNode: 'web-1', method: 'cliCommand', methodArgs: ['true'], replyMethod: 'console', retries: -1 }]);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error, 'FLEET_MESSAGE');
    assert.match(bad.body.message, /retries/);
  });
});

describe('fleet without NATS', () => {
  test('the fleet routes answer 503 FLEET_DISABLED', async () => {
    const daemon = await startDaemon();
    for (const [method, route, body] of [['GET', '/api/v1/fleet/signer'], ['POST', '/api/v1/fleet/messages', []], ['GET', '/api/v1/fleet/messages/x']] as const) {
      const r = await api(daemon, method, route, body);
      assert.equal(r.status, 503, route);
      assert.equal(r.body.error, 'FLEET_DISABLED');
      assert.match(r.body.message, /--nats/);
    }
    const cli = await runCli(daemon, ['run', 'web-1', '--', 'true']);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /FLEET_DISABLED/);
    await daemon.stop();
  });

  test('a daemon told to use a NATS server it cannot reach runs its consoles without the fleet, says why, never the password', async () => {
    const port = await freePort();
    const d = await startDaemon({ args: ['--nats', `nats://user:secret@127.0.0.1:${port}`] });
    try {
      const waiting = await d.waitForLog((l) => l.msg === 'NATS not reachable; the daemon runs without the fleet and tries again', 'the daemon waiting for NATS');
      assert.match(String(waiting.err), new RegExp(`fleet messaging: cannot use NATS at nats://127\\.0\\.0\\.1:${port}: CONNECTION_REFUSED`));
      assert.equal((await api(d, 'GET', '/api/v1/nodes')).status, 200);
      // Its signing key is served already (it is the data dir's); what needs NATS says why not.
      assert.match((await runCli(d, ['fleet', 'signer'])).stdout, /^sb-ed25519:/);
      const r = await runCli(d, ['fleet', 'list']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`FLEET_UNAVAILABLE: fleet messaging: not connected to NATS yet: trying since \\S+ \\(fleet messaging: cannot use NATS at nats://127\\.0\\.0\\.1:${port}`));
      assert.doesNotMatch(r.stderr + d.rawOutput.join('\n'), /secret/);
    } finally {
      await d.stop();
    }
  });
});
