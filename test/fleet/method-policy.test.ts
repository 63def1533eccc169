// The agent's method policy on its own: flags, run-time changes, what survives a restart.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { MethodPolicy, parseMethodList, parseNodeList, POLICY_FILE_NAME } from '../../src/fleet/method-policy.js';
import { tempDir } from '../support/daemon.js';

describe('method policy', () => {
  test('without flags every method runs for any sender', () => {
    const policy = MethodPolicy.fromFlags({});
    for (const { method, enabled, allowedNodes } of policy.list()) {
      assert.equal(enabled, true, method);
      assert.deepEqual(allowedNodes, ['*']);
      assert.equal(policy.check(method, 'central'), undefined);
      assert.equal(policy.check(method, undefined), undefined, 'a sender without a name, from an older daemon');
    }
  });

  test('--methods takes steward and ctrl names; what it leaves out is refused METHOD_DISABLED, op always runs', () => {
    const methods = parseMethodList('REQCliCommand, httpGet,REQHttpGet');
    assert.deepEqual(methods, ['cliCommand', 'httpGet']);
    const policy = MethodPolicy.fromFlags({ methods });
    assert.equal(policy.check('cliCommand', 'central'), undefined);
    assert.equal(policy.check('op', 'central'), undefined);
    assert.deepEqual(policy.check('nCliCommand', 'central'), {
      errorCode: 'METHOD_DISABLED', error: 'method nCliCommand is disabled on this agent (message from central)',
    });
    assert.deepEqual(policy.list().filter((m) => m.enabled).map((m) => m.method), ['cliCommand', 'httpGet', 'op']);
  });

  test('bad flags are refused naming the flag and the value', () => {
    assert.throws(() => parseMethodList('cliCommand,REQNoSuch'), { code: 'FLEET_METHOD_POLICY', message: /--methods: unknown method 'REQNoSuch'/ });
    assert.throws(() => parseMethodList(' , '), { code: 'FLEET_METHOD_POLICY', message: /--methods: give a comma-separated list/ });
    assert.throws(() => parseNodeList('central,bad name'), { code: 'FLEET_METHOD_POLICY', message: /--allowed-nodes: 'bad name' is not a node name/ });
    assert.deepEqual(parseNodeList('central,*'), ['central', '*']);
  });

  test('--allowed-nodes: other senders, and unnamed ones, are refused SENDER_NOT_ALLOWED, op included', () => {
    const policy = MethodPolicy.fromFlags({ allowedNodes: ['ops-1'] });
    assert.equal(policy.check('httpGet', 'ops-1'), undefined);
    assert.deepEqual(policy.check('httpGet', 'central'), {
      errorCode: 'SENDER_NOT_ALLOWED', error: 'sender central may not use method httpGet on this agent (allowedNodes: ops-1)',
    });
    assert.equal(policy.check('op', 'central')?.errorCode, 'SENDER_NOT_ALLOWED');
    assert.equal(policy.check('cliCommand', undefined)?.errorCode, 'SENDER_NOT_ALLOWED');
  });

  test('stop and start change one method; start with allowedNodes sets them, without keeps them', async () => {
    const policy = MethodPolicy.fromFlags({ allowedNodes: ['central'] });
    assert.deepEqual(await policy.stop('httpGet'), { method: 'httpGet', enabled: false, allowedNodes: ['central'] });
    assert.equal(policy.check('httpGet', 'central')?.errorCode, 'METHOD_DISABLED');
    assert.equal(policy.check('cliCommand', 'central'), undefined);
    assert.deepEqual(await policy.start('httpGet'), { method: 'httpGet', enabled: true, allowedNodes: ['central'] });
    assert.deepEqual(await policy.start('httpGet', ['ops-1', 'ops-2']), { method: 'httpGet', enabled: true, allowedNodes: ['ops-1', 'ops-2'] });
    assert.equal(policy.check('httpGet', 'central')?.errorCode, 'SENDER_NOT_ALLOWED');
    assert.equal(policy.check('httpGet', 'ops-2'), undefined);
    await policy.start('httpGet', ['*']);
    assert.equal(policy.check('httpGet', 'anyone'), undefined);
    assert.throws(() => policy.stop('op'), { code: 'FLEET_METHOD_POLICY', message: /op cannot be stopped/ });
  });

  test('changes are saved in the data dir and win over the flags at the next start', async () => {
    const dir = tempDir('policy');
    const first = await MethodPolicy.open(dir, { methods: ['cliCommand'] });
    await first.stop('cliCommand');
    await first.start('httpGet', ['central']);
    const saved = JSON.parse(await readFile(path.join(dir, POLICY_FILE_NAME), 'utf8'));
    assert.deepEqual(saved, { changes: { cliCommand: { enabled: false }, httpGet: { enabled: true, allowedNodes: ['central'] } } });

    const again = await MethodPolicy.open(dir, { methods: ['cliCommand'] });
    assert.equal(again.check('cliCommand', 'central')?.errorCode, 'METHOD_DISABLED');
    assert.equal(again.check('httpGet', 'central'), undefined);
    assert.equal(again.check('httpGet', 'ops-1')?.errorCode, 'SENDER_NOT_ALLOWED');
    assert.equal(again.check('tailFile', 'central')?.errorCode, 'METHOD_DISABLED', 'the flags still hold for what was not changed');
  });

  test('a broken saved file stops the start instead of being skipped', async () => {
    const dir = tempDir('policy');
    await writeFile(path.join(dir, POLICY_FILE_NAME), '{"changes": {"httpGet": {"enabled": "no"}}}');
    await assert.rejects(MethodPolicy.open(dir, {}), { code: 'FLEET_METHOD_POLICY', message: /method-policy\.json: httpGet: "enabled" must be true or false \(delete the file/ });
    await writeFile(path.join(dir, POLICY_FILE_NAME), 'not json');
    await assert.rejects(MethodPolicy.open(dir, {}), { code: 'FLEET_METHOD_POLICY', message: /not valid JSON/ });
  });
});
