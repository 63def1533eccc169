import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { envName, loadConfig } from '../../src/daemon/config.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'sb-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = path.join(dir, 'switchboard.yaml');
writeFileSync(file, 'listen: 127.0.0.1:1001\nconsolePort: 1002\ndataDir: ./from-yaml\nreplayBytes: 100\nlogKeep: 9\n');

test('defaults apply when nothing is set', async () => {
  const cfg = await loadConfig({}, {});
  assert.equal(cfg.listen, '127.0.0.1:7860');
  assert.equal(cfg.consolePort, 7861);
  assert.equal(cfg.replayBytes, 64 * 1024);
  assert.equal(cfg.adminToken, undefined);
});

test('flags beat env, env beats the YAML file, the file beats defaults', async () => {
  const env = { SWITCHBOARD_CONFIG: file, SWITCHBOARD_CONSOLE_PORT: '2002', SWITCHBOARD_REPLAY_BYTES: '200', SWITCHBOARD_LISTEN: '127.0.0.1:2001' };
  const cfg = await loadConfig({ listen: '127.0.0.1:3001' }, env);
  assert.equal(cfg.listen, '127.0.0.1:3001'); // flag
  assert.equal(cfg.consolePort, 2002); // env over file
  assert.equal(cfg.replayBytes, 200); // env over file
  assert.equal(cfg.logKeep, 9); // file over default
  assert.equal(cfg.dataDir, path.join(dir, 'from-yaml')); // relative to the file
});

test('tlsCert and tlsKey in the YAML file are relative to it; from flags they stay as given', async () => {
  const tlsFile = path.join(dir, 'tls.yaml');
  writeFileSync(tlsFile, 'tlsCert: certs/cert.pem\ntlsKey: /etc/sb/key.pem\ninsecure: true\n');
  const cfg = await loadConfig({ config: tlsFile }, {});
  assert.equal(cfg.tlsCert, path.join(dir, 'certs', 'cert.pem'));
  assert.equal(cfg.tlsKey, '/etc/sb/key.pem');
  assert.equal(cfg.insecure, true);
  assert.equal((await loadConfig({ config: tlsFile, tlsCert: 'here.pem' }, {})).tlsCert, 'here.pem');
  assert.equal((await loadConfig({}, {})).insecure, false);
});

test('env names follow the setting names', () => {
  assert.equal(envName('dataDir'), 'SWITCHBOARD_DATA_DIR');
  assert.equal(envName('ondemandGraceMs'), 'SWITCHBOARD_ONDEMAND_GRACE_MS');
});

test('unknown keys and bad values are refused naming the setting', async () => {
  const bad = path.join(dir, 'bad.yaml');
  writeFileSync(bad, 'lisen: 1.2.3.4:5\n');
  await assert.rejects(loadConfig({ config: bad }, {}), /lisen/);
  await assert.rejects(loadConfig({ consolePort: 'many' }, {}), /consolePort/);
  await assert.rejects(loadConfig({ listen: 'nowhere' }, {}), /listen: 'nowhere' is not host:port/);
  await assert.rejects(loadConfig({ config: path.join(dir, 'missing.yaml') }, {}), /cannot read/);
});
