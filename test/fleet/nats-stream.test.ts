// Streamed replies end to end: `switchboard run` prints output while the command still runs, on one
// node and on several; tailFile sends lines appended to a file until its methodTimeout, to the API
// and into a reply file.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cliEnv, runCli } from '../support/cli.js';
import { api, BIN, startDaemon, tempDir, type DaemonHandle } from '../support/daemon.js';
import { fleetPrefix, natsUrl, startAgent } from '../support/nats.js';
import { exited, spawnTracked } from '../support/processes.js';
import { onEvents, waitUntil } from '../support/wait.js';

describe('fleet over NATS: streamed replies', () => {
  const prefix = fleetPrefix('stream');
  const dataDir = tempDir('fleet-stream');
  let daemon: DaemonHandle;
  const deck2Dir = tempDir('deck-2'); // an agent runs commands in its data dir

  before(async () => {
    // debug: a message's state changes are logged at debug (the audit log has them at any level).
    daemon = await startDaemon({ args: ['--log-level', 'debug'], dataDir, env: { SWITCHBOARD_NATS_URL: await natsUrl(), SWITCHBOARD_FLEET_PREFIX: prefix } });
    const signer = (await runCli(daemon, ['fleet', 'signer'])).stdout.trim();
    await writeFile(path.join(deck2Dir, 'fail'), '');
    await Promise.all([startAgent({ node: 'deck-1', prefix, allowSigner: signer }), startAgent({ node: 'deck-2', prefix, allowSigner: signer, dataDir: deck2Dir })]);
  });
  after(() => daemon?.stop());

  test('run prints the output while the command runs, then exits with its code', async () => {
    const gate = path.join(tempDir('gate'), 'gate');
    execFileSync('mkfifo', [gate]);
    const cli = spawnTracked(process.execPath, [BIN, 'run', 'deck-1', '--', 'sh', '-c', `echo first; echo warn >&2; cat ${gate} >/dev/null; echo second; exit 4`], { env: cliEnv(daemon) });
    let stdout = '';
    let stderr = '';
    cli.stdout!.on('data', (c: Buffer) => (stdout += c));
    cli.stderr!.on('data', (c: Buffer) => (stderr += c));
    const closed = once(cli, 'close');
    // The command is blocked on the fifo: what it printed so far is on the screen already.
    await waitUntil(() => stdout === 'first\n' && stderr === 'warn\n', {
      what: 'the first lines printed while the command runs', timeoutMs: 20_000, subscribe: (wake) => {
        const unsubscribe = [onEvents(cli.stdout!, 'data')(wake), onEvents(cli.stderr!, 'data')(wake)];
        return () => unsubscribe.forEach((u) => u());
      },
      describe: () => JSON.stringify({ stdout, stderr }),
    });
    await writeFile(gate, 'go\n');
    const { code } = await exited(cli);
    await closed;
    assert.equal(code, 4);
    assert.equal(stdout, 'first\nsecond\n');
    assert.equal(stderr, 'warn\n');
  });

  test('run on several nodes prefixes each line with its node and exits with the largest code', async () => {
    // deck-2's agent finds the file `fail` where it runs commands, deck-1's does not.
    const r = await runCli(daemon, ['run', 'deck-1,deck-2', '--', 'sh', '-c', 'echo one; printf two; [ -e fail ] && exit 2; exit 0']);
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines.pop(), '', 'ends with a newline, also after a last line without one');
    assert.deepEqual(lines.sort(), ['deck-1: one', 'deck-1: two', 'deck-2: one', 'deck-2: two']);
  });

  test('tailFile streams appended lines until methodTimeout, to the API and into a file reply', async () => {
    const log = path.join(tempDir('tail'), 'app.log');
    await writeFile(log, 'old line, before the tail\n');
    const { body: [{ id }] } = await api(daemon, 'POST', '/api/v1/fleet/messages', [
      { toNode: 'deck-1', method: 'REQTailFile', data: [log], methodTimeout: 4, replyMethod: 'REQToFile', directory: 'tails', fileName: 'app.log' },
    ]);
    await daemon.waitForLog((l) => l.msg === 'fleet message state' && l.id === id && l.state === 'running', 'tail running');
    await appendFile(log, 'new 1\nnew 2\n');
    const first = await api(daemon, 'GET', `/api/v1/fleet/messages/${id}/output?after=0&wait=20`);
    assert.equal(first.status, 200);
    assert.equal(first.body.parts.map((p: { text: string }) => p.text).join(''), 'new 1\nnew 2\n');
    assert.equal(first.body.message.state, 'running');
    await appendFile(log, 'new 3\n');

    const done = (await api(daemon, 'GET', `/api/v1/fleet/messages/${id}?wait=30`)).body;
    assert.equal(done.state, 'replied', JSON.stringify(done));
    assert.equal(done.reply.streamed, true);
    const all = await api(daemon, 'GET', `/api/v1/fleet/messages/${id}/output?after=0`);
    assert.equal(all.body.parts.map((p: { text: string }) => p.text).join(''), 'new 1\nnew 2\nnew 3\n');
    assert.deepEqual(all.body.parts.map((p: { part: number }) => p.part), all.body.parts.map((_: unknown, i: number) => i + 1));
    assert.equal(done.replyFile, path.join(dataDir, 'fleet', 'deck-1', 'tails', 'app.log'));
    assert.equal(await readFile(done.replyFile, 'utf8'), 'new 1\nnew 2\nnew 3\n');
  });

  test('send --follow prints the console replies as they come, not the file ones, and exits as run does', async () => {
    const file = path.join(tempDir('send-follow'), 'msgs.json');
    await writeFile(file, JSON.stringify([
      { toNode: 'deck-1', method: 'REQCliCommand', data: ['sh', '-c', 'echo one; exit 3'], replyMethod: 'REQToConsole' },
      { toNode: 'deck-2', method: 'REQCliCommand', data: ['echo', 'into the file'], replyMethod: 'REQToFile', directory: 'follow', fileName: 'out.txt' },
    ]));
    const r = await runCli(daemon, ['send', '--follow', file]);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, 'deck-1: one\n');
    assert.equal(r.stderr.match(/^switchboard: message [0-9a-f-]+ \(index \d\) for deck-\d$/gm)?.length, 2, r.stderr);
    assert.equal(await readFile(path.join(dataDir, 'fleet', 'deck-2', 'follow', 'out.txt'), 'utf8'), 'into the file\n');
  });
});
