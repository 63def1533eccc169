// Order per node and method, and the n-methods beside it: a slow ordered message holds up the next
// ordered one of its method, never an n-method message, and n-method messages run side by side.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../support/cli.js';
import { startDaemon, tempDir, type DaemonHandle } from '../support/daemon.js';
import { fleetCalls, fleetPrefix, natsUrl, startAgent } from '../support/nats.js';

describe('fleet over NATS: ordered and unordered messages', () => {
  const prefix = fleetPrefix('order');
  let daemon: DaemonHandle;
  let signer: string;

  before(async () => {
    daemon = await startDaemon({ dataDir: tempDir('fleet-order'), env: { SWITCHBOARD_NATS_URL: await natsUrl(), SWITCHBOARD_FLEET_PREFIX: prefix } });
    signer = (await runCli(daemon, ['fleet', 'signer'])).stdout.trim();
    await startAgent({ node: 'ship-1', prefix, allowSigner: signer });
  });
  after(() => daemon?.stop());

  const { submit, final, view } = fleetCalls(() => daemon);
  const state = async (id: string) => (await view(id)).state as string;

  test('a slow cliCommand holds the next cliCommand back, not an nCliCommand', async () => {
    const dir = tempDir('gate');
    const gate = path.join(dir, 'gate');
    execFileSync('mkfifo', [gate]);
    const [slow, next, unordered] = await submit([
      // Blocks until the test opens the fifo for writing.
      { toNode: 'ship-1', method: 'cliCommand', methodArgs: ['sh', '-c', `cat ${gate} > /dev/null; echo slow`], replyMethod: 'console', methodTimeout: 60 },
      { toNode: 'ship-1', method: 'cliCommand', methodArgs: ['echo', 'next'], replyMethod: 'console' },
      { toNode: 'ship-1', method: 'REQnCliCommand', data: ['echo', 'unordered'], replyMethod: 'console' },
    ]);
    const n = await final(unordered);
    assert.equal(n.state, 'replied');
    assert.equal(n.reply.stdout, 'unordered\n');
    assert.equal(await state(slow), 'running', 'the slow one is still running');
    // Sent with it, it came in the same envelope: with the agent, waiting for it, not run.
    assert.equal(await state(next), 'delivered', 'the next ordered one waits for it');

    await writeFile(gate, 'go\n'); // opens the fifo for writing: the slow command ends
    const [s, x] = [await final(slow), await final(next)];
    assert.deepEqual([s.state, s.reply.stdout, x.state, x.reply.stdout], ['replied', 'slow\n', 'replied', 'next\n']);
    assert.ok(x.reply.at >= s.reply.at, 'next ran after slow');
  });

  /**
   * Two nCliCommands that each open a fifo the other must open from the other end: only run side
   * by side do they finish; one after the other, the first blocks until its methodTimeout, then so
   * does the second. Their final records.
   */
  async function rendezvous(node: string, methodTimeout: number) {
    const dir = tempDir(`rendezvous-${node}`);
    const [ab, ba] = [path.join(dir, 'ab'), path.join(dir, 'ba')];
    execFileSync('mkfifo', [ab, ba]);
    const ids = await submit([
      { toNode: node, method: 'REQnCliCommand', data: ['sh', '-c', `echo 1 > ${ab}; cat ${ba}`], replyMethod: 'console', methodTimeout },
      { toNode: node, method: 'REQnCliCommand', data: ['sh', '-c', `cat ${ab}; echo 2 > ${ba}`], replyMethod: 'console', methodTimeout },
    ]);
    return [await final(ids[0]), await final(ids[1])];
  }

  test('n-method messages run at the same time (a rendezvous that only concurrency can finish)', async () => {
    const [first, second] = await rendezvous('ship-1', 20);
    assert.deepEqual([first.state, first.reply.stdout, second.state, second.reply.stdout], ['replied', '2\n', 'replied', '1\n']);
  });

  test('--concurrency bounds how many run at once, also of messages that came in one envelope', async () => {
    await startAgent({ node: 'ship-2', prefix, allowSigner: signer, args: ['--concurrency', '1'] });
    const [first, second] = await rendezvous('ship-2', 1);
    assert.deepEqual([first.state, first.reply.errorCode, second.state, second.reply.errorCode], ['failed', 'TIMEOUT', 'failed', 'TIMEOUT']);
  });
});
