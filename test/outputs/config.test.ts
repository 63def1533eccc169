// The `outputs` setting: refused with the output's name when it cannot work.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromEnv, resolveConfig } from '../../src/daemon/config.js';

test('outputs: each type needs its address, names are unique, udp has no TLS', () => {
  const ok = resolveConfig({ outputs: [
    { name: 'ls', type: 'tcp', address: 'logs.example:5000', tls: { ca: '/etc/ca.pem' }, labels: { rack: '2' } },
    { name: 'sys', type: 'udp', address: '[::1]:514' },
    { name: 'bus', type: 'nats', url: 'nats://127.0.0.1:4222', maxQueued: 50 },
  ] });
  assert.equal(ok.outputs.length, 3);
  assert.equal(ok.outputMaxLineBytes, 4096);
  assert.deepEqual(resolveConfig({}).outputs, []);
  const refused: [unknown[], RegExp][] = [
    [[{ name: 'a', type: 'tcp' }], /outputs\.a\.address: '' is not host:port/],
    [[{ name: 'a', type: 'tcp', address: 'host-only' }], /outputs\.a\.address/],
    [[{ name: 'a', type: 'nats', address: 'h:1' }], /outputs\.a: a nats output needs url/],
    [[{ name: 'a', type: 'nats', url: 'nats://[' }], /outputs\.a\.url: not a URL with a host/],
    [[{ name: 'a', type: 'nats', url: 'nats://' }], /outputs\.a\.url: not a URL with a host/],
    [[{ name: 'a', type: 'udp', address: 'h:1', tls: true }], /udp cannot speak TLS/],
    [[{ name: 'a', type: 'udp', address: 'h:1' }, { name: 'a', type: 'tcp', address: 'h:2' }], /the name 'a' is used twice/],
    [[{ name: 'a', type: 'kafka', address: 'h:1' }], /outputs/],
    [[{ name: 'a', type: 'tcp', address: 'h:1', colour: 'red' }], /outputs/],
  ];
  for (const [outputs, message] of refused) assert.throws(() => resolveConfig({ outputs }), message, JSON.stringify(outputs));
});

test('outputs from the environment are JSON', () => {
  const env = fromEnv({ SWITCHBOARD_OUTPUTS: '[{"name":"x","type":"udp","address":"127.0.0.1:514"}]' });
  assert.equal(resolveConfig(env).outputs[0].name, 'x');
  assert.throws(() => fromEnv({ SWITCHBOARD_OUTPUTS: '[{' }), /SWITCHBOARD_OUTPUTS: not valid JSON/);
});
