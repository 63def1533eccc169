import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { envName, fromGoListenAddr, fromObmdEnv, loadConfig } from '../../src/daemon/config.js';

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

describe('OBMd environment (obmdCompat)', () => {
  const obmdEnv = { LISTEN_ADDR: ':8080', ADMIN_TOKEN: '44d5ebcb1aae23bfefc8dca8314797eb', DB_TYPE: 'sqlite3', DB_PATH: '/var/lib/obmd/obmd.db' };

  test("OBMd's variables map to settings; Go's ':port' means every interface", () => {
    assert.deepEqual(fromObmdEnv(obmdEnv), { listen: '0.0.0.0:8080', adminToken: obmdEnv.ADMIN_TOKEN, dbPath: '/var/lib/obmd/obmd.db' });
    assert.deepEqual(fromObmdEnv({ LISTEN_ADDR: '127.0.0.1:8080', TLS_CERT: 'server.crt', TLS_KEY: 'server.key', INSECURE: 'false' }),
      { listen: '127.0.0.1:8080', tlsCert: 'server.crt', tlsKey: 'server.key', insecure: false });
    for (const v of ['true', '1', 'TRUE', 't']) assert.equal(fromObmdEnv({ INSECURE: v }).insecure, true);
    assert.equal(fromGoListenAddr('[::1]:8080'), '[::1]:8080');
    assert.deepEqual(fromObmdEnv({ DB_TYPE: 'sqlite3' }), {}, 'no DB_PATH: the default file in the data dir');
    assert.deepEqual(fromObmdEnv({}), {});
  });

  test('bad values are refused naming the variable; a postgres DB_PATH (with its password) is never echoed', () => {
    assert.throws(() => fromObmdEnv({ LISTEN_ADDR: '8080' }), /LISTEN_ADDR: '8080' is not host:port or :port/);
    assert.throws(() => fromObmdEnv({ INSECURE: 'maybe' }), /INSECURE: 'maybe' is not true or false/);
    assert.throws(() => fromObmdEnv({ DB_TYPE: 'mysql' }), /DB_TYPE: 'mysql' is not sqlite3 or postgres/);
    assert.throws(() => fromObmdEnv({ DB_PATH: './obmd.db' }), /DB_PATH is set but DB_TYPE is not: set DB_TYPE=sqlite3/);
    assert.throws(() => fromObmdEnv({ DB_TYPE: 'postgres', DB_PATH: 'host=db user=obmd password=s3cret dbname=obmd' }), (err: Error) => {
      assert.equal((err as { code?: string }).code, 'CONFIG');
      assert.match(err.message, /DB_TYPE=postgres: PostgreSQL support arrives with the cluster work; use DB_TYPE=sqlite3/);
      assert.doesNotMatch(err.message, /s3cret/);
      return true;
    });
  });

  test('read only with obmdCompat on, below SWITCHBOARD_* env and flags, above the YAML file', async () => {
    const off = await loadConfig({}, { ...obmdEnv, DB_TYPE: 'postgres' });
    assert.equal(off.obmdCompat, false);
    assert.equal(off.listen, '127.0.0.1:7860');
    assert.equal(off.adminToken, undefined);

    const on = await loadConfig({ obmdCompat: true, config: file }, obmdEnv);
    assert.equal(on.listen, '0.0.0.0:8080'); // OBMd env over the file
    assert.equal(on.adminToken, obmdEnv.ADMIN_TOKEN);
    assert.equal(on.dbPath, '/var/lib/obmd/obmd.db');
    assert.equal(on.consolePort, 1002); // the file still counts

    const byEnv = await loadConfig({}, { ...obmdEnv, SWITCHBOARD_OBMD_COMPAT: '1', SWITCHBOARD_LISTEN: '127.0.0.1:9000' });
    assert.equal(byEnv.obmdCompat, true);
    assert.equal(byEnv.listen, '127.0.0.1:9000'); // SWITCHBOARD_* over OBMd's
    assert.equal(byEnv.adminToken, obmdEnv.ADMIN_TOKEN);
    const byFlag = await loadConfig({ obmdCompat: true, adminToken: 'from-the-flag-0123456789' }, obmdEnv);
    assert.equal(byFlag.adminToken, 'from-the-flag-0123456789');

    const onInFile = path.join(dir, 'obmd.yaml');
    writeFileSync(onInFile, 'obmdCompat: true\ndbPath: ./db/sb.db\n');
    const fromYaml = await loadConfig({ config: onInFile }, { LISTEN_ADDR: '127.0.0.1:8081' });
    assert.equal(fromYaml.listen, '127.0.0.1:8081');
    assert.equal(fromYaml.dbPath, path.join(dir, 'db', 'sb.db')); // relative to the file
    await assert.rejects(loadConfig({ obmdCompat: true }, { DB_TYPE: 'postgres' }), /PostgreSQL support arrives/);
  });
});
