// The fleet on a nats-server in operator mode (decentralised JWT auth, as nsc sets it up): the
// daemon and the agent each log in with their own creds file (--nats-creds).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { runCli, runSwitchboard } from '../support/cli.js';
import { startDaemon, tempDir, type DaemonHandle } from '../support/daemon.js';
import { spawnNatsServer, tryStartAgent } from '../support/nats.js';
import { makeOperator } from '../support/nats-jwt.js';
import { freePort } from '../support/ports.js';

describe('fleet over NATS with JWT creds files (operator mode)', () => {
  const dir = tempDir('nats-creds');
  const prefix = 'tcreds';
  const seeds: string[] = [];
  const outputs: string[] = [];
  let url: string;
  let daemon: DaemonHandle;
  let signer: string;

  /** A creds file of a user of `operator`; its seed is remembered, to check it is never printed. */
  function credsFile(operator: ReturnType<typeof makeOperator>, name: string, edit: (creds: string) => string = (c) => c, permissions?: { publish: string[]; subscribe: string[] }): string {
    const { creds, seed } = operator.user(name, permissions);
    seeds.push(seed);
    const file = path.join(dir, `${name}.creds`);
    writeFileSync(file, edit(creds), { mode: 0o600 });
    return file;
  }

  async function agent(node: string, creds: string) {
    const started = await tryStartAgent({ node, nats: url, prefix, allowSigner: signer, args: ['--nats-creds', creds] });
    outputs.push(...started.agent.rawOutput);
    return started;
  }

  /** The subject lists `fleet nats-permissions ... --nsc` prints for its nsc command line. */
  async function nscPermissions(who: string[]): Promise<{ publish: string[]; subscribe: string[] }> {
    const printed = await runSwitchboard(['fleet', 'nats-permissions', ...who, '--prefix', prefix, '--nsc', 'fleet']);
    assert.equal(printed.code, 0, printed.stderr);
    assert.match(printed.stdout, /^nsc add user --account 'fleet' --name '[^']+' --allow-pub '[^']+' --allow-sub '[^']+'\n$/);
    const list = (flag: string) => new RegExp(`--${flag} '([^']+)'`).exec(printed.stdout)![1].split(',');
    return { publish: list('allow-pub'), subscribe: list('allow-sub') };
  }

  let operator: ReturnType<typeof makeOperator>;
  before(async () => {
    operator = makeOperator();
    const port = await freePort();
    const conf = path.join(dir, 'nats-server.conf');
    writeFileSync(conf, [
      `listen: "127.0.0.1:${port}"`,
      `jetstream { store_dir: ${JSON.stringify(path.join(dir, 'js'))} }`,
      operator.serverConfig(),
    ].join('\n'));
    await spawnNatsServer(['-c', conf]);
    url = `nats://127.0.0.1:${port}`;
    // The daemon's user holds in its JWT exactly what `fleet nats-permissions --controller --nsc` gives it.
    const controller = await nscPermissions(['--controller']);
    daemon = await startDaemon({ args: ['--nats', url, '--fleet-prefix', prefix, '--nats-creds', credsFile(operator, 'controller', undefined, controller)] });
    signer = (await runCli(daemon, ['fleet', 'signer'])).stdout.trim();
  });

  /** An agent of `node` with `creds` runs `echo TEXT; exit CODE` for the daemon, then stops. */
  async function runsCommand(node: string, creds: string, text: string, code: number): Promise<void> {
    const { agent: a, ready } = await agent(node, creds);
    assert.ok(ready, a.rawOutput.join('\n'));
    const r = await runCli(daemon, ['run', node, '--', 'sh', '-c', `echo ${text}; exit ${code}`]);
    assert.equal(r.code, code, r.stderr);
    assert.equal(r.stdout, `${text}\n`);
    await a.stop();
    outputs.push(...a.rawOutput);
  }

  test('the daemon and an agent, each with its own creds file, run a command', async () => {
    await runsCommand('node-a', credsFile(operator, 'node-a'), 'by creds', 3);
  });

  test("per-node permissions in the user's JWT, as `fleet nats-permissions --nsc` prints them (the daemon's too): the agent runs; as another node it is refused", async () => {
    const permissions = await nscPermissions(['node-j']);
    // -o json gives the same lists, for other tools than nsc.
    const json = await runSwitchboard(['-o', 'json', 'fleet', 'nats-permissions', 'node-j', '--prefix', prefix]);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), permissions);
    // nsc makes the user's key: an nkey given with --nsc is a mistake, said so.
    const both = await runSwitchboard(['fleet', 'nats-permissions', 'node-j', '--nsc', 'fleet', '--nkey', 'UABC']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--nsc prints no user entry: leave out --nkey, --user and --password-file/);
    const creds = credsFile(operator, 'node-j', undefined, permissions);

    await runsCommand('node-j', creds, 'within its permissions', 5);

    const { agent: imposter, ready: imposterReady } = await agent('node-k', creds);
    assert.equal(imposterReady, false);
    assert.equal((await imposter.exited()).code, 1);
    assert.match(imposter.rawOutput.join('\n'), /node node-k: the NATS user may not use this node's subjects \(.*Permissions Violation.*\)/);
  });

  test('a garbage, mismatched or foreign creds file stops agent and serve with an error naming the file', async () => {
    const garbage = path.join(dir, 'garbage.creds');
    writeFileSync(garbage, 'this is not a creds file\n');
    const other = operator.user('other');
    seeds.push(other.seed);
    const cases: [string, RegExp][] = [
      [garbage, /--nats-creds \(natsCreds\): .*garbage\.creds is not a NATS creds file/],
      [credsFile(operator, 'bad-seed', (c) => c.replace(/^SU\S+$/m, 'SUNOTAVALIDSEED')), /--nats-creds \(natsCreds\): .*bad-seed\.creds holds no valid nkey user seed/],
      // The JWT of one user with the seed of another.
      [credsFile(operator, 'swapped', (c) => c.replace(/^SU\S+$/m, other.seed)), /--nats-creds \(natsCreds\): in .*swapped\.creds the seed is not the key the user JWT was issued to/],
      // Well formed, but from an operator this server does not trust.
      [credsFile(makeOperator(), 'foreign'), /the server refused these credentials \(.*\); check --nats-creds \(natsCreds\) .*foreign\.creds/],
    ];
    for (const [file, expected] of cases) {
      const { agent: a, ready } = await agent('node-a', file);
      assert.equal(ready, false, file);
      assert.equal((await a.exited()).code, 1);
      assert.match(a.rawOutput.join('\n'), expected);
    }
    const serve = await runSwitchboard(['serve', '--listen', '127.0.0.1:0', '--console-port', '0', '--data-dir', tempDir('serve-creds'), '--nats', url, '--fleet-prefix', prefix,
      '--nats-creds', path.join(dir, 'foreign.creds')]);
    outputs.push(serve.stdout, serve.stderr);
    assert.equal(serve.code, 1);
    assert.match(serve.stderr, /the server refused these credentials .*--nats-creds \(natsCreds\) .*foreign\.creds/);
  });

  test('no seed appears in any output of the daemon, the agents or the CLI', () => {
    outputs.push(...daemon.rawOutput);
    assert.ok(outputs.length > 10);
    for (const seed of seeds) assert.equal(outputs.some((l) => l.includes(seed)), false, `a seed (${seed.slice(0, 2)}...) was printed`);
  });
});
