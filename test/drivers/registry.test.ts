import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Type } from '@sinclair/typebox';
import { cmdDriver } from '../../src/drivers/cmd.js';
import { DriverRegistry } from '../../src/drivers/registry.js';
import type { ConsoleDriverDefinition } from '../../src/drivers/types.js';

// A definition with secrets, as the ssh and ipmi drivers will have; it is never opened here.
const withSecrets: ConsoleDriverDefinition = {
  name: 'vault',
  description: 'test definition with secret params',
  paramsSchema: Type.Object({ host: Type.String(), port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })), password: Type.String() }, { additionalProperties: false }),
  secretParams: ['password'],
  create: () => {
    throw new Error('not opened in this test');
  },
};
const registry = new DriverRegistry([cmdDriver, withSecrets]);

test('params are validated per driver, naming the node, the driver and the field', () => {
  assert.throws(() => registry.validate('n1', 'vault', { host: 'h', port: 70000, password: 'p' }), (err: Error & { code: string }) => {
    assert.equal(err.code, 'BAD_PARAMS');
    assert.match(err.message, /node 'n1': driver 'vault' params: params\.port: /);
    return true;
  });
  assert.throws(() => registry.validate('n1', 'vault', { host: 'h', password: 'p', colour: 'x' }), /params/);
  assert.throws(() => registry.validate('n1', 'nope', {}), { code: 'UNKNOWN_DRIVER' });
  assert.equal(registry.validate('n1', 'vault', { host: 'h', password: 'p' }).def.name, 'vault');
});

test('numbers given as strings (as the CLI sends them) become numbers; near misses are refused', () => {
  const input = { host: 'h', port: '2323', password: 'p' };
  assert.deepEqual(registry.validate('n1', 'vault', input).params, { host: 'h', port: 2323, password: 'p' });
  assert.equal(input.port, '2323', 'the caller\'s object is not changed');
  for (const port of ['2.5', '23x', '1e3', '0x10', '', ' 23']) {
    assert.throws(() => registry.validate('n1', 'vault', { host: 'h', port, password: 'p' }), { code: 'BAD_PARAMS' }, `port ${JSON.stringify(port)}`);
  }
  // A string param stays a string even when it looks like a number.
  assert.deepEqual(registry.validate('n1', 'vault', { host: '1234', password: '5678' }).params, { host: '1234', password: '5678' });
});

test('secrets are masked in views, and a masked value sent back keeps the stored secret', () => {
  const stored = { host: 'bmc1', password: 'hunter2' };
  const view = registry.mask('vault', stored);
  assert.deepEqual(view, { host: 'bmc1', password: '***' });
  assert.equal(stored.password, 'hunter2', 'masking must not change the stored params');
  assert.deepEqual(registry.keepMaskedSecrets('vault', { host: 'bmc2', password: '***' }, stored), { host: 'bmc2', password: 'hunter2' });
  assert.deepEqual(registry.keepMaskedSecrets('vault', { host: 'bmc2', password: 'new' }, stored), { host: 'bmc2', password: 'new' });
});
