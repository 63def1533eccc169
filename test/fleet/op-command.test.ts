// opCommand and the error reporter in-process, with real processes: what the agent's ps shows of
// a command while it runs, what it refuses to start or stop, and the error reports' rate limit.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pino from 'pino';
import { ErrorReporter, LIMIT_PER_SECOND, type AgentErrorEvent } from '../../src/fleet/error-report.js';
import { MethodPolicy } from '../../src/fleet/method-policy.js';
import { runCommand } from '../../src/fleet/methods/cli-command.js';
import { runOp } from '../../src/fleet/methods/op-command.js';
import { RunningMethods } from '../../src/fleet/running.js';
import { isAlive } from '../support/processes.js';

const log = pino({ level: 'silent' });

describe('opCommand', () => {
  test('ps shows a running command with its message id and pid, and no longer once it is done', async () => {
    const running = new RunningMethods();
    const ctx = { node: 'ship2', from: 'central', policy: MethodPolicy.fromFlags({}), running, log };
    running.add('m-sleep', 'cliCommand');
    let spawned!: () => void;
    const started = new Promise<void>((resolve) => (spawned = resolve));
    const done = runCommand(['sleep', '1'], { timeoutMs: 10_000, onSpawn: (pid) => {
      running.setPid('m-sleep', pid);
      spawned();
    } });
    await started;

    const during = JSON.parse((await runOp({ kind: 'ps' }, ctx)).stdout!);
    assert.equal(during.node, 'ship2');
    assert.equal(during.running.length, 1);
    const [sleeping] = during.running;
    assert.equal(sleeping.id, 'm-sleep');
    assert.equal(sleeping.method, 'cliCommand');
    assert.ok(isAlive(sleeping.pid), 'the pid is the running sleep');

    await done;
    running.remove('m-sleep');
    assert.deepEqual(JSON.parse((await runOp({ kind: 'ps' }, ctx)).stdout!).running, []);
  });

  test('reply methods and stopProc for another receivingNode are refused, changing nothing', async () => {
    const policy = MethodPolicy.fromFlags({});
    const ctx = { node: 'ship2', from: 'central', policy, running: new RunningMethods(), log };
    const reply = await runOp({ kind: 'stopProc', method: 'console' }, ctx);
    assert.deepEqual(reply, { state: 'failed', exitCode: 1, errorCode: 'OP_FAILED', error: 'stopProc console: reply methods are handled by the daemon, not by the agent on ship2' });
    const other = await runOp({ kind: 'stopProc', method: 'httpGet', receivingNode: 'central', procKind: 'subscriber' }, ctx);
    assert.equal(other.errorCode, 'OP_FAILED');
    const own = await runOp({ kind: 'stopProc', method: 'httpGet', receivingNode: 'ship2', procKind: 'subscriber' }, ctx);
    assert.equal(own.state, 'replied');
    assert.equal(policy.check('httpGet', 'central')?.errorCode, 'METHOD_DISABLED');
  });
});

describe('error reports', () => {
  test(`at most ${LIMIT_PER_SECOND} a second go out; the rest are dropped, and a send that throws is not fatal`, () => {
    const sent: AgentErrorEvent[] = [];
    const reporter = new ErrorReporter('ship2', (e) => sent.push(e), log);
    for (let i = 0; i < LIMIT_PER_SECOND + 5; i++) reporter.report({ code: 'SPAWN_FAILED', message: `no ${i}`, id: `m${i}` });
    assert.equal(sent.length, LIMIT_PER_SECOND);
    assert.deepEqual(sent[0], { node: 'ship2', at: sent[0].at, code: 'SPAWN_FAILED', message: 'no 0', id: 'm0' });

    const failing = new ErrorReporter('ship2', () => {
      throw new Error('connection closed');
    }, log);
    assert.doesNotThrow(() => failing.report({ code: 'HANDLING_FAILED', message: 'x'.repeat(10_000) }));
  });
});
